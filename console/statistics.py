"""统计分析 and 绩效考评 in the console: the figures of a period by unit, county or industry
(tables and CSV), and each unit's monthly scorecard (table, PDF, Excel).

The same services as the staff API's ``GET /statistics`` (staff_api/statistics.py):
administrators see every unit, a unit's reviewer only their own (``statistics.scope_of``).
"""

from __future__ import annotations

from typing import Annotated, Literal

from flask import current_app, render_template, request, url_for
from pydantic import Field, StringConstraints

from backend import workflow
from backend.errors import RuleViolation
from backend.extensions import db
from backend.security import permissions
from backend.services import departments, divisions, scorecard, statistics
from console import bp
from console.forms import problem_of
from console.forms import query as query_of
from console.session import current_staff
from media import tables
from staff_api.schemas import In, StatisticsQuery
from staff_api.statistics import period_of


def _figures(query: StatisticsQuery) -> tuple[statistics.Figures, dict | None]:
    """The figures the query asks for; a period it names wrongly is told in place and the
    current month shown instead."""
    problem = None
    try:
        period = period_of(query)
    except RuleViolation as error:
        problem, period = problem_of(error), statistics.period_of("month")
    return statistics.figures(db.session, staff=current_staff(), period=period,
                              group_by=query.group_by, unit=query.unit), problem


@bp.get("/statistics")
def statistics_page():
    """The figures of a period as tables, one per kind of figure, with the total."""
    query = query_of(StatisticsQuery)
    figures, problem = _figures(query)
    staff = current_staff()
    units = departments.units(db.session) \
        if permissions.allowed(staff.role, "statistics.view_all") else None
    args = {k: v for k, v in request.args.items() if v}

    def drill(group_by: str, key: str, figure: str) -> str:
        return url_for("console.statistics_cases", **(args | {
            "group_by": group_by, "key": key, "figure": figure}))

    return render_template(
        "statistics/page.html", title="统计分析", figures=figures, query=query,
        sections=statistics.sections_of(figures), groupings=statistics.GROUPINGS,
        kinds=statistics.PERIOD_KINDS, units=units, args=args, drill=drill,
        problem=problem), 422 if problem else 200


COUNTY = Annotated[str, StringConstraints(pattern=r"^[0-9]{6}$")] | None


class CasesQuery(StatisticsQuery):
    county: COUNTY = Field(default=None, description="只看该县（市、区）的办件（县级统计概览）")
    key: Annotated[str, StringConstraints(max_length=160)] = Field(
        default=statistics.PROVINCE, description="分组的键（单位、县、行业代码；all 为合计）")
    figure: Literal[tuple(statistics.DRILL_FIGURES)] = Field(default="received")
    page: int = Field(default=1, ge=1)


@bp.get("/statistics/cases")
def statistics_cases():
    """The applications behind a 办件量 count of the statistics tables, 20 a page; only
    what the staff member may see (statistics.cases_behind)."""
    query = query_of(CasesQuery)
    period = period_of(query)
    found = statistics.cases_behind(db.session, staff=current_staff(), period=period,
                                    group_by=query.group_by, key=query.key,
                                    figure=query.figure, unit=query.unit, page=query.page,
                                    county=query.county)
    documents = statistics._Documents(db.session)
    names = statistics._names(db.session, query.group_by, [query.key], documents)
    group_name = "合计" if query.key == statistics.PROVINCE else \
        names.get(query.key, query.key or "未填写")
    industries = {code: i.name for code, i in documents.current().industries.items()}
    args = {k: v for k, v in request.args.items() if v and k != "page"}
    back = {k: v for k, v in args.items() if k not in {"key", "figure"}}
    back_to = ("console.dashboard_page", {"month": back.get("month"), "unit": back.get("unit"),
                                          "county": query.county}) if query.county \
        else ("console.statistics_page", back)
    return render_template(
        "statistics/cases.html", title=f"{found.label}办件", found=found, period=period,
        back_to=back_to,
        county_name=divisions.county_name(query.county) if query.county else None,
        group_name=group_name, industries=industries, args=args, back_args=back,
        states={s.value: workflow.label(s.value) for s in workflow.State},
        counties=lambda case: divisions.county_name(
            case.form_values.get("premises_county_code") or "") or "—")


