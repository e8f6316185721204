"""改革成效统计: how fast and how well the reform serves applicants, for any period, by
county, industry or approving unit — the figures of 绩效考评 (晋政办发〔2022〕90号 四（二）),
of the catalog's adjustment (三（三）) and of what the reform saves (四（三）).

Every rule of what counts is here, once. The facts are the ones the workflow already keeps:
the timeline (``application_events``, one row per transition, in UTC), the application and
item rows, the license, the materials, and the catalog version each application is pinned
to. A figure belongs to a period by the China Standard Time day of the event it counts:

- 收件 ``received``: first submissions (``application.submitted``; a resubmission after
  补正 is the same application and not counted again).
- 受理 ``accepted``, 发证 ``licensed`` (``license.issued``), 不予许可 ``refused``, 不予受理
  ``not_accepted``: the transition's event.
- 撤回 ``withdrawn``: an application withdrawn after it was submitted (a draft that was never
  submitted is no case of the window).
- 补正率: of the applications whose window stage ended in the period (accepted, not
  accepted, or withdrawn after submission), the share that was sent a 补正 notice first.
- 容缺: of the applications accepted in the period, those accepted with deferred materials,
  and how many materials were deferred.
- 联合核查一次通过率: of the joint inspections concluded in the period (passed or failed),
  the share passed on the first visit, without a rectification notice.
- 告知承诺 (国办发〔2020〕42号), per item under its own unit: the items approved at once on
  a signed commitment in the period (``item.approved_by_commitment``), the post-checks
  concluded in the period that passed (``post_check.passed``) or found the commitment false
  (``post_check.failed``: the item revoked), and of the items approved by commitment in the
  period those whose post-check is still pending (no conclusion yet).
- 受理至发证用时: for each license issued in the period, the working days (calendar service,
  the Chinese holiday schedule) from acceptance to issue, less the working days the clock was
  paused while the applicant rectified (the time the authorities used, as 承诺时限 counts
  it); average and 90th percentile (nearest rank), against the case's promised and legal
  limits — the longest item's, as the items run in parallel (并联).
- 事项办结 per unit: the items a unit decided (准予 or 不予许可) in the period; an item is
  late when decided (CST day) after its deadline (``due_on``, which already carries the
  paused days); its working days are counted from acceptance less the pause credited to it.
- 改革红利 per licensed case: trips to a window — the days on which a commissioner acted for
  the applicant in person (帮办代办: drafting, filling, uploading, submitting, the hand-over
  code), zero for a case done wholly online; materials supplied once (uploaded or deferred)
  against the sum the bundled permits would each have asked for when applied for apart
  (a material the catalog shares among N items counts N times); the working days used
  against the sum of the items' legal limits (what one permit after another could take).

Grouped by unit, an application counts under every unit that has an item in it (the total
counts it once); item figures count under the item's own unit. A unit's reviewer sees only
their own unit's figures; administrators (system and catalog) see every unit.

Queries are set-based: a fixed number per call whatever the number of cases (grouped counts
in SQL; one narrow row per licensed case or decided item for the working-day figures, which
need the calendar and the percentile).
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Date, Integer, and_, case, distinct, exists, func, literal, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.functions import FunctionElement

from backend import clock, workflow
from backend.errors import FieldsInvalid, NotFound
from backend.models import (
    Application,
    ApplicationEvent,
    ApplicationItem,
    CatalogIndustry,
    CatalogPermitItem,
    CatalogVersion,
    License,
    MaterialFile,
    StaffAccount,
)
from backend.security import permissions
from backend.services import calendar, catalog, divisions, entity, notice, pages, ratings

# --- the period ------------------------------------------------------------------------------

PERIOD_KINDS = {"day": "日", "month": "月", "year": "年", "range": "时段"}
MAX_RANGE_DAYS = 3 * 366  # a from–to period of at most three years


@dataclass(frozen=True)
class Period:
    """China Standard Time days ``first`` … ``last`` (both included)."""

    kind: str
    first: date
    last: date

    @property
    def start(self) -> datetime:
        """The period's first instant, in UTC (00:00 CST of ``first``)."""
        return datetime.combine(self.first, time(), clock.CHINA).astimezone(UTC)

    @property
    def end(self) -> datetime:
        """The instant after the period, in UTC (00:00 CST of the day after ``last``)."""
        return datetime.combine(self.last + timedelta(days=1), time(),
                                clock.CHINA).astimezone(UTC)

    @property
    def label(self) -> str:
        if self.kind == "day":
            return f"{self.first.year}年{self.first.month}月{self.first.day}日"
        if self.kind == "month":
            return f"{self.first.year}年{self.first.month}月"
        if self.kind == "year":
            return f"{self.first.year}年"
        return f"{self.first.isoformat()} 至 {self.last.isoformat()}"

    @property
    def slug(self) -> str:
        """The period in a file name: 2025-03, 2025, 2025-03-01_2025-03-15."""
        if self.kind == "day":
            return self.first.isoformat()
        if self.kind == "month":
            return f"{self.first:%Y-%m}"
        if self.kind == "year":
            return str(self.first.year)
        return f"{self.first.isoformat()}_{self.last.isoformat()}"


