"""改革成效统计 for other systems: the console's figures as JSON, and the industries the
catalog administrator may adjust out (backend.services.statistics)."""

from __future__ import annotations

from dataclasses import asdict

from flask import current_app

from backend.extensions import db
from backend.services import statistics
from staff_api import bp
from staff_api.auth import current_staff, requires, staff_auth
from staff_api.schemas import LowVolumeOut, LowVolumeQuery, StatisticsOut, StatisticsQuery


def period_json(period: statistics.Period) -> dict:
    return {"kind": period.kind, "first": period.first, "last": period.last,
            "label": period.label}


def figures_json(figures: statistics.Figures) -> dict:
    return {"period": period_json(figures.period), "group_by": figures.group_by,
            "unit": {"code": figures.unit, "name": figures.unit_name} if figures.unit else None,
            "rows": [asdict(row) for row in figures.rows], "total": asdict(figures.total)}


def period_of(query: StatisticsQuery) -> statistics.Period:
    """The period a statistics query names (422 STATISTICS_PERIOD_INVALID)."""
    return statistics.period_of(query.period, day=query.day, month=query.month,
                                year=query.year, since=query.since, until=query.until)


@bp.get("/statistics")
@bp.auth_required(staff_auth)
@requires("statistics.view")
@bp.input(StatisticsQuery, location="query")
@bp.output(StatisticsOut)
@bp.doc(responses={403: "FORBIDDEN_ROLE",
                   404: "STATISTICS_UNIT_NOT_FOUND：无此审批单位或非本单位（不区分）",
                   422: "STATISTICS_PERIOD_INVALID（details.fields 指出有误的期间参数）"})
def statistics_figures(query_data: StatisticsQuery):
    """改革成效统计（按审批单位、县或行业分组）

    收件、受理、发证、不予许可、不予受理、撤回；受理至发证用时（平均、90% 分位）与承诺、
    法定时限；各单位事项超期率；补正率；联合核查一次通过率；容缺受理；改革红利（跑窗口
    次数、材料份数、用时与各事项法定时限之和）。附合计。管理员可看全部单位，审核人员只能
    看本单位。
    """
    return figures_json(statistics.figures(
        db.session, staff=current_staff(), period=period_of(query_data),
        group_by=query_data.group_by, unit=query_data.unit))


@bp.get("/catalog/low-volume")
@bp.auth_required(staff_auth)
@requires("catalog.view")
@bp.input(LowVolumeQuery, location="query")
@bp.output(LowVolumeOut)
@bp.doc(responses={403: "FORBIDDEN_ROLE"})
def catalog_low_volume(query_data: LowVolumeQuery):
    """案件量偏少的行业（目录动态调整参考）

    现行目录各行业一年的办件情况；一年收件少于 STATISTICS_LOW_VOLUME_CASES 的标记为建议
    评估调整。
    """
    threshold = current_app.extensions["settings"].STATISTICS_LOW_VOLUME_CASES
    period, industries = statistics.low_volume_industries(
        db.session, staff=current_staff(), threshold=threshold, year=query_data.year)
    return {"period": period_json(period), "threshold": threshold,
            "industries": [{"code": i.code, "name": i.name, "category": i.category,
                            "flagged": i.flagged, "figures": asdict(i.row)}
                           for i in industries]}
