"""The working-day calendar: which days count toward a promised time limit.

Why working days: the time limits an applicant is promised (承诺时限) run in working days from
acceptance (受理), as 《优化营商环境条例》 and the 承诺时限 practice of 政务服务 count them, so
a deadline depends on the State Council's holiday schedule (国务院办公厅关于部分节假日安排的
通知), published each year for the next — including 调休: weekdays given off and Saturdays or
Sundays worked in exchange.

Only the exceptions to the weekday rule (Monday–Friday work, Saturday–Sunday rest) are stored,
one ``CalendarDay`` row each: holidays on weekdays and worked weekend days. They are seeded from
chinese-calendar, which carries the official schedule for the years it knows and raises
``NotImplementedError`` for later ones; an administrator enters a new year's schedule once it is
published (source "admin", never overwritten by seeding). A day with no row in a year without
any row follows the weekday rule and is reported as provisional: a deadline that runs into such
a year may move once the schedule is known.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

import chinese_calendar
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from backend.errors import RuleViolation
from backend.models import CalendarDay, StaffAccount
from backend.security import permissions

SOURCE_LIBRARY = "chinese_calendar"
SOURCE_ADMIN = "admin"

MAX_WORKING_DAYS = 3650  # about 14 years of working days; no time limit comes near it
MAX_SPAN_DAYS = 366 * 30  # no walk through the calendar goes further than this
# The years the calendar is kept for: the year views (staff API, console) page through exactly
# these, and a day outside them is a typing error (1999, 2150), never a schedule to enter.
FIRST_YEAR, LAST_YEAR = 2000, 2100

_FESTIVALS = {  # chinese_calendar.Holiday values (English) → the names in the State Council notice
    chinese_calendar.Holiday.new_years_day.value: "元旦",
    chinese_calendar.Holiday.spring_festival.value: "春节",
    chinese_calendar.Holiday.tomb_sweeping_day.value: "清明节",
    chinese_calendar.Holiday.labour_day.value: "劳动节",
    chinese_calendar.Holiday.dragon_boat_festival.value: "端午节",
    chinese_calendar.Holiday.mid_autumn_festival.value: "中秋节",
    chinese_calendar.Holiday.national_day.value: "国庆节",
    # the one-off holiday of 2015-09-03
    chinese_calendar.Holiday.anti_fascist_70th_day.value: "抗战胜利70周年纪念日",
}
_WORKED_SUFFIX = "调休上班"
_WEEKEND_NAME = "周末"


@dataclass(frozen=True)
class DayInfo:
    day: date
    is_workday: bool
    name: str  # 国庆节, 国庆节调休上班, 周末, or "" for an ordinary working day
    provisional: bool  # the year's schedule is not in the table: weekday rule, may change


def _weekday_rule(day: date) -> bool:
    return day.weekday() < 5


def _year_range(year: int) -> tuple[date, date]:
    return date(year, 1, 1), date(year, 12, 31)


def library_knows(year: int) -> bool:
    """Whether chinese-calendar carries the State Council schedule for ``year``."""
    try:
        chinese_calendar.is_workday(date(year, 1, 1))
    except NotImplementedError:
        return False
    return True


def library_exceptions(year: int) -> dict[date, tuple[bool, str]]:
    """The library's exceptions to the weekday rule in ``year``: day → (is_workday, name).

    Raises NotImplementedError for a year the library does not know.
    """
    exceptions: dict[date, tuple[bool, str]] = {}
    first, last = _year_range(year)
    day = first
    while day <= last:
        workday = chinese_calendar.is_workday(day)
        if workday != _weekday_rule(day):
            _, english = chinese_calendar.get_holiday_detail(day)
            festival = _FESTIVALS.get(english, english or "")
            exceptions[day] = (workday, f"{festival}{_WORKED_SUFFIX}" if workday else festival)
        day += timedelta(days=1)
    return exceptions


def seed(session: Session, *, years: Iterable[int], by: str = "seed") -> int:
    """Write the library's exceptions for each year it knows; returns the rows written.

    Idempotent: unchanged rows are left alone, so a second run writes nothing. Rows entered by
    an administrator are never touched. A library row that is no longer an exception (a newer
    library corrected the schedule) is removed and counted. Unknown years are skipped.
    """
    written = 0
    for year in sorted(set(years)):
        if not library_knows(year):
            continue
        wanted = library_exceptions(year)
        first, last = _year_range(year)
        existing = {row.day: row for row in session.scalars(
            select(CalendarDay).where(CalendarDay.day.between(first, last)))}
        for day, (workday, name) in sorted(wanted.items()):
            row = existing.get(day)
            if row is None:
                session.add(CalendarDay(day=day, is_workday=workday, name=name,
                                        source=SOURCE_LIBRARY, updated_by=by))
                written += 1
            elif row.source != SOURCE_ADMIN and (row.is_workday, row.name) != (workday, name):
                row.is_workday, row.name, row.source, row.updated_by = (
                    workday, name, SOURCE_LIBRARY, by)
                written += 1
        stale = [day for day, row in existing.items()
                 if row.source == SOURCE_LIBRARY and day not in wanted]
        if stale:
            session.execute(delete(CalendarDay).where(CalendarDay.day.in_(stale)))
            written += len(stale)
    session.flush()
    return written


def set_day(session: Session, *, day: date, is_workday: bool, name: str, by: str,
            ) -> CalendarDay:
    """An administrator's entry for one day (e.g. next year's schedule once published).

    Stored even when it agrees with the weekday rule: it records the decision, and its year then
    counts as scheduled (no longer provisional).
    """
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise RuleViolation("CALENDAR_DAY_OUT_OF_RANGE",
                            f"只能设置 {FIRST_YEAR} 年至 {LAST_YEAR} 年之间的日期",
                            {"day": day.isoformat(), "first_year": FIRST_YEAR,
                             "last_year": LAST_YEAR})
    row = session.get(CalendarDay, day)
    if row is None:
        row = CalendarDay(day=day)
        session.add(row)
    row.is_workday, row.name, row.source, row.updated_by = is_workday, name, SOURCE_ADMIN, by
    session.flush()
    return row


def list_days(session: Session, *, year: int) -> list[CalendarDay]:
    """The stored days (exceptions and administrator entries) of ``year``, in date order."""
    first, last = _year_range(year)
    return list(session.scalars(
        select(CalendarDay).where(CalendarDay.day.between(first, last)).order_by(CalendarDay.day)))


def day_info(session: Session, day: date) -> DayInfo:
    row = session.execute(
        select(CalendarDay.is_workday, CalendarDay.name).where(CalendarDay.day == day)
    ).first()
    if row is not None:
        return DayInfo(day=day, is_workday=bool(row.is_workday), name=row.name,
                       provisional=False)
    first, last = _year_range(day.year)
    scheduled = session.scalar(
        select(CalendarDay.day).where(CalendarDay.day.between(first, last)).limit(1)
    ) is not None
    workday = _weekday_rule(day)
    return DayInfo(day=day, is_workday=workday, name="" if workday else _WEEKEND_NAME,
                   provisional=not scheduled)


def is_workday(session: Session, day: date) -> bool:
    row = session.scalar(select(CalendarDay.is_workday).where(CalendarDay.day == day))
    return _weekday_rule(day) if row is None else bool(row)


def _exceptions(session: Session, first: date, last: date) -> dict[date, bool]:
    """day → is_workday for the stored days in [first, last], in one query."""
    rows = session.execute(
        select(CalendarDay.day, CalendarDay.is_workday).where(CalendarDay.day.between(first, last)))
    return {day: bool(workday) for day, workday in rows}


def add_working_days(session: Session, start: date, n: int) -> date:
    """The day on which the n-th working day after ``start`` ends (start itself not counted).

    Accepted on 2026-09-30 with 1 working day → 2026-10-08 (10-01..07 are the National Day
    break). n = 0 gives ``start``. The stored days are read one window at a time, sized so that
    one query covers the whole walk unless a window is mostly holidays.
    """
    if not 0 <= n <= MAX_WORKING_DAYS:
        raise ValueError(f"working days must be between 0 and {MAX_WORKING_DAYS}, got {n}")
    window = n * 2 + 30
    day, remaining = start, n
    while remaining:
        first, last = day + timedelta(days=1), day + timedelta(days=window)
        if (last - start).days > MAX_SPAN_DAYS:
            raise ValueError(f"no {n} working days within {MAX_SPAN_DAYS} days of {start}")
        stored = _exceptions(session, first, last)
        while remaining and day < last:
            day += timedelta(days=1)
            if stored.get(day, _weekday_rule(day)):
                remaining -= 1
    return day


class WorkingDays:
    """The stored days of [first, last] read in one query; working days counted within that
    span in memory. Many clocks over one span (an application's items, a watch list) cost one
    query instead of one each."""

    def __init__(self, session: Session, first: date, last: date) -> None:
        if (last - first).days >= MAX_SPAN_DAYS:  # (first − 1, last] spans more than that
            raise ValueError(f"span from {first - timedelta(days=1)} to {last} exceeds"
                             f" {MAX_SPAN_DAYS} days")
        self.first, self.last = first, last
        self._stored = _exceptions(session, first, last) if first <= last else {}

    def between(self, start: date, end: date) -> int:
        """The number of working days in (start, end]; 0 when end <= start."""
        if end <= start:
            return 0
        if start + timedelta(days=1) < self.first or end > self.last:
            raise ValueError(f"({start}, {end}] is outside the span read"
                             f" ({self.first}–{self.last})")
        count, day = 0, start + timedelta(days=1)
        while day <= end:
            if self._stored.get(day, _weekday_rule(day)):
                count += 1
            day += timedelta(days=1)
        return count

    def remaining(self, *, due: date, today: date) -> int:
        """Working days left until ``due``: positive = left, 0 = due today, negative = overdue.

        Counted as working days in (today, due], or minus those in (due, today] once past: due
        on a Friday, it is 0 on the weekend that follows and -1 on Monday (no working day was
        lost yet).
        """
        if due >= today:
            return self.between(today, due)
        return -self.between(due, today)


def span_of(session: Session, days: Iterable[date]) -> WorkingDays:
    """The stored calendar over every (a, b] the given days can form, in one query."""
    days = list(days)
    return WorkingDays(session, min(days) + timedelta(days=1), max(days))


def working_days_between(session: Session, start: date, end: date) -> int:
    """The number of working days in (start, end]; 0 when end <= start."""
    if end <= start:
        return 0
    return span_of(session, (start, end)).between(start, end)


def remaining_working_days(session: Session, *, due: date, today: date) -> int:
    """Working days left until ``due`` (``WorkingDays.remaining``)."""
    return span_of(session, (due, today)).remaining(due=due, today=today)


def last_working_day(session: Session, day: date) -> date:
    """The latest working day on or before ``day`` (a window of stored days at a time)."""
    window, start = 31, day
    while (start - day).days <= MAX_SPAN_DAYS:
        first = day - timedelta(days=window - 1)
        stored = _exceptions(session, first, day)
        while day >= first:
            if stored.get(day, _weekday_rule(day)):
                return day
            day -= timedelta(days=1)
    raise ValueError(f"no working day within {MAX_SPAN_DAYS} days before {start}")


def parse_day(text: str) -> date:
    """A YYYY-MM-DD date from a URL or a form, or a 422 the administrator can act on."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise RuleViolation("DATE_INVALID", "日期格式应为 YYYY-MM-DD", {"value": text}) from None


def year_for(session: Session, *, staff: StaffAccount, year: int
             ) -> tuple[list[CalendarDay], bool]:
    """An administrator's view of ``year``: its stored days, and whether the year is still
    provisional (no schedule entered: the weekday rule, which may change)."""
    permissions.require(staff, "calendar.edit")
    return list_days(session, year=year), day_info(session, date(year, 1, 1)).provisional


def edit_day(session: Session, *, staff: StaffAccount, day: date, is_workday: bool, name: str
             ) -> CalendarDay:
    """:func:`set_day` by an administrator (``calendar.edit``), recorded under their name."""
    permissions.require(staff, "calendar.edit")
    return set_day(session, day=day, is_workday=is_workday, name=name, by=staff.username)