def month_period(year: int, month: int) -> Period:
    last = (date(year + month // 12, month % 12 + 1, 1)) - timedelta(days=1)
    return Period("month", date(year, month, 1), last)


def period_of(kind: str = "month", *, day: date | None = None, month: str | None = None,
              year: int | None = None, since: date | None = None, until: date | None = None,
              today: date | None = None) -> Period:
    """The period a request names: ``day`` (YYYY-MM-DD), ``month`` (YYYY-MM), ``year`` or
    ``since``–``until`` (``range``, at most MAX_RANGE_DAYS days). Without its value a day,
    month or year period is the current one (CST). Values of other kinds are ignored.

    Raises FieldsInvalid STATISTICS_PERIOD_INVALID (422) naming the field at fault."""
    today = today or clock.today()
    problems: dict[str, dict[str, str]] = {}

    def refuse(name: str, code: str, message: str) -> FieldsInvalid:
        problems[name] = {"code": code, "message": message}
        return FieldsInvalid("STATISTICS_PERIOD_INVALID", problems, lead="统计期间：")

    if kind not in PERIOD_KINDS:
        raise refuse("period", "PERIOD_KIND_INVALID", "统计期间应为 day、month、year 或 range")
    if kind == "day":
        found = Period("day", day or today, day or today)
    elif kind == "month":
        if month is None:
            found = month_period(today.year, today.month)
        else:
            try:
                number_year, number_month = (int(p) for p in month.split("-"))
                found = month_period(number_year, number_month)
            except ValueError:
                raise refuse("month", "MONTH_INVALID", "月份格式应为 YYYY-MM") from None
    elif kind == "year":
        number = year or today.year
        found = Period("year", date(number, 1, 1), date(number, 12, 31))
    else:
        for name, value in (("since", since), ("until", until)):
            if value is None:
                raise refuse(name, "DATE_REQUIRED", "请选择起止日期")
        if until < since:
            raise refuse("until", "RANGE_REVERSED", "结束日期不能早于开始日期")
        if (until - since).days >= MAX_RANGE_DAYS:
            raise refuse("until", "RANGE_TOO_LONG", "统计时段最长三年")
        found = Period("range", since, until)
    if not (calendar.FIRST_YEAR <= found.first.year and found.last.year <= calendar.LAST_YEAR):
        name = {"day": "day", "month": "month", "year": "year"}.get(kind, "since")
        raise refuse(name, "PERIOD_OUT_OF_RANGE",
                     f"只能统计 {calendar.FIRST_YEAR} 年至 {calendar.LAST_YEAR} 年之间")
    return found


# --- who sees what ---------------------------------------------------------------------------

GROUPINGS = {"unit": "审批单位", "county": "县（市、区）", "industry": "行业", "province": "全省"}
PROVINCE = "all"  # the key of the one group of "province", and of every total row


def scope_of(session: Session, staff: StaffAccount, unit: str | None) -> str | None:
    """The unit whose figures ``staff`` may see (None: every unit).

    Administrators (``statistics.view_all``) see all, or one unit they name; a unit's
    reviewer sees only their own unit: naming another — or any code that is no unit of a
    catalog version — is 404 STATISTICS_UNIT_NOT_FOUND, exactly as a missing one."""
    permissions.require(staff, "statistics.view")
    if not permissions.allowed(staff.role, "statistics.view_all"):
        if unit not in (None, staff.unit_code) or not staff.unit_code:
            raise _unit_not_found(unit)
        return staff.unit_code
    if unit is not None and session.scalar(select(CatalogPermitItem.id).where(
            CatalogPermitItem.approving_unit == unit).limit(1)) is None:
        raise _unit_not_found(unit)
    return unit


def county_of(staff: StaffAccount, county: str | None) -> str | None:
    """The county whose figures ``staff``'s dashboard shows (None: the province).

    County-level staff (``county_code``) see their own county: naming another is 404
    STATISTICS_COUNTY_NOT_FOUND, exactly as a code that is no county of the divisions
    table (config/divisions); provincial staff may pick any county (a unit's reviewer still
    sees only their unit's figures there, see :func:`scope_of`)."""
    permissions.require(staff, "statistics.view")
    if staff.county_code:
        if county not in (None, staff.county_code):
            raise _county_not_found(county)
        return staff.county_code
    if county is not None and county not in entity.load_divisions().counties:
        raise _county_not_found(county)
    return county


def _county_not_found(county: str | None) -> NotFound:
    return NotFound("STATISTICS_COUNTY_NOT_FOUND", "没有该县（市、区）或无权查看其统计",
                    {"county": county})


def _unit_not_found(unit: str | None) -> NotFound:
    return NotFound("STATISTICS_UNIT_NOT_FOUND", "没有该审批单位或无权查看其统计",
                    {"unit": unit})


# --- SQL that is the same on SQLite and MariaDB ----------------------------------------------


def _sql_function(name: str, type_, doc: str, sql: dict[str, str]) -> type[FunctionElement]:
    """A one-argument SQL function written per dialect (``sql``: dialect → template with
    ``{}`` for the argument; "" the default)."""
    function = type(name, (FunctionElement,), {"type": type_, "inherit_cache": True,
                                                "__doc__": doc})
    for dialect, template in sql.items():
        def render(element, compiler, template=template, **kw) -> str:
            return template.format(compiler.process(element.clauses, **kw))
        compiles(function, *([dialect] if dialect else []))(render)
    return function


china_date = _sql_function(
    "china_date", Date(), "The CST day of a stored UTC time (China keeps no daylight "
    "saving: UTC+8).",
    {"": "CAST(({} + INTERVAL '8 hours') AS DATE)", "sqlite": "date({}, '+8 hours')",
     "mysql": "DATE(DATE_ADD({}, INTERVAL 8 HOUR))",
     "mariadb": "DATE(DATE_ADD({}, INTERVAL 8 HOUR))"})
json_length = _sql_function(
    "json_length", Integer(), "The number of elements of a JSON array column.",
    {"": "JSON_LENGTH({})", "sqlite": "json_array_length({})"})


# --- the figures -----------------------------------------------------------------------------


@dataclass
class Spread:
    """Working days of a set of cases or items: how many, average, 90th percentile
    (nearest rank: the smallest value at least 90 % of them do not exceed)."""

    count: int = 0
    average: float | None = None
    p90: int | None = None

    @classmethod
    def of(cls, values: list[int]) -> Spread:
        if not values:
            return cls()
        ordered = sorted(values)
        return cls(len(values), _average(sum(values), len(values)),
                   ordered[math.ceil(0.9 * len(ordered)) - 1])


@dataclass
class Applications:
    received: int = 0  # 收件
    accepted: int = 0  # 受理
    licensed: int = 0  # 发证
    refused: int = 0  # 不予许可
    not_accepted: int = 0  # 不予受理
    withdrawn: int = 0  # 撤回（提交后）


@dataclass
class LicenseTime:
    """受理至发证, working days, of the licenses issued in the period."""

    days: Spread = field(default_factory=Spread)
    promised_limit_average: float | None = None  # 承诺时限 (the longest item's)
    legal_limit_average: float | None = None  # 法定时限 (the longest item's)
    within_promised: int = 0  # cases that took no more than their promised limit


@dataclass
class Items:
    """The permit items the units decided in the period."""

    decided: int = 0
    late: int = 0  # decided after the deadline
    late_share: float | None = None
    days: Spread = field(default_factory=Spread)
    promised_average: float | None = None
    legal_average: float | None = None


@dataclass
class Window:
    closed: int = 0  # window stage ended: accepted, not accepted, withdrawn after submission
    with_supplements: int = 0  # of those, sent a 补正 notice first
    supplement_share: float | None = None
    deferred_cases: int = 0  # 容缺受理: accepted with deferred materials
    deferred_materials: int = 0
    deferred_share: float | None = None  # of the accepted


@dataclass
class Inspections:
    concluded: int = 0
    passed_first_visit: int = 0
    first_visit_pass_rate: float | None = None


@dataclass
class Commitments:
    """告知承诺 of the period: items approved at once, post-check results."""

    approved: int = 0  # items approved by commitment
    post_check_passed: int = 0
    post_check_failed: int = 0  # the commitment false: the item revoked
    post_check_pending: int = 0  # of the approved, not yet concluded


@dataclass
class Dividend:
    """改革红利 of the licenses issued in the period, per case."""

    cases: int = 0
    trips_average: float | None = None  # visits to a window
    online_cases: int = 0  # no visit at all (全程网办)
    materials_average: float | None = None  # supplied once
    separate_materials_average: float | None = None  # the permits applied for one by one
    working_days_average: float | None = None
    legal_days_sum_average: float | None = None  # Σ of the items' legal limits
    working_days_saved_average: float | None = None


@dataclass
class Ratings:
    """政务服务"好差评" of a group in the period (国办发〔2019〕51号)."""

    rated: int = 0
    dissatisfied: int = 0  # 不满意 or 非常不满意
    dissatisfied_share: float | None = None
    rectification_tasks: int = 0
    rectification_overdue: int = 0


@dataclass
class Row:
    """The figures of one group (a unit, a county, an industry, or all)."""

    key: str
    name: str
    applications: Applications = field(default_factory=Applications)
    license_time: LicenseTime = field(default_factory=LicenseTime)
    items: Items = field(default_factory=Items)
    window: Window = field(default_factory=Window)
    inspections: Inspections = field(default_factory=Inspections)
    commitments: Commitments = field(default_factory=Commitments)
    dividend: Dividend = field(default_factory=Dividend)
    ratings: Ratings | None = None  # None: no ratings service answers (ratings_by_group)


@dataclass
class Figures:
    period: Period
    group_by: str
    unit: str | None  # the unit the figures are limited to (a reviewer's own)
    unit_name: str | None
    rows: list[Row]
    total: Row
    county: str | None = None  # the county the figures are limited to (by unit only)
    county_name: str | None = None


def ratings_by_group(session: Session, *, period: Period, group_by: str,
                     unit: str | None) -> dict[str, Ratings]:
    """好差评 of the ratings given in ``period``, per group: how many, how many 不满意 or
    worse, the rectification tasks they opened and how many of those are overdue.

    Keyed as the rows are: by ``group_by`` "unit" the responsible unit's code, "county" the
    premises' county code and "industry" the industry code of the rated case
    (:func:`group_of`), "province" the one key PROVINCE; limited to ``unit``'s ratings when
    it is given. The ratings and their rectification tasks are kept by the ratings service,
    which answers per unit (``ratings.unit_figures``); by unit and for the province they are
    given here, by county and by industry not yet (the ratings are kept per unit). A group
    missing from the answer has no ratings figures (``Row.ratings`` stays None, the 好差评
    table is not shown), and the scorecard then weighs only the other indicators."""
    if group_by not in {"unit", "province"}:
        return {}
    by_unit = ratings.unit_figures(session, start=period.first, end=period.last,
                                   units=None if unit is None else [unit])
    found = {code: Ratings(
        rated=f.rating_total,
        dissatisfied=f.ratings.get("dissatisfied", 0) + f.ratings.get("very_dissatisfied", 0),
        dissatisfied_share=f.dissatisfied_share, rectification_tasks=f.tasks_opened,
        rectification_overdue=f.tasks_overdue) for code, f in by_unit.items()}
    if group_by == "unit" or not found:
        return found
    rated = sum(r.rated for r in found.values())
    dissatisfied = sum(r.dissatisfied for r in found.values())
    return {PROVINCE: Ratings(
        rated=rated, dissatisfied=dissatisfied,
        dissatisfied_share=dissatisfied / rated if rated else None,
        rectification_tasks=sum(r.rectification_tasks for r in found.values()),
        rectification_overdue=sum(r.rectification_overdue for r in found.values()))}


def figures(session: Session, *, staff: StaffAccount, period: Period, group_by: str = "unit",
            unit: str | None = None) -> Figures:
    """The figures of ``period`` by ``group_by`` (unit, county, industry, province), with
    the total; limited to ``unit`` (an administrator's choice, a reviewer's own unit).

    Rows: every group with a figure, and by unit every unit of the catalog in force.
    Raises 403 FORBIDDEN_ROLE, 404 STATISTICS_UNIT_NOT_FOUND (see :func:`scope_of`)."""
    scope = scope_of(session, staff, unit)
    if group_by not in GROUPINGS:
        raise FieldsInvalid("STATISTICS_GROUPING_INVALID", {"group_by": {
            "code": "GROUPING_INVALID", "message": "分组应为 unit、county、industry 或 province"}})
    return compute(session, period=period, group_by=group_by, unit=scope)


def compute(session: Session, *, period: Period, group_by: str, unit: str | None,
            source: str = "summary", county: str | None = None) -> Figures:
    """:func:`figures` without the access check (the scorecard, the catalog's adjustment).

    ``source`` "summary": the days the worker has summarised are read from the summary
    tables (``statistics_summary``), the others (events since its last round) scanned;
    "scan": every day scanned from the cases (the worker's own source, and the benchmark's
    baseline). Both give the same figures. ``county``: the figures of that county's cases
    only, by unit (``group_by`` must be "unit"; no 好差评, which is kept per unit)."""
    documents = _Documents(session)

    def tallies(group_by: str, unit: str | None, prefix: str | None = None):
        if source == "summary":
            from backend.services import statistics_summary
            return statistics_summary.tallies(session, period=period, group_by=group_by,
                                              unit=unit, documents=documents, prefix=prefix)
        grouped, whole = scan(session, period=period, group_by=group_by, unit=unit,
                              documents=documents)
        return ({k: t for k, t in grouped.items() if k.startswith(prefix)}
                if prefix else grouped), whole

    if county is not None:
        return _county_figures(session, period, county, unit, documents, tallies)
    grouped, whole_tally = tallies(group_by, unit)
    names = _names(session, group_by, grouped.keys(), documents)
    keys = list(grouped.keys())
    if group_by == "unit" and unit is None:
        keys = list(dict.fromkeys([*names, *keys]))
    elif group_by == "unit":
        keys = [unit]
    rows = [grouped.get(key, Tally()).row(key, names.get(key, key or "未填写")) for key in keys]
    ratings = ratings_by_group(session, period=period, group_by=group_by, unit=unit)
    for row in rows:
        row.ratings = ratings.get(row.key)
    whole = whole_tally.row(PROVINCE, "合计")
    whole.ratings = ratings_by_group(session, period=period, group_by="province",
                                     unit=unit).get(PROVINCE)
    order = {key: n for n, key in enumerate(names)}
    rows.sort(key=lambda r: (order.get(r.key, len(order)), r.key))
    unit_name = _names(session, "unit", [unit], documents)[unit] if unit else None
    return Figures(period, group_by, unit, unit_name, rows, whole)


def _county_figures(session: Session, period: Period, county: str, unit: str | None,
                    documents: _Documents, tallies) -> Figures:
    """The figures of a county's cases by unit: the summary's ``county_unit`` groups of the
    county, and its ``county`` group as the total (a unit's own row when ``unit``)."""
    grouped = {key.split("|", 1)[1]: tally
               for key, tally in tallies("county_unit", None, f"{county}|")[0].items()}
    names = _names(session, "unit", grouped.keys(), documents)
    if unit is not None:
        keys, whole = [unit], Tally().add(grouped.get(unit, Tally()))
    else:
        keys = list(dict.fromkeys([*names, *grouped]))
        whole = tallies("county", None)[0].get(county, Tally())
    rows = [grouped.get(key, Tally()).row(key, names.get(key, key)) for key in keys]
    unit_name = names.get(unit, unit) if unit else None
    return Figures(period, "unit", unit, unit_name, rows, whole.row(PROVINCE, "合计"),
                   county, divisions.county_name(county))


def scan(session: Session, *, period: Period, group_by: str, unit: str | None,
         documents: _Documents | None = None) -> tuple[dict[str, Tally], Tally]:
    """The tallies of ``period`` read from the cases themselves: per group (keys as
    :class:`Row` keys) and in total. Grouping may also be one of SUMMARY_GROUPINGS' compound
    ones (``county_unit``: key ``<county>|<unit>``). A fixed number of queries."""
    documents = documents or _Documents(session)
    materials = _materials_supplied(session, period)
    grouped = _Raw(session, period, group_by, unit)
    total = grouped if group_by == "province" else _Raw(session, period, "province", unit)
    days = _calendar(session, [grouped, total])
    whole = total.tallies(days, documents, materials).get(PROVINCE, Tally())
    return grouped.tallies(days, documents, materials), whole


# the timeline's events each figure counts
SUBMITTED, ACCEPTED = "application.submitted", "application.accepted"
NOT_ACCEPTED, REFUSED = "application.not_accepted", "application.refused"
WITHDRAWN, ISSUED = "application.withdrawn", "license.issued"
SUPPLEMENTS = "application.supplement_requested"
INSPECTION_PASSED, INSPECTION_FAILED = "inspection.passed", "inspection.failed"
RECTIFICATION = "inspection.rectification_requested"
BY_COMMITMENT = "item.approved_by_commitment"
POST_CHECK_PASSED, POST_CHECK_FAILED = "post_check.passed", "post_check.failed"
FLOW_EVENTS = (SUBMITTED, ACCEPTED, NOT_ACCEPTED, REFUSED, WITHDRAWN, ISSUED,
               INSPECTION_PASSED, INSPECTION_FAILED)
# what a commissioner does only for an applicant standing at the window (帮办代办)
IN_PERSON_EVENTS = ("application.created", "application.assisted", "material.uploaded",
                    SUBMITTED, "application.resubmitted", "application.claim_code_issued")


def group_of(group_by: str):
    """The group of an application as a column expression of ``Application``: the premises'
    county code, the industry code, or PROVINCE (by unit, a case's groups are its items'
    ``approving_unit``)."""
    if group_by == "county":
        return Application.form_values["premises_county_code"].as_string()
    if group_by == "industry":
        return Application.industry_code
    return literal(PROVINCE)


# the compound groupings the summary tables keep for a unit's figures by county or
# industry: key "<county or industry>|<unit>"
COMPOUND = {"county_unit": "county", "industry_unit": "industry"}


def _compound_key(group_by: str):
    """The key of a compound grouping (COMPOUND) as a column expression."""
    return func.coalesce(group_of(COMPOUND[group_by]), "").concat("|").concat(
        ApplicationItem.approving_unit)


def _cases(group_by: str, unit: str | None, concerned):
    """(application_id, key) of every application in scope, once per group it counts in;
    only those among ``concerned`` (a select of application ids: the ones with an event in
    the period — the queries count nothing else, and the set stays small at any scale)."""
    if group_by not in ("unit", *COMPOUND) and unit is None:
        return select(Application.id.label("application_id"),
                      group_of(group_by).label("key")).where(
            Application.id.in_(concerned)).subquery("cases")
    key = ApplicationItem.approving_unit if group_by == "unit" else \
        _compound_key(group_by) if group_by in COMPOUND else group_of(group_by)
    query = (select(ApplicationItem.application_id.label("application_id"), key.label("key"))
             .join(Application, Application.id == ApplicationItem.application_id)
             .where(ApplicationItem.application_id.in_(concerned)))
    if unit is not None:
        query = query.where(ApplicationItem.approving_unit == unit)
    return query.distinct().subquery("cases")


def _with_events(period: Period, actions: Iterable[str]):
    """The applications with one of ``actions`` in ``period`` (the (action, at) index)."""
    return select(ApplicationEvent.application_id).where(
        ApplicationEvent.action.in_(tuple(actions)), _in(ApplicationEvent.at, period))


def _in(column, period: Period):
    return and_(column >= period.start, column < period.end)


class _Raw:
    """The rows read for one grouping: the grouped counts, one row per licensed case and one
    per decided item (three queries)."""

    def __init__(self, session: Session, period: Period, group_by: str, unit: str | None):
        self.counts = {self._key(row): row for row in session.execute(
            _counts_query(period, group_by, unit))}
        self.licensed = list(session.execute(_licensed_query(period, group_by, unit)))
        self.decided = list(session.execute(_decided_query(period, group_by, unit)))
        self.commitments = {self._key(row): row for row in session.execute(
            _commitments_query(period, group_by, unit))}

    @staticmethod
    def _key(row) -> str:
        return row.key if row.key is not None else ""

    def keys(self) -> list[str]:
        return list(dict.fromkeys([*self.counts, *map(self._key, self.licensed),
                                   *map(self._key, self.decided), *self.commitments]))

    def dates(self) -> Iterable[date]:
        for row in self.licensed:
            yield from (row.accepted_on, row.issued_on)
        for row in self.decided:
            yield from (row.accepted_on, row.decided_on, row.due_on)

    def tallies(self, days: calendar.WorkingDays | None, documents: _Documents,
                materials: dict[int, set[str]]) -> dict[str, Tally]:
        out: dict[str, Tally] = defaultdict(Tally)
        for key, counted in self.counts.items():
            out[key].add_counts(counted)
        for key, counted in self.commitments.items():
            out[key].add_commitments(counted)
        licensed, decided = defaultdict(list), defaultdict(list)
        for case_row in self.licensed:
            licensed[self._key(case_row)].append(case_row)
        for item_row in self.decided:
            decided[self._key(item_row)].append(item_row)
        for key, cases in licensed.items():
            out[key].add_licensed(cases, days, documents, materials)
        for key, items in decided.items():
            out[key].add_items(items, days)
        return {key: out[key] for key in self.keys()}


def _as_date(value) -> date:
    """A date column's value: SQLite answers a string."""
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def _by_day(query, day, by_day: bool):
    """``query`` with the CST day of ``day`` (a UTC time column) as column ``day``."""
    return query.add_columns(china_date(day).label("day")) if by_day else query


def _counts_query(period: Period, group_by: str, unit: str | None, by_day: bool = False,
                  per_case: bool = False):
    """The grouped counts (COUNTS) of ``period``. ``per_case``: one row per application
    (``key`` its id; and per day with ``by_day``) whose counts are 0 or 1 — what a group's
    counts add up from, whatever groups the case counts in (statistics_summary.rebuild)."""
    event = ApplicationEvent
    earlier = aliased(ApplicationEvent)
    if per_case:
        key = event.application_id

        def counted(condition):
            return func.max(case((condition, 1), else_=0))
    else:
        cases = _cases(group_by, unit, _with_events(period, FLOW_EVENTS))
        key = cases.c.key

        def counted(condition):
            return func.count(distinct(case((condition, event.application_id))))

    submitted_before = event.from_state != workflow.State.DRAFT
    closed = and_(event.action.in_((ACCEPTED, NOT_ACCEPTED, WITHDRAWN)), submitted_before)
    supplemented = exists().where(earlier.application_id == event.application_id,
                                  earlier.action == SUPPLEMENTS)
    rectified = exists().where(earlier.application_id == event.application_id,
                               earlier.action == RECTIFICATION)
    deferred = json_length(Application.deferred_materials)
    query = select(
        key.label("key"),
        counted(event.action == SUBMITTED).label("received"),
        counted(event.action == ACCEPTED).label("accepted"),
        counted(event.action == ISSUED).label("licensed"),
        counted(event.action == REFUSED).label("refused"),
        counted(event.action == NOT_ACCEPTED).label("not_accepted"),
        counted(and_(event.action == WITHDRAWN, submitted_before)).label("withdrawn"),
        counted(closed).label("closed"),
        counted(and_(closed, supplemented)).label("with_supplements"),
        counted(and_(event.action == ACCEPTED, deferred > 0)).label("deferred_cases"),
        func.coalesce(func.sum(case((event.action == ACCEPTED, deferred), else_=0)), 0)
        .label("deferred_materials"),
        counted(event.action.in_((INSPECTION_PASSED, INSPECTION_FAILED))).label("concluded"),
        counted(and_(event.action == INSPECTION_PASSED, ~rectified)).label("first_visit"),
    ).select_from(event)
    if not per_case:
        query = query.join(cases, cases.c.application_id == event.application_id)
    query = (query.join(Application, Application.id == event.application_id)
             .where(event.action.in_(FLOW_EVENTS), _in(event.at, period)))
    if by_day:
        return _by_day(query, event.at, True).group_by(key, china_date(event.at))
    return query.group_by(key)


def _commitments_query(period: Period, group_by: str, unit: str | None, by_day: bool = False):
    """告知承诺 per group: the items approved by commitment in the period, the post-checks
    concluded in it (passed, failed), and the approved whose post-check has no conclusion
    yet. Each event names its item; by unit an item counts under its own unit."""
    event, later = ApplicationEvent, aliased(ApplicationEvent)
    key = ApplicationItem.approving_unit if group_by == "unit" else \
        _compound_key(group_by) if group_by in COMPOUND else group_of(group_by)

    def counted(condition):
        return func.count(case((condition, event.id)))

    concluded = exists().where(later.application_id == event.application_id,
                               later.item_code == event.item_code,
                               later.action.in_((POST_CHECK_PASSED, POST_CHECK_FAILED)))
    query = (select(
        key.label("key"),
        counted(event.action == BY_COMMITMENT).label("approved"),
        counted(event.action == POST_CHECK_PASSED).label("passed"),
        counted(event.action == POST_CHECK_FAILED).label("failed"),
        counted(and_(event.action == BY_COMMITMENT, ~concluded)).label("pending"),
    ).select_from(event)
        .join(ApplicationItem, and_(ApplicationItem.application_id == event.application_id,
                                    ApplicationItem.item_code == event.item_code))
        .join(Application, Application.id == event.application_id)
        .where(event.action.in_((BY_COMMITMENT, POST_CHECK_PASSED, POST_CHECK_FAILED)),
               _in(event.at, period)))
    if unit is not None:
        query = query.where(ApplicationItem.approving_unit == unit)
    if by_day:
        return _by_day(query, event.at, True).group_by(key, china_date(event.at))
    return query.group_by(key)


def _live_items_of_case():
    return and_(ApplicationItem.application_id == Application.id,
                ApplicationItem.status != workflow.ItemState.DROPPED)


def _legal_days_of_case(aggregate):
    """``aggregate`` of the legal limits of the case's items (dropped ones aside), as its
    pinned catalog version states them."""
    return (select(aggregate(CatalogPermitItem.legal_days)).select_from(ApplicationItem)
            .join(CatalogPermitItem, CatalogPermitItem.code == ApplicationItem.item_code)
            .where(_live_items_of_case(),
                   CatalogPermitItem.version_id == Application.catalog_version_id)
            .scalar_subquery())


def _licensed_query(period: Period, group_by: str, unit: str | None, by_day: bool = False):
    """One row per (licensed case, group): the dates, pause, limits and trips."""
    event, visit = ApplicationEvent, aliased(ApplicationEvent)
    cases = _cases(group_by, unit, _with_events(period, (ISSUED,)))
    return _by_day(select(
        cases.c.key, Application.id.label("application_id"), Application.accepted_on,
        License.issued_on, Application.paused_working_days, Application.catalog_version_id,
        Application.industry_code, Application.answers, Application.deferred_materials,
        select(func.max(ApplicationItem.promised_days)).where(_live_items_of_case())
        .scalar_subquery().label("promised_limit"),
        _legal_days_of_case(func.max).label("legal_limit"),
        _legal_days_of_case(func.sum).label("legal_sum"),
        select(func.count(distinct(china_date(visit.at)))).where(
            visit.application_id == Application.id,
            visit.actor_role == workflow.COMMISSIONER,
            visit.action.in_(IN_PERSON_EVENTS)).scalar_subquery().label("trips"),
    ).select_from(event)
        .join(cases, cases.c.application_id == event.application_id)
        .join(Application, Application.id == event.application_id)
        .join(License, License.application_id == Application.id)
        .where(event.action == ISSUED, _in(event.at, period)), event.at, by_day)


def _decided_query(period: Period, group_by: str, unit: str | None, by_day: bool = False):
    """One row per item its unit decided in the period (and per group)."""
    columns = (ApplicationItem.application_id, ApplicationItem.item_code,
               Application.accepted_on,
               china_date(ApplicationItem.decided_at).label(
        "decided_on"), ApplicationItem.due_on, ApplicationItem.promised_days,
        select(CatalogPermitItem.legal_days).where(
            CatalogPermitItem.version_id == Application.catalog_version_id,
            CatalogPermitItem.code == ApplicationItem.item_code).scalar_subquery()
        .label("legal_days"))
    if group_by == "unit":
        query = select(ApplicationItem.approving_unit.label("key"), *columns)
    elif group_by in COMPOUND:  # the item's own unit
        query = select(_compound_key(group_by).label("key"), *columns)
    else:
        decided = _decided_in(period)
        cases = _cases(group_by, None, select(decided.c.application_id))
        query = select(cases.c.key, *columns).join(
            cases, cases.c.application_id == ApplicationItem.application_id)
    query = (query.select_from(ApplicationItem)
             .join(Application, Application.id == ApplicationItem.application_id)
             .where(ApplicationItem.decided_at.is_not(None),
                    ApplicationItem.decided_by.is_not(None),
                    _in(ApplicationItem.decided_at, period)))
    if unit is not None:
        query = query.where(ApplicationItem.approving_unit == unit)
    return _by_day(query, ApplicationItem.decided_at, by_day)


def _decided_in(period: Period):
    return select(ApplicationItem.application_id).where(
        ApplicationItem.decided_at.is_not(None),
        _in(ApplicationItem.decided_at, period)).subquery("decided")


def _materials_supplied(session: Session, period: Period) -> dict[int, set[str]]:
    """The materials with a file, of each case licensed in the period (one query)."""
    rows = session.execute(
        select(MaterialFile.application_id, MaterialFile.material_code)
        .join(ApplicationEvent, ApplicationEvent.application_id == MaterialFile.application_id)
        .where(ApplicationEvent.action == ISSUED, _in(ApplicationEvent.at, period))
        .distinct())
    out: dict[int, set[str]] = defaultdict(set)
    for application_id, code in rows:
        out[application_id].add(code)
    return out


def _calendar(session: Session, raws: list[_Raw]) -> calendar.WorkingDays | None:
    """The working-day calendar over every date the figures count between (one query)."""
    every = [d for raw in raws for d in raw.dates() if d is not None]
    return calendar.span_of(session, every) if every else None


class _Documents:
    """Catalog documents by version id, each version read at most once (and parsed once a
    process): the pinned versions of the cases, and the version in force for the names."""

    def __init__(self, session: Session):
        self.session = session
        self._by_id: dict[int, Any] = {}
        self._current: CatalogVersion | None = None
        self._notices: dict[tuple, dict[str, Any]] = {}
        self._materials: dict[int, tuple[int, int]] = {}

    def of(self, version_id: int):
        if version_id not in self._by_id:
            version = self._current if self._current is not None \
                and self._current.id == version_id else self.session.get(CatalogVersion,
                                                                         version_id)
            self._by_id[version_id] = catalog.document_of(version)
        return self._by_id[version_id]

    def current(self):
        if self._current is None:
            self._current = catalog.current_version(self.session)
        return catalog.document_of(self._current)

    def materials_of(self, case_row, supplied: dict[int, set[str]]) -> tuple[int, int]:
        """(materials a licensed case supplied once, what its permits applied for apart
        would have asked for), computed once a case however many groups count it."""
        if case_row.application_id not in self._materials:
            merged = self.notice(case_row.catalog_version_id, case_row.industry_code,
                                 case_row.answers)["materials"]
            given = supplied.get(case_row.application_id, set()) | set(
                case_row.deferred_materials or [])
            counted = [m for m in merged if m["code"] in given]
            self._materials[case_row.application_id] = (
                len(counted), sum(len(m["items"]) for m in counted))
        return self._materials[case_row.application_id]

    def notice(self, version_id: int, industry_code: str, answers: dict[str, Any]):
        key = (version_id, industry_code, json.dumps(answers, sort_keys=True))
        if key not in self._notices:
            self._notices[key] = notice.tailor(self.of(version_id), industry_code, answers)
        return self._notices[key]


def _names(session: Session, group_by: str, keys: Iterable[str], documents: _Documents,
           ) -> dict[str, str]:
    """Each group's name, in the order the figures list them (the catalog's, the codes')."""
    if group_by == "unit":
        units = {code: u.name for code, u in documents.current().units.items()}
        return units | {k: k for k in keys if k not in units}
    if group_by == "county":
        return {k: divisions.county_name(k) if k else "未填写" for k in sorted(keys)}
    if group_by == "industry":
        keys = set(keys)
        named = dict(session.execute(  # the newest version's name wins
            select(CatalogIndustry.code, CatalogIndustry.name)
            .where(CatalogIndustry.code.in_(keys)).order_by(CatalogIndustry.version_id)).all())
        order = list(documents.current().industries)
        return {k: named.get(k, k) for k in sorted(keys, key=lambda k: (
            order.index(k) if k in order else len(order), k))}
    return {PROVINCE: "山西省"}


def _average(total: float, count: int) -> float | None:
    return round(total / count, 2) if count else None


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


COUNTS = ("received", "accepted", "licensed", "refused", "not_accepted", "withdrawn",
          "closed", "with_supplements", "deferred_cases", "deferred_materials", "concluded",
          "first_visit")
SUMS = (*COUNTS,
        # licensed cases: how many, Σ working days, Σ promised and legal limits (the longest
        # item's), how many within the promised limit, Σ trips, how many without a trip,
        # Σ materials supplied once, Σ materials apart, Σ of the items' legal limits
        "cases", "case_days", "case_promised", "case_legal", "within_promised", "trips",
        "online", "materials_once", "materials_apart", "legal_sum",
        # items decided: how many, how many late, Σ working days, Σ promised and legal limits
        "items", "items_late", "item_days", "item_promised", "item_legal",
        # 告知承诺: items approved by commitment, post-checks passed and failed in the period,
        # the approved ones whose post-check is not concluded yet
        "commitments_approved", "post_check_passed", "post_check_failed",
        "post_check_pending")


def _histogram(values: Iterable[int]) -> dict[int, int]:
    out: dict[int, int] = defaultdict(int)
    for value in values:
        out[int(value)] += 1
    return dict(out)


@dataclass
class Tally:
    """The figures of one group as sums a longer period adds up from its days (the
    summary tables keep one per day and group): counts and sums (SUMS), and the working
    days of the licensed cases and of the decided items as histograms (days → how many),
    from which the 90th percentile is exact. :meth:`row` turns it into the figures."""

    sums: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SUMS, 0))
    case_days: dict[int, int] = field(default_factory=dict)
    item_days: dict[int, int] = field(default_factory=dict)

    def add(self, other: Tally) -> Tally:
        for name, value in other.sums.items():
            self.sums[name] = self.sums.get(name, 0) + value
        for mine, theirs in ((self.case_days, other.case_days),
                             (self.item_days, other.item_days)):
            for days, n in theirs.items():
                mine[days] = mine.get(days, 0) + n
        return self

    def as_json(self) -> dict[str, Any]:
        return {"sums": {k: v for k, v in self.sums.items() if v},
                "case_days": {str(k): v for k, v in self.case_days.items()},
                "item_days": {str(k): v for k, v in self.item_days.items()}}

    @classmethod
    def of_json(cls, stored: dict[str, Any]) -> Tally:
        return cls(dict.fromkeys(SUMS, 0) | stored.get("sums", {}),
                   {int(k): v for k, v in stored.get("case_days", {}).items()},
                   {int(k): v for k, v in stored.get("item_days", {}).items()})

    def add_counts(self, counted) -> None:
        for name in COUNTS:
            self.sums[name] += int(getattr(counted, name) or 0)  # MariaDB sums as DECIMAL

    def add_commitments(self, counted) -> None:
        for name, column in (("commitments_approved", "approved"),
                             ("post_check_passed", "passed"), ("post_check_failed", "failed"),
                             ("post_check_pending", "pending")):
            self.sums[name] += int(getattr(counted, column) or 0)

    def add_licensed(self, cases: list, days: calendar.WorkingDays | None,
                     documents: _Documents, supplied: dict[int, set[str]]) -> None:
        used = [days.between(c.accepted_on, c.issued_on) - c.paused_working_days
                for c in cases]
        once = separate = 0
        for c in cases:
            case_once, case_separate = documents.materials_of(c, supplied)
            once += case_once
            separate += case_separate
        self.add(Tally({
            "cases": len(cases), "case_days": sum(used),
            "case_promised": sum(c.promised_limit or 0 for c in cases),
            "case_legal": sum(c.legal_limit or 0 for c in cases),
            "within_promised": sum(1 for c, n in zip(cases, used, strict=True)
                                   if n <= (c.promised_limit or 0)),
            "trips": sum(c.trips for c in cases), "online": sum(1 for c in cases if not c.trips),
            "materials_once": once, "materials_apart": separate,
            "legal_sum": sum(int(c.legal_sum or 0) for c in cases)}, _histogram(used)))

    def add_items(self, items: list, days: calendar.WorkingDays | None) -> None:
        used, late = [], 0
        for item in items:
            days_used, was_late = _item_days(item, days)
            used.append(days_used)
            late += was_late
        self.add(Tally({
            "items": len(items), "items_late": late, "item_days": sum(used),
            "item_promised": sum(i.promised_days for i in items),
            "item_legal": sum(i.legal_days or 0 for i in items)}, {}, _histogram(used)))

    def row(self, key: str, name: str) -> Row:
        s = {name: int(value) for name, value in self.sums.items()}
        row = Row(key, name)
        row.applications = Applications(s["received"], s["accepted"], s["licensed"],
                                        s["refused"], s["not_accepted"], s["withdrawn"])
        row.window = Window(s["closed"], s["with_supplements"],
                            _share(s["with_supplements"], s["closed"]), s["deferred_cases"],
                            s["deferred_materials"], _share(s["deferred_cases"], s["accepted"]))
        row.inspections = Inspections(s["concluded"], s["first_visit"],
                                      _share(s["first_visit"], s["concluded"]))
        row.commitments = Commitments(s["commitments_approved"], s["post_check_passed"],
                                      s["post_check_failed"], s["post_check_pending"])
        n = s["cases"]
        if n:
            row.license_time = LicenseTime(
                _spread(self.case_days, s["case_days"]), _average(s["case_promised"], n),
                _average(s["case_legal"], n), s["within_promised"])
            row.dividend = Dividend(
                n, _average(s["trips"], n), s["online"], _average(s["materials_once"], n),
                _average(s["materials_apart"], n), _average(s["case_days"], n),
                _average(s["legal_sum"], n), _average(s["legal_sum"] - s["case_days"], n))
        n = s["items"]
        if n:
            row.items = Items(n, s["items_late"], _share(s["items_late"], n),
                              _spread(self.item_days, s["item_days"]),
                              _average(s["item_promised"], n), _average(s["item_legal"], n))
        return row


