"""The joint inspection (一同核查): scheduling, results with photos, conclusion, re-check."""

from __future__ import annotations

from flask import current_app

from backend import files, presenters
from backend.extensions import db
from backend.services import inspections, materials
from miniprogram_api.schemas import InspectionOut
from staff_api import bp
from staff_api.auth import current_staff, requires, staff_auth
from staff_api.schemas import (
    ConcludeIn,
    InspectionPage,
    InspectionQuery,
    PhotoOut,
    PhotoReviewIn,
    ResultIn,
    ScheduleIn,
)

CONFLICTS = {403: "FORBIDDEN_ROLE", 404: "不存在或未分配给您（不区分）",
             409: "STATE_CONFLICT / VERSION_CONFLICT", 422: "校验失败（逐项列出）"}


def _out(inspection) -> dict:
    return presenters.inspection_out(inspection, f"staff:{current_staff().id}")


def _page(query_data: InspectionQuery, mine: bool) -> dict:
    rows, total = inspections.queue(db.session, staff=current_staff(), status=query_data.status,
                                    mine=mine, page=query_data.page,
                                    per_page=query_data.per_page, kind=query_data.kind,
                                    overdue=query_data.overdue)
    return {"total": total, "page": query_data.page, "per_page": query_data.per_page,
            "inspections": [_out(i) for i in rows]}


@bp.get("/inspections")
@bp.auth_required(staff_auth)
@requires("inspection.list_all")
@bp.input(InspectionQuery, location="query")
@bp.output(InspectionPage)
def list_inspections(query_data: InspectionQuery):
    """核查协调：全部联合核查与告知承诺事后核查（可按状态、种类筛选；overdue=true 只列超期的
    事后核查）"""
    return _page(query_data, mine=False)


@bp.get("/inspections/mine")
@bp.auth_required(staff_auth)
@requires("inspection.list_mine")
@bp.input(InspectionQuery, location="query")
@bp.output(InspectionPage)
def my_inspections(query_data: InspectionQuery):
    """分配给我的联合核查"""
    return _page(query_data, mine=True)


@bp.get("/inspections/<int:inspection_id>")
@bp.auth_required(staff_auth)
@bp.output(InspectionOut)
@bp.doc(responses=CONFLICTS)
def get_inspection(inspection_id: int):
    """一次联合核查"""
    return _out(inspections.get_for_staff(db.session, staff=current_staff(),
                                          inspection_id=inspection_id))


def _commit(inspection) -> dict:
    db.session.commit()
    return _out(inspection)


@bp.post("/inspections/<int:inspection_id>/schedule")
@bp.auth_required(staff_auth)
@requires("inspection.schedule")
@bp.input(ScheduleIn)
@bp.output(InspectionOut)
@bp.doc(responses=CONFLICTS)
def schedule(inspection_id: int, json_data: ScheduleIn):
    """安排（或改期后重新安排）联合现场核查：日期、时间段、地址、各单位核查人员"""
    return _commit(inspections.schedule(
        db.session, staff=current_staff(), inspection_id=inspection_id,
        version=json_data.version, on=json_data.date, window_text=json_data.window,
        address=json_data.address, team=json_data.team))


@bp.post("/inspections/<int:inspection_id>/photos")
@bp.auth_required(staff_auth)
@bp.output(PhotoOut, status_code=201)
@bp.doc(responses={**files.UPLOAD_RESPONSES, **CONFLICTS})
def upload_photo(inspection_id: int):
    """上传核查照片（multipart/form-data，字段 file；经同一上传安全流程；仅照片，PDF 为 415
    UPLOAD_PHOTO_ONLY）"""
    staff = current_staff()
    inspection = inspections.get_for_staff(db.session, staff=staff, inspection_id=inspection_id)
    row = inspections.add_photo(
        db.session, staff=staff, inspection=inspection, stream=files.upload_stream(),
        store=current_app.extensions["media_store"],
        limits=materials.limits_from(current_app.extensions["settings"]))
    db.session.commit()
    out = presenters.file_out(row, f"staff:{staff.id}")
    return {"sha256": row.sha256, "url": out["url"], "thumbnail_url": out["thumbnail_url"]}


@bp.post("/inspections/<int:inspection_id>/results")
@bp.auth_required(staff_auth)
@requires("inspection.record_result")
@bp.input(ResultIn)
@bp.output(InspectionOut)
@bp.doc(responses=CONFLICTS)
def record_result(inspection_id: int, json_data: ResultIn):
    """记录本单位事项的现场核查结果（可确认容缺材料）"""
    row = inspections.record_result(
        db.session, staff=current_staff(), inspection_id=inspection_id,
        item_code=json_data.item_code, result=json_data.result, notes=json_data.notes,
        demands=json_data.demands, photos=json_data.photos,
        confirmed_materials=json_data.confirmed_materials)
    return _commit(row.inspection)


@bp.post("/inspections/<int:inspection_id>/conclude")
@bp.auth_required(staff_auth)
@requires("inspection.conclude")
@bp.input(ConcludeIn)
@bp.output(InspectionOut)
@bp.doc(responses=CONFLICTS)
def conclude(inspection_id: int, json_data: ConcludeIn):
    """结束核查：通过；或一次性告知整改意见（期限、复核方式）；或不通过"""
    return _commit(inspections.conclude(
        db.session, staff=current_staff(), inspection_id=inspection_id,
        version=json_data.version, deadline=json_data.deadline,
        recheck_mode=json_data.recheck_mode))


@bp.post("/inspections/<int:inspection_id>/photo-review")
@bp.auth_required(staff_auth)
@requires("inspection.conclude")
@bp.input(PhotoReviewIn)
@bp.output(InspectionOut)
@bp.doc(responses=CONFLICTS)
def photo_review(inspection_id: int, json_data: PhotoReviewIn):
    """照片复核整改情况：通过或不通过"""
    return _commit(inspections.photo_review(
        db.session, staff=current_staff(), inspection_id=inspection_id,
        version=json_data.version, passed=json_data.passed, notes=json_data.notes))
