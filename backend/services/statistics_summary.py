"""改革成效统计 at province scale: the summary tables the worker keeps, from which the
figures of whole days are added up instead of scanning the cases (issue 14, part 6).

``statistics_days`` holds, per CST day and group, the additive figures of that day
(:class:`backend.services.statistics.Tally`: counts, sums, and histograms of working days for
the exact 90th percentile) for the groupings unit, county, industry, province, and
county_unit / industry_unit (what a unit's reviewer sees by county or industry). The
worker's tick (:func:`summarise`) recomputes every day that has events since its last
round — a late event (one stored after its day was summarised) makes its day recomputed —
so the job is incremental and idempotent, and two workers serialise on the watermark row.
The first round — and ``flask statistics rebuild`` — builds the whole summary set-based
(:func:`rebuild`: the scan's queries grouped by day, a month at a time), the same rows.
Each recomputed day's month is summed again into a month row: a year is added up from
twelve rows a group, the days of a part month from their day rows.

:func:`tallies` reads the summarised days and scans only the days with events the worker
has not summarised yet (none once it has run; everything before its first round), so the
figures are the same whichever source answers. One caveat of adding days: a count of
distinct cases counts a case once per day its event happens — the same, as no case has the
same counted event on two days, except 窗口办结 of a case accepted and later withdrawn in
the same period (counted on both days, as the scan counts it once).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import and_, delete, func, insert, or_, select
from sqlalchemy.orm import Session

from backend.models import (
    Application,
    ApplicationEvent,
    ApplicationItem,
    StatisticsDay,
    StatisticsWatermark,
)
from backend.models.base import utcnow
from backend.services import statistics
from backend.services.statistics import PROVINCE, Period, Tally, _as_date, china_date

KEPT = ("unit", "county", "industry", "province", "county_unit", "industry_unit")
# events re-read behind the watermark each round: a transaction that took an id before the
# last round's and committed after it is still seen (its day recomputed once more)
OVERLAP = 1000
INSERT_BATCH = 5000  # summary rows a bulk INSERT of rebuild()
GROUPS_BATCH = 5000  # cases whose groups one query of rebuild() reads


def summarise(session: Session, *, overlap: int = OVERLAP) -> int:
    """The worker's step: recompute the summary of every CST day with an event since the
    last round (the first round: every day). Returns how many days were recomputed; the
    caller commits."""
    mark = _watermark(session)
    last = session.scalar(select(func.max(ApplicationEvent.id))) or 0
    if last <= mark.last_event_id:
        return 0
    if not mark.last_event_id:
        return rebuild(session, mark=mark)
    since = max(0, mark.last_event_id - overlap) if mark.last_event_id else 0
    days = sorted(_as_date(d) for d in session.scalars(
        select(china_date(ApplicationEvent.at)).where(
            ApplicationEvent.id > since, ApplicationEvent.id <= last).distinct()))
    for day in days:
        summarise_day(session, day)
    for month in sorted({day.replace(day=1) for day in days}):
        summarise_month(session, month)
    mark.last_event_id, mark.updated_at = last, utcnow()
    session.flush()
    return len(days)


def _watermark(session: Session) -> StatisticsWatermark:
    """The watermark row, locked (two workers serialise on it)."""
    mark = session.get(StatisticsWatermark, 1, with_for_update=True)
    if mark is None:
        mark = StatisticsWatermark(id=1, last_event_id=0)
        session.add(mark)
        session.flush()
    return mark


def rebuild(session: Session, *, mark: StatisticsWatermark | None = None,
            progress=None) -> int:
    """The whole summary built again from the cases, set-based: each calendar month of the
    timeline has its facts read once, grouped by day (:func:`summarise_days`: a fixed number
    of queries a month, whatever the number of days, and one per GROUPS_BATCH cases), its day
    rows inserted in bulk and its month row added up from them — the same rows
    :func:`summarise_day` writes day by day. The worker's first round, and ``flask
    statistics rebuild`` (after a restore, or when the rules of a figure change). Events
    stored meanwhile are left to the next round. ``progress(month, days)`` is told after
    each month. Returns how many days have rows; the caller commits."""
    mark = mark or _watermark(session)
    last = session.scalar(select(func.max(ApplicationEvent.id))) or 0
    session.execute(delete(StatisticsDay))
    first, final = session.execute(
        select(func.min(ApplicationEvent.at), func.max(ApplicationEvent.at)).where(
            ApplicationEvent.id <= last)).one()
    days = 0
    if first is not None:
        month = _cst_day(first).replace(day=1)
        while month <= _cst_day(final):
            found = summarise_days(session, Period("range", month, _month_end(month)))
            summarise_month(session, month)
            days += found
            if progress is not None:
                progress(month, found)
            month = _month_end(month) + timedelta(days=1)
    mark.last_event_id, mark.updated_at = last, utcnow()
    session.flush()
    return days


def _cst_day(at: datetime) -> date:
    return (at + timedelta(hours=8)).date()  # stored UTC without zone; CST is UTC+8


def summarise_days(session: Session, period: Period) -> int:
    """Insert the day rows of every day of ``period`` (which has none yet), reading the
    cases' facts once for every grouping: the counts per case and day, one row per licensed
    case and per decided item (the scan's queries, ``by_day``), and each case's groups; then
    each group's day adds up the rows filed under it as :func:`statistics.scan` does. Returns
    how many days have rows."""
    documents = statistics._Documents(session)
    counts = session.execute(statistics._counts_query(period, PROVINCE, None, by_day=True,
                                                      per_case=True)).all()
    licensed = session.execute(statistics._licensed_query(period, "province", None,
                                                          by_day=True)).all()
    decided = session.execute(statistics._decided_query(period, "unit", None,
                                                        by_day=True)).all()
    groups = _groups_of_cases(session, {row.key for row in counts} | {
        row.application_id for row in [*licensed, *decided]})
    found: dict[tuple[str, date, str], list[list]] = {}  # counts, cases, items, commitments

    def file(kind: int, row, day, keys) -> None:
        for grouping, key in keys:
            found.setdefault((grouping, _as_date(day), key), [[], [], [], []])[kind].append(row)

    for row in counts:
        file(0, row, row.day, groups.of(row.key))
    for row in licensed:
        file(1, row, row.day, groups.of(row.application_id))
    for row in decided:
        file(2, row, row.day, groups.of(row.application_id, item_unit=row.key))
    for grouping in KEPT:  # 告知承诺: few rows, counted per grouping by the scan's query
        for row in session.execute(statistics._commitments_query(period, grouping, None,
                                                                 by_day=True)):
            found.setdefault((grouping, _as_date(row.day), row.key or ""),
                             [[], [], [], []])[3].append(row)
    days = statistics._calendar(session, [statistics._Dated(licensed, decided)])
    materials = statistics._materials_supplied(session, period)
    rows = []
    for (grouping, day, key), (counted, cases, items, commitments) in found.items():
        tally = Tally()
        for row in counted:
            tally.add_counts(row)
        for row in commitments:
            tally.add_commitments(row)
        if cases:
            tally.add_licensed(cases, days, documents, materials)
        if items:
            tally.add_items(items, days)
        rows.append({"span": "day", "day": day, "grouping": grouping, "key": key,
                     "tally": tally.as_json()})
    for start in range(0, len(rows), INSERT_BATCH):
        session.execute(insert(StatisticsDay), rows[start:start + INSERT_BATCH])
    return len({row["day"] for row in rows})


class _Groups:
    """Each case's groups in every KEPT grouping, as the scan's queries key them: its
    county (premises) and industry, and every unit with an item in it — a decided item
    only under its own unit."""

    def __init__(self, rows):
        self.cases: dict[int, tuple[str, str, list[str]]] = {}
        for application_id, county, industry, unit in rows:
            _, _, units = self.cases.setdefault(application_id,
                                                (county or "", industry or "", []))
            if unit is not None and unit not in units:
                units.append(unit)

    def of(self, application_id: int, item_unit: str | None = None):
        county, industry, units = self.cases[application_id]
        units = units if item_unit is None else [item_unit]
        yield from (("province", PROVINCE), ("county", county), ("industry", industry))
        for unit in units:
            yield from (("unit", unit), ("county_unit", f"{county}|{unit}"),
                        ("industry_unit", f"{industry}|{unit}"))


def _groups_of_cases(session: Session, ids: set[int]) -> _Groups:
    """The groups of the cases ``ids`` (read GROUPS_BATCH at a time)."""
    ordered, rows = sorted(ids), []
    for start in range(0, len(ordered), GROUPS_BATCH):
        rows += session.execute(
            select(Application.id, statistics.group_of("county"), Application.industry_code,
                   ApplicationItem.approving_unit)
            .outerjoin(ApplicationItem, ApplicationItem.application_id == Application.id)
            .where(Application.id.in_(ordered[start:start + GROUPS_BATCH]))).all()
    return _Groups(rows)


def summarise_day(session: Session, day: date) -> None:
    """Replace the summary rows of ``day`` with its figures scanned from the cases."""
    period = Period("day", day, day)
    session.execute(delete(StatisticsDay).where(StatisticsDay.span == "day",
                                                StatisticsDay.day == day))
    documents = statistics._Documents(session)
    # statistics.scan for each grouping, with one calendar and one materials query a day
    raws = {grouping: statistics._Raw(session, period, grouping, None) for grouping in KEPT}
    days = statistics._calendar(session, list(raws.values()))
    materials = statistics._materials_supplied(session, period)
    for grouping, raw in raws.items():
        session.add_all(StatisticsDay(day=day, grouping=grouping, key=key,
                                      tally=tally.as_json())
                        for key, tally in raw.tallies(days, documents, materials).items())
    session.flush()


def summarise_month(session: Session, first: date) -> None:
    """Replace the month rows of the month starting ``first`` with the sum of its days."""
    session.execute(delete(StatisticsDay).where(StatisticsDay.span == "month",
                                                StatisticsDay.day == first))
    added: dict[tuple[str, str], Tally] = {}
    for grouping, key, stored in session.execute(
            select(StatisticsDay.grouping, StatisticsDay.key, StatisticsDay.tally).where(
                StatisticsDay.span == "day", StatisticsDay.day >= first,
                StatisticsDay.day <= _month_end(first))):
        added.setdefault((grouping, key), Tally()).add(Tally.of_json(stored))
    session.add_all(StatisticsDay(span="month", day=first, grouping=grouping, key=key,
                                  tally=tally.as_json())
                    for (grouping, key), tally in added.items())
    session.flush()


def _month_end(first: date) -> date:
    return (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)


def tallies(session: Session, *, period: Period, group_by: str, unit: str | None,
            documents=None, prefix: str | None = None) -> tuple[dict[str, Tally], Tally]:
    """What :func:`statistics.scan` answers, added up from the summarised days, and scanned
    for the days with events not summarised yet. ``prefix`` (with ``unit`` None): only the
    groups whose key starts with it (a county's ``county_unit`` rows: ``"<county>|"``)."""
    # one query: the days of the period with events the worker has not summarised, and
    # whether it has run at all (before its first round: scan the period as before)
    last = select(StatisticsWatermark.last_event_id).where(StatisticsWatermark.id == 1) \
        .scalar_subquery()
    found = session.execute(
        select(china_date(ApplicationEvent.at), last).where(
            ApplicationEvent.id > func.coalesce(last, -1),
            ApplicationEvent.at >= period.start, ApplicationEvent.at < period.end).distinct()
    ).all()
    if any(mark is None for _, mark in found):
        grouped, whole = statistics.scan(session, period=period, group_by=group_by,
                                         unit=unit, documents=documents)
        return _starting(grouped, prefix), whole
    pending = {_as_date(day) for day, _ in found}
    grouped, whole = _read(session, period, group_by, unit, pending, prefix)
    for first, last in _runs(sorted(pending)):
        more, more_whole = statistics.scan(session, period=Period("range", first, last),
                                           group_by=group_by, unit=unit,
                                           documents=documents)
        for key, tally in _starting(more, prefix).items():
            grouped.setdefault(key, Tally()).add(tally)
        whole.add(more_whole)
    return grouped, whole


def _starting(grouped: dict[str, Tally], prefix: str | None) -> dict[str, Tally]:
    return grouped if prefix is None else \
        {key: tally for key, tally in grouped.items() if key.startswith(prefix)}


def _read(session: Session, period: Period, group_by: str, unit: str | None,
          skip: set[date], prefix: str | None = None) -> tuple[dict[str, Tally], Tally]:
    """The summarised days of ``period`` (but ``skip``), added up per group and in total."""
    # whole months of the period without a skipped day are read from their month row
    months, first = [], period.first.replace(day=1)
    while first <= period.last:
        if first >= period.first and _month_end(first) <= period.last and not any(
                d.replace(day=1) == first for d in skip):
            months.append(first)
        first = _month_end(first) + timedelta(days=1)
    covered = {first: _month_end(first) for first in months}
    days = [period.first + timedelta(days=n)
            for n in range((period.last - period.first).days + 1)]
    runs = _runs([d for d in days if d not in skip
                  and not any(f <= d <= e for f, e in covered.items())])
    spans = [and_(StatisticsDay.span == "day", StatisticsDay.day.between(a, b))
             for a, b in runs]
    if months:
        spans.append(and_(StatisticsDay.span == "month", StatisticsDay.day.in_(months)))

    def added(grouping: str, key: str | None = None, suffix: str | None = None,
              prefix: str | None = None) -> dict[str, Tally]:
        if not spans:
            return {}
        query = select(StatisticsDay.key, StatisticsDay.tally).where(
            StatisticsDay.grouping == grouping, or_(*spans))
        if key is not None:
            query = query.where(StatisticsDay.key == key)
        if suffix is not None:
            query = query.where(StatisticsDay.key.endswith(suffix, autoescape=True))
        if prefix is not None:
            query = query.where(StatisticsDay.key.startswith(prefix, autoescape=True))
        out: dict[str, Tally] = {}
        for found, stored in session.execute(query):
            out.setdefault(found, Tally()).add(Tally.of_json(stored))
        return out

    if unit is None:
        grouped = added(group_by, prefix=prefix)
        whole = grouped.get(PROVINCE) if group_by == "province" else \
            added("province").get(PROVINCE)
        return grouped, whole or Tally()
    found = added("unit", key=unit)
    own = found.get(unit, Tally())
    if group_by in ("unit", "province"):
        return {unit if group_by == "unit" else PROVINCE: own} if found else {}, \
            Tally().add(own)
    compound = added(f"{group_by}_unit", suffix=f"|{unit}")
    return {key.rsplit("|", 1)[0]: tally for key, tally in compound.items()}, \
        Tally().add(own)


def _runs(days: list[date]) -> list[tuple[date, date]]:
    """Consecutive days as (first, last) runs."""
    out: list[tuple[date, date]] = []
    for day in days:
        if out and out[-1][1] + timedelta(days=1) == day:
            out[-1] = (out[-1][0], day)
        else:
            out.append((day, day))
    return out


# --- the reform's results for the public (晋政办发〔2022〕90号 四（三）) -------------------------

PUBLIC_CACHE_SIZE = 16
_public_cache: dict[tuple, tuple[Period, list[dict], dict]] = {}


def public_results(session: Session, *, year: int | None = None,
                   ) -> tuple[Period, list[dict], dict]:
    """The reform's results per industry of the catalog in force for anyone to read: a
    calendar ``year`` (default the current one), each industry's applications received,
    licenses issued, average working days from acceptance to license and days saved
    against the sum of its items' legal limits — counts and averages only, never a case, a
    name or a number of a person. Returns (period, rows, total); rows are dicts of
    ``code, name, category, received, licensed, average_days, saved_days``.

    Cached per process until the worker's next summary round (the watermark moves)."""
    period = statistics.period_of("year", year=year)
    mark = session.execute(select(StatisticsWatermark.last_event_id,
                                  StatisticsWatermark.updated_at)).first()
    key = (period.slug, tuple(mark) if mark else None)
    if mark is not None and key in _public_cache:
        return _public_cache[key]
    figures = statistics.compute(session, period=period, group_by="industry", unit=None)
    rows = {row.key: row for row in figures.rows}
    industries = statistics.catalog.document_of(
        statistics.catalog.current_version(session)).industries
    out = [_public_row(rows.get(code) or statistics.Row(code, industry.name), industry.name,
                       industry.category)
           for code, industry in industries.items() if not industry.retired]
    answer = (period, out, _public_row(figures.total, "合计", ""))
    if mark is not None:
        if len(_public_cache) >= PUBLIC_CACHE_SIZE:
            _public_cache.clear()
        _public_cache[key] = answer
    return answer


def _public_row(row: statistics.Row, name: str, category: str) -> dict:
    return {"code": row.key, "name": name, "category": category,
            "received": row.applications.received, "licensed": row.applications.licensed,
            "average_days": row.license_time.days.average,
            "saved_days": row.dividend.working_days_saved_average}