def _spread(histogram: dict[int, int], total: int) -> Spread:
    """:class:`Spread` of a histogram: the 90th percentile by nearest rank, as
    :meth:`Spread.of` takes it from the values."""
    count = sum(histogram.values())
    if not count:
        return Spread()
    rank, seen = math.ceil(0.9 * count), 0
    for days in sorted(histogram):
        seen += histogram[days]
        if seen >= rank:
            return Spread(count, _average(total, count), days)
    raise AssertionError("unreachable")


# --- the figures as tables (the console, CSV, Excel) ----------------------------------------


@dataclass(frozen=True)
class Column:
    """One figure of a row, by its path in :class:`Row` (``items.days.average``)."""

    path: str
    label: str
    share: bool = False  # a ratio: shown and exported as a percentage

    def read(self, row: Row) -> int | float | None:
        value: Any = row
        for name in self.path.split("."):
            value = getattr(value, name, None) if value is not None else None
        return value

    def export(self, row: Row) -> int | float | None:
        """The value in a CSV or Excel cell: percentages as numbers (33.33), None empty."""
        value = self.read(row)
        return round(value * 100, 2) if self.share and value is not None else value

    def shown(self, row: Row) -> str:
        """The value as a page shows it: 33.3%, 4.33, —."""
        value = self.read(row)
        if value is None:
            return "—"
        if self.share:
            return f"{value * 100:.1f}%"
        return f"{value:g}" if isinstance(value, float) else str(value)

    @property
    def heading(self) -> str:
        return f"{self.label}（%）" if self.share else self.label


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    columns: tuple[Column, ...]


