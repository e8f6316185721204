"""Licenses on the staff side: issue, review requests, suspend or revoke a unit's item."""

from __future__ import annotations

from backend import presenters
from backend.extensions import db
from backend.services import elicense_downloads, licenses
from miniprogram_api.schemas import LicenseOut
from staff_api import bp
from staff_api.auth import current_staff, requires, staff_auth
from staff_api.schemas import DownloadRecordList, ItemStatusIn, RequestDecisionIn, RequestList

CONFLICTS = {403: "FORBIDDEN_ROLE", 404: "不存在或无权查看",
             409: "STATE_CONFLICT / VERSION_CONFLICT / LICENSE_NOT_ACTIVE"}


def _out(license_) -> dict:
    out = presenters.license_out(license_, f"staff:{current_staff().id}")
    db.session.commit()  # the first view of a version keeps its rendered image
    return out


@bp.post("/applications/<int:application_id>/license")
@bp.auth_required(staff_auth)
@requires("license.issue")
@bp.output(LicenseOut, status_code=201)
@bp.doc(responses={200: "已核发过：返回同一张证（幂等）", **CONFLICTS})
def issue_license(application_id: int):
    """核发行业综合许可证（审批通过后；重复调用返回同一张证）"""
    license_, created = licenses.issue(db.session, staff=current_staff(),
                                       application_id=application_id)
    db.session.commit()
    return _out(license_), 201 if created else 200


@bp.get("/licenses/<int:license_id>")
@bp.auth_required(staff_auth)
@requires("license.view")
@bp.output(LicenseOut)
@bp.doc(responses={404: "LICENSE_NOT_FOUND：不存在，或与本人无关（本单位无事项、未参加核查）"})
def get_license(license_id: int):
    """一张许可证的详情与各事项状态（与申请同一可见规则）"""
    return _out(licenses.get_for_staff(db.session, staff=current_staff(), license_id=license_id))


@bp.get("/licenses/<int:license_id>/downloads")
@bp.auth_required(staff_auth)
@requires("license.downloads")
@bp.output(DownloadRecordList)
@bp.doc(responses={404: "LICENSE_NOT_FOUND"})
def license_downloads(license_id: int):
    """持证人下载该证各电子证照的记录（用证事由、时间、客户端地址；系统管理员）"""
    rows = elicense_downloads.of_license(db.session, staff=current_staff(),
                                         license_id=license_id)
    return {"total": len(rows), "downloads": rows}


@bp.get("/license-requests")
@bp.auth_required(staff_auth)
@requires("license.handle_requests")
@bp.output(RequestList)
def list_license_requests():
    """待我处理的变更（本单位审核）、延续与补发（窗口决定）"""
    rows = licenses.pending_requests(db.session, staff=current_staff())
    return {"total": len(rows), "requests": [
        {"id": c.id, "version": c.lock_version, "license_id": c.license_id,
         "license_no": c.license.license_no, "kind": c.kind, "changes": c.changes,
         "reason": c.reason, "created_at": c.created_at} for c in rows]}


@bp.post("/license-requests/<int:request_id>/decide")
@bp.auth_required(staff_auth)
@requires("license.handle_requests")
@bp.input(RequestDecisionIn)
@bp.output(LicenseOut)
@bp.doc(responses=CONFLICTS)
def decide_license_request(request_id: int, json_data: RequestDecisionIn):
    """审核变更（各相关单位）或决定延续、补发（窗口）"""
    change = licenses.decide(db.session, staff=current_staff(), change_id=request_id,
                             approve=json_data.approve, opinion=json_data.opinion,
                             version=json_data.version)
    db.session.commit()
    return _out(change.license)


@bp.post("/licenses/<int:license_id>/items/<item_code>/<any(suspend, revoke, restore):action>")
@bp.auth_required(staff_auth)
@requires("license.item_status")
@bp.input(ItemStatusIn)
@bp.output(LicenseOut)
@bp.doc(responses=CONFLICTS)
def set_item_status(license_id: int, item_code: str, action: str, json_data: ItemStatusIn):
    """本单位暂停、吊销或恢复许可证中的一个事项（必备事项失效则整证失效）"""
    license_ = licenses.set_item_status(
        db.session, staff=current_staff(), license_id=license_id, item_code=item_code,
        action=action, reason=json_data.reason, version=json_data.version)
    db.session.commit()
    return _out(license_)