@bp.get("/statistics.csv")
def statistics_csv():
    """The same figures as one CSV table (UTF-8 with BOM, for Excel)."""
    query = query_of(StatisticsQuery)
    figures = statistics.figures(db.session, staff=current_staff(), period=period_of(query),
                                 group_by=query.group_by, unit=query.unit)
    name = f"statistics-{figures.period.slug}-{figures.group_by}.csv"
    return tables.csv_bytes(statistics.table(figures)), 200, {
        "Content-Type": "text/csv; charset=utf-8",
        "Content-Disposition": f"attachment; filename={name}"}


class MonthQuery(In):
    month: Annotated[str, StringConstraints(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$")] | None = \
        Field(default=None)


class DashboardQuery(MonthQuery):
    unit: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None
    county: COUNTY = None


class ItemsQuery(DashboardQuery):
    unit: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    page: int = Field(default=1, ge=1)


@bp.get("/dashboard")
def dashboard_page():
    """A role's dashboard: the province (administrators, or a unit or county they pick),
    a county-level staff member's county, or the reviewer's own unit — charts of the twelve
    months and of the units, the slowest unit of the month with the items behind it, and
    the month's tables whose counts open the cases behind them."""
    query = query_of(DashboardQuery)
    staff = current_staff()
    board = statistics.dashboard(db.session, staff=staff, month=query.month,
                                 unit=query.unit, county=query.county)
    figures = board.figures
    args = {"period": "month", "month": f"{figures.period.first:%Y-%m}", "group_by": "unit"}
    if figures.unit:
        args["unit"] = figures.unit
    if figures.county:
        args["county"] = figures.county
    counties = divisions.listing()["cities"] if not staff.county_code and \
        permissions.allowed(staff.role, "statistics.view_all") else None

    def drill(group_by: str, key: str, figure: str) -> str:
        return url_for("console.statistics_cases", **(args | {
            "group_by": group_by, "key": key, "figure": figure}))

    sections = [s for s in statistics.sections_of(figures)
                if s.key in {"applications", "license_time", "items"}]
    return render_template(
        "statistics/dashboard.html", title="统计概览", board=board, figures=figures,
        sections=sections, grouping=statistics.GROUPINGS["unit"], drill=drill,
        chart_data=board.chart_data(), args=args, counties=counties)


@bp.get("/statistics/items")
def statistics_items():
    """The items a unit decided in a month (of a county's cases, from a county's
    dashboard), the longest first, the late ones with how late: why a unit is slow."""
    query = query_of(ItemsQuery)
    period = statistics.period_of("month", month=query.month)
    found = statistics.items_behind(db.session, staff=current_staff(), period=period,
                                    unit=query.unit, county=query.county, page=query.page)
    args = {k: v for k, v in {"month": f"{period.first:%Y-%m}", "unit": found.unit,
                              "county": found.county}.items() if v}
    return render_template(
        "statistics/items.html", title=f"{found.unit_name}办结事项", found=found,
        period=period, args=args,
        county_name=divisions.county_name(found.county) if found.county else None,
        back={k: v for k, v in args.items() if k != "unit"})


def _card() -> scorecard.Scorecard:
    return scorecard.monthly(db.session, staff=current_staff(),
                             weights=current_app.extensions["scorecard_weights"],
                             month=query_of(MonthQuery).month)


@bp.get("/scorecard")
def scorecard_page():
    """Each unit's monthly score (a reviewer: their own unit), with its marks."""
    card = _card()
    return render_template("statistics/scorecard.html", title="绩效考评", card=card,
                           rows=scorecard.rows(card, text=True),
                           month=f"{card.period.first:%Y-%m}")


@bp.get("/scorecard.pdf")
def scorecard_pdf():
    """The scorecard printed (landscape A4), shown in the browser."""
    card = _card()
    pdf = scorecard.pdf(card, font_path=current_app.extensions["settings"].LICENSE_FONT_PATH
                        or None)
    return pdf, 200, {"Content-Type": "application/pdf",
                      "Content-Disposition": f"inline; filename=scorecard-"
                                             f"{card.period.slug}.pdf"}


@bp.get("/scorecard.xlsx")
def scorecard_xlsx():
    """The scorecard and the month's figures by unit as an Excel workbook."""
    card = _card()
    return scorecard.workbook(card), 200, {
        "Content-Type": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "Content-Disposition": f"attachment; filename=scorecard-{card.period.slug}.xlsx"}