SECTIONS: tuple[Section, ...] = (
    Section("applications", "办件量（件）", (
        Column("applications.received", "收件"), Column("applications.accepted", "受理"),
        Column("applications.licensed", "发证"), Column("applications.refused", "不予许可"),
        Column("applications.not_accepted", "不予受理"),
        Column("applications.withdrawn", "撤回"))),
    Section("license_time", "受理至发证用时（工作日）", (
        Column("license_time.days.count", "发证件数"),
        Column("license_time.days.average", "平均用时"),
        Column("license_time.days.p90", "90%分位用时"),
        Column("license_time.promised_limit_average", "平均承诺时限"),
        Column("license_time.legal_limit_average", "平均法定时限"),
        Column("license_time.within_promised", "承诺时限内发证（件）"))),
    Section("items", "审批事项办结（工作日）", (
        Column("items.decided", "办结事项"), Column("items.late", "超期办结"),
        Column("items.late_share", "超期率", share=True),
        Column("items.days.average", "平均用时"), Column("items.days.p90", "90%分位用时"),
        Column("items.promised_average", "平均承诺时限"),
        Column("items.legal_average", "平均法定时限"))),
    Section("window", "窗口受理", (
        Column("window.closed", "窗口办结（件）"),
        Column("window.with_supplements", "经补正（件）"),
        Column("window.supplement_share", "补正率", share=True),
        Column("window.deferred_cases", "容缺受理（件）"),
        Column("window.deferred_materials", "容缺材料（份）"),
        Column("window.deferred_share", "容缺受理率", share=True))),
    Section("inspections", "联合现场核查", (
        Column("inspections.concluded", "核查办结（件）"),
        Column("inspections.passed_first_visit", "一次通过（件）"),
        Column("inspections.first_visit_pass_rate", "一次通过率", share=True))),
    Section("commitments", "告知承诺（事项）", (
        Column("commitments.approved", "承诺即批"),
        Column("commitments.post_check_passed", "事后核查通过"),
        Column("commitments.post_check_failed", "核查不实撤销"),
        Column("commitments.post_check_pending", "待核查"))),
    Section("dividend", "改革红利（每件发证平均）", (
        Column("dividend.cases", "发证件数"), Column("dividend.trips_average", "跑窗口次数"),
        Column("dividend.online_cases", "全程网办（件）"),
        Column("dividend.materials_average", "提交材料（份）"),
        Column("dividend.separate_materials_average", "分别办理需交材料（份）"),
        Column("dividend.working_days_average", "用时（工作日）"),
        Column("dividend.legal_days_sum_average", "各事项法定时限之和"),
        Column("dividend.working_days_saved_average", "节省（工作日）"))),
    Section("ratings", "好差评", (
        Column("ratings.rated", "评价数"), Column("ratings.dissatisfied", "不满意（件）"),
        Column("ratings.dissatisfied_share", "不满意率", share=True),
        Column("ratings.rectification_tasks", "整改任务"),
        Column("ratings.rectification_overdue", "逾期未整改"))),
)


