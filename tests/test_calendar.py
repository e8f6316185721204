"""The working-day calendar: 2026 schedule with 调休, administrator entries, provisional years,
and the working-day arithmetic promised time limits rest on — on SQLite and MariaDB."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date

import pytest
from sqlalchemy import delete, event, select

from backend.errors import RuleViolation
from backend.extensions import db
from backend.models import CalendarDay
from backend.services import calendar

D = date.fromisoformat
COLUMNS = ("day", "is_workday", "name", "source", "updated_at", "updated_by")


@pytest.fixture
def cal(app, session) -> Iterator:
    """The test's session over the calendar; ``calendar_days`` is put back as found afterwards
    (conftest keeps that table between tests)."""
    before = [{c: getattr(row, c) for c in COLUMNS}
              for row in session.scalars(select(CalendarDay))]
    session.expunge_all()
    yield session
    session.expunge_all()
    with app.app_context():
        db.session.rollback()
        db.session.execute(delete(CalendarDay))
        db.session.add_all(CalendarDay(**values) for values in before)
        db.session.commit()


@pytest.fixture
def cal2026(cal):
    calendar.seed(cal, years=[2026])
    return cal


@pytest.fixture
def no_2027(cal):
    """2027 as it is today: no schedule stored (restored after the test by ``cal``)."""
    cal.execute(delete(CalendarDay).where(CalendarDay.day.between(D("2027-01-01"),
                                                                  D("2027-12-31"))))
    return cal


@contextmanager
def recorded_queries(session) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(conn, cursor, statement, *args) -> None:
        statements.append(statement)

    engine = session.get_bind()
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


def test_the_library_knows_2026_but_not_2027():
    assert calendar.library_knows(2026)
    assert not calendar.library_knows(2027)
    exceptions = calendar.library_exceptions(2026)
    assert exceptions[D("2026-10-01")] == (False, "国庆节")
    assert exceptions[D("2026-10-10")] == (True, "国庆节调休上班")
    assert exceptions[D("2026-01-01")] == (False, "元旦")
    assert exceptions[D("2026-02-16")] == (False, "春节")
    assert D("2026-10-03") not in exceptions  # a Saturday off anyway: not an exception
    worked_weekends = sorted(d for d, (work, _) in exceptions.items() if work)
    assert worked_weekends == [D("2026-01-04"), D("2026-02-14"), D("2026-02-28"),
                               D("2026-05-09"), D("2026-09-20"), D("2026-10-10")]


def test_national_day_2026_arithmetic(cal2026):
    assert calendar.add_working_days(cal2026, D("2026-09-30"), 1) == D("2026-10-08")
    assert calendar.add_working_days(cal2026, D("2026-10-08"), 1) == D("2026-10-09")
    assert calendar.add_working_days(cal2026, D("2026-10-09"), 1) == D("2026-10-10")
    assert calendar.add_working_days(cal2026, D("2026-10-10"), 1) == D("2026-10-12")
    assert calendar.add_working_days(cal2026, D("2026-09-30"), 3) == D("2026-10-10")
    assert calendar.add_working_days(cal2026, D("2026-09-30"), 0) == D("2026-09-30")
    # accepted on a holiday: the clock starts with the first working day after it
    assert calendar.add_working_days(cal2026, D("2026-10-03"), 1) == D("2026-10-08")
    # 20 working days from 2026-09-21 cross Mid-Autumn (09-25) and National Day
    assert calendar.add_working_days(cal2026, D("2026-09-21"), 20) == D("2026-10-26")


def test_adjusted_saturday_works_and_the_holiday_week_rests(cal2026):
    assert calendar.is_workday(cal2026, D("2026-10-10"))  # Saturday, 调休上班
    assert calendar.day_info(cal2026, D("2026-10-10")) == calendar.DayInfo(
        day=D("2026-10-10"), is_workday=True, name="国庆节调休上班", provisional=False)
    assert not calendar.is_workday(cal2026, D("2026-10-03"))  # Saturday inside the break
    assert not calendar.is_workday(cal2026, D("2026-10-05"))  # Monday inside the break
    assert calendar.day_info(cal2026, D("2026-10-05")).name == "国庆节"
    assert calendar.is_workday(cal2026, D("2026-10-08"))  # Thursday after the break


def test_a_normal_saturday_is_not_a_workday(cal2026):
    info = calendar.day_info(cal2026, D("2026-10-17"))
    assert info == calendar.DayInfo(day=D("2026-10-17"), is_workday=False, name="周末",
                                    provisional=False)
    assert not calendar.is_workday(cal2026, D("2026-10-17"))
    assert calendar.is_workday(cal2026, D("2026-10-16"))  # an ordinary Friday


def test_seeding_twice_writes_nothing_new(cal):
    calendar.seed(cal, years=[2026])
    rows = len(calendar.list_days(cal, year=2026))
    assert rows == len(calendar.library_exceptions(2026))
    assert calendar.seed(cal, years=[2026]) == 0
    assert len(calendar.list_days(cal, year=2026)) == rows


def test_seeding_from_empty_writes_each_exception_once(cal):
    cal.execute(delete(CalendarDay).where(CalendarDay.day.between(D("2026-01-01"),
                                                                  D("2026-12-31"))))
    written = calendar.seed(cal, years=[2026, 2026, 2027])  # 2027 unknown: skipped
    assert written == len(calendar.library_exceptions(2026))
    assert all(row.source == "chinese_calendar" for row in calendar.list_days(cal, year=2026))


def test_an_admin_row_survives_reseeding(cal2026):
    calendar.set_day(cal2026, day=D("2026-10-10"), is_workday=False, name="国庆节（本地调整）",
                     by="admin-zhang")
    assert calendar.seed(cal2026, years=[2026], by="reseed") == 0
    cal2026.expunge_all()
    row = cal2026.get(CalendarDay, D("2026-10-10"))
    assert (row.source, row.is_workday, row.updated_by) == ("admin", False, "admin-zhang")
    assert calendar.add_working_days(cal2026, D("2026-10-09"), 1) == D("2026-10-12")


def test_2027_is_provisional_until_an_admin_adds_it(no_2027):
    info = calendar.day_info(no_2027, D("2027-01-01"))
    assert info == calendar.DayInfo(day=D("2027-01-01"), is_workday=True, name="",
                                    provisional=True)  # weekday rule: a Friday
    assert calendar.seed(no_2027, years=[2027]) == 0  # the library cannot help
    assert calendar.day_info(no_2027, D("2027-03-06")).provisional

    calendar.set_day(no_2027, day=D("2027-01-01"), is_workday=False, name="元旦", by="admin")
    assert calendar.day_info(no_2027, D("2027-01-01")) == calendar.DayInfo(
        day=D("2027-01-01"), is_workday=False, name="元旦", provisional=False)
    assert not calendar.day_info(no_2027, D("2027-03-06")).provisional


def test_setting_new_years_day_2027_moves_a_deadline_across_it(cal2026, no_2027):
    # 2026-12-31 is a Thursday; before 2027 is known, Friday 2027-01-01 counts
    assert calendar.add_working_days(cal2026, D("2026-12-31"), 1) == D("2027-01-01")
    assert calendar.add_working_days(cal2026, D("2026-12-30"), 3) == D("2027-01-04")
    calendar.set_day(cal2026, day=D("2027-01-01"), is_workday=False, name="元旦", by="admin")
    assert calendar.add_working_days(cal2026, D("2026-12-31"), 1) == D("2027-01-04")
    assert calendar.add_working_days(cal2026, D("2026-12-30"), 3) == D("2027-01-05")
    assert not calendar.is_workday(cal2026, D("2027-01-01"))


def test_set_day_edits_an_existing_row(cal2026):
    row = calendar.set_day(cal2026, day=D("2026-10-10"), is_workday=True, name="国庆节调休上班",
                           by="admin-li")
    assert (row.source, row.updated_by) == ("admin", "admin-li")
    assert len(calendar.list_days(cal2026, year=2026)) == len(calendar.library_exceptions(2026))


def test_working_days_between(cal2026):
    assert calendar.working_days_between(cal2026, D("2026-09-30"), D("2026-10-08")) == 1
    assert calendar.working_days_between(cal2026, D("2026-09-30"), D("2026-10-12")) == 4
    assert calendar.working_days_between(cal2026, D("2026-10-01"), D("2026-10-07")) == 0
    assert calendar.working_days_between(cal2026, D("2026-10-12"), D("2026-10-12")) == 0
    assert calendar.working_days_between(cal2026, D("2026-10-12"), D("2026-10-01")) == 0
    # the whole of 2026: 365 days, 248 working days on the State Council schedule
    assert calendar.working_days_between(cal2026, D("2025-12-31"), D("2026-12-31")) == 248
    start = D("2026-09-21")
    for n in (0, 1, 5, 13, 20, 60):
        end = calendar.add_working_days(cal2026, start, n)
        assert calendar.working_days_between(cal2026, start, end) == n


def test_remaining_working_days(cal2026):
    due = calendar.add_working_days(cal2026, D("2026-09-30"), 3)  # 2026-10-10, worked Saturday
    assert calendar.remaining_working_days(cal2026, due=due, today=D("2026-09-30")) == 3
    assert calendar.remaining_working_days(cal2026, due=due, today=D("2026-10-04")) == 3
    assert calendar.remaining_working_days(cal2026, due=due, today=D("2026-10-09")) == 1
    assert calendar.remaining_working_days(cal2026, due=due, today=due) == 0
    assert calendar.remaining_working_days(cal2026, due=due, today=D("2026-10-11")) == 0
    assert calendar.remaining_working_days(cal2026, due=due, today=D("2026-10-12")) == -1
    assert calendar.remaining_working_days(cal2026, due=due, today=D("2026-10-14")) == -3


def test_arithmetic_reads_the_calendar_in_one_query(cal2026):
    with recorded_queries(cal2026) as statements:
        assert calendar.add_working_days(cal2026, D("2026-01-05"), 200) == D("2026-10-28")
        assert len(statements) == 1
        assert calendar.working_days_between(cal2026, D("2026-01-05"), D("2026-10-28")) == 200
        assert len(statements) == 2


def test_working_days_are_bounded(cal):
    with pytest.raises(ValueError):
        calendar.add_working_days(cal, D("2026-01-05"), calendar.MAX_WORKING_DAYS + 1)
    with pytest.raises(ValueError):
        calendar.add_working_days(cal, D("2026-01-05"), -1)
    with pytest.raises(ValueError):
        calendar.working_days_between(cal, D("1990-01-01"), D("2090-01-01"))


def test_cli_seed_set_and_show(app, no_2027):
    runner = app.test_cli_runner()
    no_2027.execute(delete(CalendarDay).where(CalendarDay.day.between(D("2026-01-01"),
                                                                      D("2026-12-31"))))
    expected = len(calendar.library_exceptions(2026))

    result = runner.invoke(args=["calendar", "seed", "--year", "2026", "--year", "2027"])
    assert result.exit_code == 0, result.output
    assert f"{expected} rows written" in result.output
    assert "does not know 2027" in result.output and "provisional" in result.output
    result = runner.invoke(args=["calendar", "seed", "--year", "2026"])
    assert result.exit_code == 0 and "0 rows written" in result.output
    assert "warning" not in result.output

    result = runner.invoke(args=["calendar", "show", "--year", "2026"])
    assert result.exit_code == 0, result.output
    assert "2026-10-10 六 上班  国庆节调休上班" in result.output
    assert "2026-10-01 四 休息  国庆节" in result.output
    assert "2026-10-03" not in result.output
    assert len(result.output.splitlines()) == expected

    result = runner.invoke(args=["calendar", "show", "--year", "2027"])
    assert "provisional" in result.output
    result = runner.invoke(args=["calendar", "set", "2027-01-01", "--holiday", "--name", "元旦",
                                 "--by", "admin"])
    assert result.exit_code == 0, result.output
    assert "2027-01-01 set as holiday 元旦 by admin" in result.output
    assert not calendar.day_info(no_2027, D("2027-01-01")).is_workday
    result = runner.invoke(args=["calendar", "set", "2027-02-20", "--workday", "--name",
                                 "春节调休上班", "--by", "admin"])
    assert result.exit_code == 0, result.output
    assert calendar.is_workday(no_2027, D("2027-02-20"))  # a Saturday
    result = runner.invoke(args=["calendar", "show", "--year", "2027"])
    assert "2027-01-01 五 休息  元旦  (admin, admin)" in result.output

    result = runner.invoke(args=["calendar", "set", "2027-01-01", "--name", "元旦", "--by", "x"])
    assert result.exit_code != 0  # --holiday or --workday is required
    result = runner.invoke(args=["calendar", "set", "2027-13-01", "--holiday", "--by", "x"])
    assert result.exit_code != 0


def test_only_days_of_the_years_kept_can_be_set(cal, client, staff_login):
    """The year views serve FIRST_YEAR..LAST_YEAR; a day outside was stored and never shown."""
    for day in (D("1999-01-01"), D("2150-01-01")):
        with pytest.raises(RuleViolation) as refused:
            calendar.set_day(cal, day=day, is_workday=False, name="越界", by="t")
        assert refused.value.code == "CALENDAR_DAY_OUT_OF_RANGE"
    admin, _ = staff_login("catalog_admin")
    resp = client.put("/api/staff/v1/calendar/2150-01-01", headers=admin,
                      json={"is_workday": False, "name": "越界"})
    assert resp.status_code == 422 and resp.json["code"] == "CALENDAR_DAY_OUT_OF_RANGE"
    coordinator, _ = staff_login("inspection_coordinator")
    assert client.get(f"/api/staff/v1/calendar?year={calendar.LAST_YEAR + 1}",
                      headers=coordinator).status_code == 422
    for day in (date(calendar.FIRST_YEAR, 1, 1), date(calendar.LAST_YEAR, 12, 31)):
        calendar.set_day(cal, day=day, is_workday=False, name="边界", by="t")
