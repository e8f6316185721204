"""The holder's licenses (image to save and print), its requests, and the inspector's scan."""

from __future__ import annotations

from flask import current_app

from backend import presenters
from backend.extensions import db
from backend.services import licenses, verification
from miniprogram_api import bp
from miniprogram_api.auth import token_auth
from miniprogram_api.schemas import (
    CancelIn,
    LicenseList,
    LicenseOut,
    LicenseRequestIn,
    ScanIn,
    VerifyOut,
)
from staff_api.auth import requires, staff_auth


def _out(license_) -> dict:
    return presenters.license_out(license_, f"applicant:{token_auth.current_user.id}")


@bp.get("/licenses")
@bp.auth_required(token_auth)
@bp.output(LicenseList)
def my_licenses():
    """我的行业综合许可证（含证照图片链接）"""
    rows = licenses.list_own(db.session, applicant=token_auth.current_user)
    out = {"total": len(rows), "licenses": [_out(lic) for lic in rows]}
    db.session.commit()  # a first view renders and keeps the image
    return out


@bp.get("/licenses/<int:license_id>")
@bp.auth_required(token_auth)
@bp.output(LicenseOut)
def my_license(license_id: int):
    """一张许可证：最新状态、证照图片与二维码内容"""
    out = _out(licenses.get_own(db.session, applicant=token_auth.current_user,
                                license_id=license_id))
    db.session.commit()
    return out


@bp.post("/licenses/<int:license_id>/requests")
@bp.auth_required(token_auth)
@bp.input(LicenseRequestIn)
@bp.output(LicenseOut, status_code=201)
@bp.doc(responses={409: "LICENSE_REQUEST_PENDING / LICENSE_NOT_ACTIVE",
                   422: "LICENSE_CHANGE_INVALID / LICENSE_RENEWAL_TOO_EARLY"})
def request_change(license_id: int, json_data: LicenseRequestIn):
    """申请变更（名称、地址、法定代表人）、延续或补发"""
    change = licenses.request(db.session, applicant=token_auth.current_user,
                              license_id=license_id, kind=json_data.kind,
                              changes=dict(json_data.changes), reason=json_data.reason)
    db.session.commit()
    return _out(change.license)


@bp.post("/licenses/<int:license_id>/cancel")
@bp.auth_required(token_auth)
@bp.input(CancelIn)
@bp.output(LicenseOut)
@bp.doc(responses={409: "LICENSE_NOT_ACTIVE：已吊销或已注销的许可证不能注销"})
def cancel_license(license_id: int, json_data: CancelIn):
    """注销许可证（扫码即显示已注销）"""
    license_ = licenses.cancel(db.session, applicant=token_auth.current_user,
                               license_id=license_id, reason=json_data.reason)
    db.session.commit()
    return _out(license_)


@bp.post("/licenses/verify")
@bp.auth_required(staff_auth)
@requires("license.verify_full")
@bp.input(ScanIn)
@bp.output(VerifyOut)
@bp.doc(security="StaffBearerAuth",
        responses={200: "总有结论：无效的码也是 200，verdict=invalid",
                   422: "ELICENSE_ID_INVALID：给出的是证照标识，但格式、根或校验位不对"
                        "（details.fields[0].code 为具体原因）"})
def verify_scan(json_data: ScanIn):
    """执法人员扫码核验（工作人员令牌）：验签后返回全部许可事项（各自的证照标识、状态、有效期）
    与核查记录；也可直接核验一个证照标识"""
    settings = current_app.extensions["settings"]
    result = verification.check_scan(
        db.session, scan=json_data.scan, keyring=current_app.extensions["license_keyring"],
        base_url=settings.LICENSE_VERIFY_BASE_URL)
    return verification.full_view(db.session, result)