def sections_of(figures: Figures) -> list[Section]:
    """The sections a table of ``figures`` shows: 好差评 only once ratings answer."""
    rated = any(r.ratings is not None for r in [*figures.rows, figures.total])
    return [s for s in SECTIONS if s.key != "ratings" or rated]


def table(figures: Figures) -> list[list[Any]]:
    """The figures as one table for CSV and Excel: a header row (分组, then 节·figure), one
    row per group and the total last."""
    columns = [c for s in sections_of(figures) for c in s.columns]
    sections = {c.path: s.title for s in sections_of(figures) for c in s.columns}
    header = [GROUPINGS[figures.group_by],
              *(f"{sections[c.path]}·{c.heading}" for c in columns)]
    return [header, *([row.name, *(c.export(row) for c in columns)]
                      for row in [*figures.rows, figures.total])]


# --- the catalog's adjustment (晋政办发〔2022〕90号 三（三）) ------------------------------------


@dataclass
class IndustryVolume:
    code: str
    name: str
    category: str
    row: Row
    flagged: bool  # fewer applications received than the threshold


def low_volume_industries(session: Session, *, staff: StaffAccount, threshold: int,
                          year: int | None = None, today: date | None = None,
                          ) -> tuple[Period, list[IndustryVolume]]:
    """Every industry of the catalog in force (retired ones aside) with its figures over a
    year — the calendar ``year``, or the 365 days up to ``today`` — flagged when it received
    fewer than ``threshold`` applications (STATISTICS_LOW_VOLUME_CASES): a candidate to
    adjust out of the catalog (动态调整目录). The flagged first, fewest cases first."""
    permissions.require(staff, "catalog.view")
    today = today or clock.today()
    period = period_of("year", year=year) if year is not None else \
        Period("range", today - timedelta(days=364), today)
    figures = compute(session, period=period, group_by="industry", unit=None)
    rows = {row.key: row for row in figures.rows}
    industries = catalog.document_of(catalog.current_version(session)).industries
    out = [IndustryVolume(code, industry.name, industry.category,
                          rows.get(code) or Row(code, industry.name),
                          (rows[code].applications.received if code in rows else 0) < threshold)
           for code, industry in industries.items() if not industry.retired]
    order = list(industries)
    out.sort(key=lambda v: (not v.flagged, v.row.applications.received, order.index(v.code)))
    return period, out


