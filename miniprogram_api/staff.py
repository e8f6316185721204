"""Staff in the mini-program: an inspector binds their WeChat once, then gets a staff token
from it, so the staff API works on site without typing a password on a phone."""

from __future__ import annotations

from backend.extensions import db, limit_of, limiter
from backend.services import staff as staff_service
from miniprogram_api import bp
from miniprogram_api.auth import per_applicant, token_auth
from staff_api.auth import staff_out, token_out
from staff_api.schemas import BindingCodeIn, StaffOut, StaffTokenOut


@bp.post("/staff/bind")
@bp.auth_required(token_auth)
@limiter.limit(limit_of("BIND_RATE_LIMIT"), key_func=per_applicant)
@bp.input(BindingCodeIn)
@bp.output(StaffOut)
@bp.doc(responses={409: "STAFF_WECHAT_ALREADY_BOUND",
                   422: "STAFF_BINDING_CODE_INVALID（无效、已使用或已过期）"})
def bind(json_data: BindingCodeIn):
    """绑定工作人员账号：输入工作人员接口得到的绑定码"""
    staff = staff_service.bind_wechat(db.session, code=json_data.code,
                                      openid=token_auth.current_user.openid)
    db.session.commit()
    return staff_out(staff)


@bp.post("/staff/session")
@bp.auth_required(token_auth)
@bp.output(StaffTokenOut)
@bp.doc(responses={403: "STAFF_NOT_BOUND"})
def staff_session():
    """以已绑定的工作人员身份获取工作人员接口令牌"""
    staff, token, expires_at = staff_service.wechat_session(
        db.session, openid=token_auth.current_user.openid)
    db.session.commit()
    return token_out(staff, token, expires_at)
