"""Staff login, logout, who am I, and the code that binds an inspector's WeChat."""

from __future__ import annotations

import functools
from datetime import datetime

from apiflask import HTTPTokenAuth

from backend.errors import DomainError
from backend.extensions import db, limit_of, limiter
from backend.models import StaffAccount
from backend.security import permissions
from backend.services import staff as staff_service
from staff_api import bp
from staff_api.schemas import (
    BindingCodeOut,
    PasswordChangeIn,
    StaffLoginIn,
    StaffOut,
    StaffTokenOut,
)

staff_auth = HTTPTokenAuth(scheme="Bearer", security_scheme_name="StaffBearerAuth",
                           description="POST /api/staff/v1/auth/login 得到的令牌")


@staff_auth.verify_token
def _verify(raw: str) -> StaffAccount | None:
    return staff_service.staff_for_token(db.session, raw)


def current_staff() -> StaffAccount:
    return staff_auth.current_user


def requires(action: str):
    """The role gate, before the body is even parsed: a role without the permission learns
    nothing about what a valid request would be (403 before 422)."""

    def decorate(view):
        @functools.wraps(view)
        def gated(*args, **kwargs):
            permissions.require(current_staff(), action)
            return view(*args, **kwargs)

        return gated

    return decorate


def staff_out(staff: StaffAccount) -> StaffOut:
    return StaffOut(id=staff.id, username=staff.username, display_name=staff.display_name,
                    role=staff.role, role_label=staff_service.ROLES[staff.role],
                    unit=staff_service.unit_of(db.session, staff))


def token_out(staff: StaffAccount, token: str, expires_at: datetime) -> StaffTokenOut:
    return StaffTokenOut(token=token, expires_at=expires_at, staff=staff_out(staff))


@bp.post("/auth/login")
@limiter.limit(limit_of("LOGIN_RATE_LIMIT"))  # per client address; the lockout guards accounts
@bp.input(StaffLoginIn)
@bp.output(StaffTokenOut)
@bp.doc(responses={401: "STAFF_LOGIN_FAILED（用户名不存在、密码错误、账号停用或锁定：同一答复）",
                   429: "RATE_LIMITED"})
def login(json_data: StaffLoginIn):
    """工作人员登录：连续 5 次失败锁定 15 分钟（锁定期间正确密码也不能登录）；令牌 12 小时有效"""
    try:
        staff = staff_service.authenticate(db.session, username=json_data.username,
                                           password=json_data.password)
    except DomainError:
        db.session.commit()  # the failure count outlives the refused request
        raise
    token, expires_at = staff_service.issue_token(db.session, staff)
    db.session.commit()
    return token_out(staff, token, expires_at)


@bp.post("/auth/logout")
@bp.auth_required(staff_auth)
@bp.doc(responses={204: "令牌已作废"})
def logout():
    """退出登录：作废本次使用的令牌"""
    staff_service.revoke_token(db.session, staff_auth.get_auth().token)
    db.session.commit()
    return "", 204


@bp.post("/auth/password")
@bp.auth_required(staff_auth)
@limiter.limit(limit_of("LOGIN_RATE_LIMIT"))
@bp.input(PasswordChangeIn)
@bp.output(StaffTokenOut)
@bp.doc(responses={422: "STAFF_CURRENT_PASSWORD_WRONG（计入连续失败次数）/ STAFF_PASSWORD_WEAK / "
                        "STAFF_PASSWORD_MISMATCH / STAFF_PASSWORD_UNCHANGED"})
def change_password(json_data: PasswordChangeIn):
    """修改本人密码：须输入当前密码（输错计入锁定次数）；成功后本账号其他令牌全部作废，
    返回新的令牌（原令牌亦作废）"""
    try:
        token, expires_at = staff_service.change_password(
            db.session, staff=current_staff(), current=json_data.current_password,
            new=json_data.new_password, repeated=json_data.repeat_password)
    except DomainError:
        db.session.commit()  # the failure count outlives the refused request
        raise
    db.session.commit()
    return token_out(current_staff(), token, expires_at)


@bp.get("/me")
@bp.auth_required(staff_auth)
@bp.output(StaffOut)
def me():
    """当前登录的工作人员"""
    return staff_out(current_staff())


@bp.post("/auth/binding-code")
@bp.auth_required(staff_auth)
@bp.output(BindingCodeOut)
@bp.doc(responses={403: "FORBIDDEN_ROLE（仅核查人员、核查协调人）"})
def binding_code():
    """获取小程序绑定码：10 分钟内在小程序输入一次，之前未用的绑定码作废"""
    code, expires_at = staff_service.create_binding_code(db.session, staff=current_staff())
    db.session.commit()
    return BindingCodeOut(code=code, expires_at=expires_at)