# --- the cases behind a figure (drill-down) ----------------------------------------------

DRILL_FIGURES = {"received": (SUBMITTED, "收件"), "accepted": (ACCEPTED, "受理"),
                 "licensed": (ISSUED, "发证"), "refused": (REFUSED, "不予许可"),
                 "not_accepted": (NOT_ACCEPTED, "不予受理"), "withdrawn": (WITHDRAWN, "撤回")}
DRILL_PER_PAGE = 20


@dataclass
class CasesBehind:
    """One page of the applications a 办件量 count counts, oldest event first."""

    figure: str
    label: str
    key: str
    cases: list[Application]
    total: int
    page: int
    per_page: int


def cases_behind(session: Session, *, staff: StaffAccount, period: Period, group_by: str,
                 key: str, figure: str, unit: str | None = None, page: int = 1,
                 per_page: int = DRILL_PER_PAGE, county: str | None = None) -> CasesBehind:
    """The applications behind ``figure`` (DRILL_FIGURES: a 办件量 count) of the group
    ``key`` of ``group_by`` in ``period`` — exactly the cases :func:`figures` counts there,
    ``key`` PROVINCE for the total. Only what the staff member may see: a unit's reviewer
    only cases with an item of their own unit, and by unit only their unit (another is 404
    STATISTICS_UNIT_NOT_FOUND, as in :func:`scope_of`); ``county`` (a county's dashboard,
    :func:`county_of`): only that county's cases. 422 STATISTICS_FIGURE_INVALID for a
    figure that has no cases behind it."""
    scope = scope_of(session, staff, unit)
    county = county_of(staff, county)
    if figure not in DRILL_FIGURES or group_by not in GROUPINGS:
        raise FieldsInvalid("STATISTICS_FIGURE_INVALID", {"figure": {
            "code": "FIGURE_INVALID", "message": "只能查看办件量各项的办件"}})
    if group_by == "unit" and key != PROVINCE:
        if scope is not None and key != scope:
            raise _unit_not_found(key)
        scope = key
    action, label = DRILL_FIGURES[figure]
    event = ApplicationEvent
    counted = select(event.application_id).where(event.action == action,
                                                 _in(event.at, period))
    if figure == "withdrawn":
        counted = counted.where(event.from_state != workflow.State.DRAFT)
    query = select(Application).where(Application.id.in_(counted))
    if group_by in ("county", "industry") and key != PROVINCE:
        column = group_of(group_by)
        query = query.where(column == key if key else column.is_(None))
    if scope is not None:
        query = query.where(Application.id.in_(select(ApplicationItem.application_id).where(
            ApplicationItem.approving_unit == scope)))
    if county is not None:
        query = query.where(group_of("county") == county)
    first_event = select(func.min(event.at)).where(
        event.application_id == Application.id, event.action == action,
        _in(event.at, period)).scalar_subquery()
    found, total = pages.page(session, query, first_event, Application.id, page=page,
                              per_page=per_page)
    return CasesBehind(figure, label, key, found, total, page, per_page)


