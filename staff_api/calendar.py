"""The holiday table behind every working-day time limit, kept by administrators."""

from __future__ import annotations

from datetime import date

from backend.extensions import db
from backend.services import calendar
from staff_api import bp
from staff_api.auth import current_staff, requires, staff_auth
from staff_api.schemas import CalendarDayIn, CalendarDayOut, CalendarQuery, CalendarYear


def _day(row) -> dict:
    return {"day": row.day, "is_workday": row.is_workday, "name": row.name,
            "source": row.source, "updated_by": row.updated_by}


@bp.get("/calendar")
@bp.auth_required(staff_auth)
@requires("time_limits.view")
@bp.input(CalendarQuery, location="query")
@bp.output(CalendarYear)
def list_calendar(query_data: CalendarQuery):
    """一年中的节假日与调休上班日（其余日期按周一至周五上班）"""
    rows = calendar.list_days(db.session, year=query_data.year)
    provisional = calendar.day_info(db.session, date(query_data.year, 1, 1)).provisional
    return {"year": query_data.year, "provisional": provisional,
            "days": [_day(r) for r in rows]}


@bp.put("/calendar/<day>")
@bp.auth_required(staff_auth)
@requires("calendar.edit")
@bp.input(CalendarDayIn)
@bp.output(CalendarDayOut)
@bp.doc(responses={403: "FORBIDDEN_ROLE", 422: "日期格式应为 YYYY-MM-DD"})
def set_calendar_day(day: str, json_data: CalendarDayIn):
    """设置某日为节假日或调休上班日（如国务院公布次年安排后录入）"""
    row = calendar.edit_day(db.session, staff=current_staff(), day=calendar.parse_day(day),
                            is_workday=json_data.is_workday, name=json_data.name)
    db.session.commit()
    return _day(row)
