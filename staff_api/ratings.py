"""好差评 on the staff side: the window records a rating the applicant gives on its tablet;
the units work the rectification tasks of bad ratings (verify, follow up, close) and
administrators oversee them (backend/services/ratings.py, rectifications.py)."""

from __future__ import annotations

from flask import current_app

from backend import presenters
from backend.extensions import db
from backend.services import ratings, rectifications
from miniprogram_api.schemas import RatingIn, RatingStatus
from staff_api import bp
from staff_api.auth import current_staff, requires, staff_auth
from staff_api.schemas import (
    CloseIn,
    FollowUpIn,
    RectificationDetail,
    RectificationPage,
    RectificationQuery,
    VerifyIn,
)

CONFLICTS = {403: "FORBIDDEN_ROLE", 404: "不存在或无权查看（不区分）",
             409: "STATE_CONFLICT / VERSION_CONFLICT（附当前状态）"}


@bp.post("/applications/<int:application_id>/rating")
@bp.auth_required(staff_auth)
@requires("rating.record_at_window")
@bp.input(RatingIn)
@bp.output(RatingStatus, status_code=201)
@bp.doc(responses={404: "APPLICATION_NOT_FOUND",
                   409: "RATING_NOT_OPEN / RATING_ALREADY_GIVEN / RATING_WINDOW_CLOSED",
                   422: "RATING_INVALID"})
def rate_at_window(application_id: int, json_data: RatingIn):
    """窗口评价器：记录申请人在窗口平板上给出的评价（由申请人选择，记录经办专员）"""
    rating = ratings.rate_at_window(
        db.session, staff=current_staff(), application_id=application_id,
        rules=ratings.rules_from(current_app.extensions["settings"]), level=json_data.level,
        tags=json_data.tags, comment=json_data.comment, unit=json_data.unit)
    db.session.commit()
    return presenters.rating_status(rating.application)


@bp.get("/rectifications")
@bp.auth_required(staff_auth)
@requires("rectification.view")
@bp.input(RectificationQuery, location="query")
@bp.output(RectificationPage)
def list_rectifications(query_data: RectificationQuery):
    """差评整改任务：本单位的（审核人员）或全部（管理员）；默认未办结，超期的在前"""
    rows, total = rectifications.tasks(db.session, staff=current_staff(), view=query_data.view,
                                       page=query_data.page, per_page=query_data.per_page)
    return {"total": total, "page": query_data.page, "per_page": query_data.per_page,
            "tasks": presenters.rectification_tasks(rows)}


def _detail(task) -> dict:
    return presenters.rectification_detail(task, current_staff())


@bp.get("/rectifications/<int:task_id>")
@bp.auth_required(staff_auth)
@requires("rectification.view")
@bp.output(RectificationDetail)
@bp.doc(responses=CONFLICTS)
def get_rectification(task_id: int):
    """一个整改任务：评价、核实、回访、办结与经办记录"""
    return _detail(rectifications.get(db.session, staff=current_staff(), task_id=task_id))


def _commit(task) -> dict:
    db.session.commit()
    return _detail(task)


@bp.post("/rectifications/<int:task_id>/verify")
@bp.auth_required(staff_auth)
@requires("rectification.act")
@bp.input(VerifyIn)
@bp.output(RectificationDetail)
@bp.doc(responses=CONFLICTS)
def verify_rectification(task_id: int, json_data: VerifyIn):
    """核实差评反映的问题（属实 / 不属实，写明情况）"""
    return _commit(rectifications.verify(
        db.session, staff=current_staff(), task_id=task_id, version=json_data.version,
        founded=json_data.founded, notes=json_data.notes))


@bp.post("/rectifications/<int:task_id>/follow-up")
@bp.auth_required(staff_auth)
@requires("rectification.act")
@bp.input(FollowUpIn)
@bp.output(RectificationDetail)
@bp.doc(responses=CONFLICTS | {422: "FOLLOW_UP_INVALID（回访时间）"})
def follow_up_rectification(task_id: int, json_data: FollowUpIn):
    """记录回访：何时、以何种方式、申请人的意见、是否满意（核实后；可再次回访）"""
    return _commit(rectifications.follow_up(
        db.session, staff=current_staff(), task_id=task_id, version=json_data.version,
        contacted_at=json_data.contacted_at, method=json_data.method,
        applicant_said=json_data.applicant_said, satisfied=json_data.satisfied))


@bp.post("/rectifications/<int:task_id>/close")
@bp.auth_required(staff_auth)
@requires("rectification.act")
@bp.input(CloseIn)
@bp.output(RectificationDetail)
@bp.doc(responses=CONFLICTS)
def close_rectification(task_id: int, json_data: CloseIn):
    """办结整改任务（须已回访申请人）"""
    return _commit(rectifications.close(db.session, staff=current_staff(), task_id=task_id,
                                        version=json_data.version, note=json_data.note))