# --- the dashboard ------------------------------------------------------------------------

TREND_MONTHS = 12


@dataclass
class Dashboard:
    """A role's dashboard: the month's figures by unit (a reviewer: their own unit; a
    county's: its cases only), the twelve months up to it in total — what the console draws
    as charts — and the slowest unit of the month."""

    figures: Figures
    trend: list[tuple[Period, Row]]

    @property
    def slowest(self) -> Row | None:
        """The unit whose decided items took longest on average (working days), the later
        share of them breaking a tie; None when no unit decided an item."""
        decided = [r for r in self.figures.rows if r.items.decided]
        return max(decided, key=lambda r: (r.items.days.average or 0,
                                           r.items.late_share or 0), default=None)

    def chart_data(self) -> dict[str, Any]:
        """The charts' data as plain JSON (the page passes it in a JSON script block)."""
        rows = [r for r in self.figures.rows if r.applications.received
                or r.items.decided or r.license_time.days.count] or self.figures.rows
        return {
            "months": [f"{p.first:%Y-%m}" for p, _ in self.trend],
            "received": [r.applications.received for _, r in self.trend],
            "licensed": [r.applications.licensed for _, r in self.trend],
            "average_days": [r.license_time.days.average for _, r in self.trend],
            "units": [r.name for r in rows],
            "unit_items_days": [r.items.days.average for r in rows],
            "unit_late_share": [None if r.items.late_share is None
                                else round(r.items.late_share * 100, 1) for r in rows],
        }


def dashboard(session: Session, *, staff: StaffAccount, month: str | None = None,
              unit: str | None = None, county: str | None = None) -> Dashboard:
    """The dashboard of ``month`` (YYYY-MM, default the current one) for ``staff``: the
    province for administrators (or a unit or a county they pick), their own county for
    county-level staff, their own unit for a unit's reviewer (404
    STATISTICS_UNIT_NOT_FOUND / STATISTICS_COUNTY_NOT_FOUND for another, as
    :func:`scope_of` and :func:`county_of`)."""
    period = period_of("month", month=month)
    county = county_of(staff, county)
    if county is None:
        figures_of = figures(session, staff=staff, period=period, group_by="unit", unit=unit)
    else:
        figures_of = compute(session, period=period, group_by="unit",
                             unit=scope_of(session, staff, unit), county=county)
    trend = []
    first = period.first
    for back in range(TREND_MONTHS - 1, -1, -1):
        number = first.year * 12 + first.month - 1 - back
        month_period_ = month_period(number // 12, number % 12 + 1)
        if month_period_.first.year < calendar.FIRST_YEAR:
            continue
        trend.append((month_period_, compute(
            session, period=month_period_, group_by="unit" if county else "province",
            unit=figures_of.unit, county=county).total))
    return Dashboard(figures_of, trend)


@dataclass
class DecidedItem:
    """A permit item a unit decided, with the working days it took (see :func:`scan`)."""

    application: Application
    item_code: str
    item_name: str
    accepted_on: date
    decided_on: date
    due_on: date | None
    promised_days: int
    working_days: int  # from acceptance, less the pause credited to the item
    late_days: int  # working days after the deadline (0: in time)


@dataclass
class ItemsBehind:
    """One page of the items behind a unit's 审批事项办结 figures, the longest first."""

    unit: str
    unit_name: str
    county: str | None
    items: list[DecidedItem]
    total: int
    late: int
    page: int
    per_page: int


def items_behind(session: Session, *, staff: StaffAccount, period: Period, unit: str,
                 county: str | None = None, page: int = 1, per_page: int = DRILL_PER_PAGE,
                 ) -> ItemsBehind:
    """The items ``unit`` decided in ``period`` (of ``county``'s cases only, when given),
    the most working days first, the late ones with how late — why a unit is slow: exactly
    the items its 审批事项办结 figures count. Access as :func:`scope_of` and
    :func:`county_of` (404 STATISTICS_UNIT_NOT_FOUND / STATISTICS_COUNTY_NOT_FOUND)."""
    unit = scope_of(session, staff, unit)
    county = county_of(staff, county)
    query = _decided_query(period, "unit", unit)
    if county is not None:
        query = query.where(group_of("county") == county)
    found = list(session.execute(query))
    days = _calendar(session, [_Dated([], found)])
    measured = sorted(((*_item_days(row, days), row) for row in found),
                      key=lambda m: (-m[0], -m[1], m[2].application_id, m[2].item_code))
    shown = measured[(page - 1) * per_page:page * per_page]
    cases = {a.id: a for a in session.scalars(select(Application).where(
        Application.id.in_({row.application_id for *_, row in shown})))}
    documents = _Documents(session)
    names = {code: item.name for code, item in documents.current().permit_items.items()}
    items = [DecidedItem(cases[row.application_id], row.item_code,
                         names.get(row.item_code, row.item_code), row.accepted_on,
                         _as_date(row.decided_on), row.due_on, row.promised_days, used,
                         days.between(row.due_on, _as_date(row.decided_on)) if late else 0)
             for used, late, row in shown]
    unit_names = _names(session, "unit", [unit], documents)
    return ItemsBehind(unit, unit_names[unit], county, items, len(measured),
                       sum(1 for _, late, _ in measured if late), page, per_page)


class _Dated:
    """Licensed and decided rows as :func:`_calendar` reads a :class:`_Raw`."""

    def __init__(self, licensed: list, decided: list):
        self.licensed, self.decided = licensed, decided

    dates = _Raw.dates


def _item_days(item, days: calendar.WorkingDays | None) -> tuple[int, bool]:
    """(working days an item took from acceptance, less the pause credited to it; whether
    it was decided after its deadline)."""
    credited = days.between(item.accepted_on, item.due_on) - item.promised_days \
        if item.due_on else 0
    return (days.between(item.accepted_on, _as_date(item.decided_on)) - credited,
            bool(item.due_on and _as_date(item.decided_on) > item.due_on))
