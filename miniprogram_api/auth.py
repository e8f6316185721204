"""Login with WeChat and who am I."""

from __future__ import annotations

from apiflask import HTTPTokenAuth
from flask import current_app

from backend.extensions import db, limit_of, limiter
from backend.services import accounts, personal_data
from miniprogram_api import bp
from miniprogram_api.schemas import LoginIn, LoginOut, MeOut
from notifications.wechat import make_client

token_auth = HTTPTokenAuth(scheme="Bearer", security_scheme_name="BearerAuth",
                           description="POST /api/mp/v1/auth/login 得到的令牌")


def per_applicant() -> str:
    """Rate-limit key of a signed-in applicant's routes: the applicant, not the address (a
    carrier NAT or a proxy puts many applicants behind one address)."""
    return f"applicant:{token_auth.current_user.id}"


@token_auth.verify_token
def _verify(raw: str):
    return accounts.applicant_for_token(db.session, raw)


def wechat_client():
    """One wechatpy client per app; its access token is shared through Redis when configured."""
    client = current_app.extensions.get("wechat")
    if client is None:
        settings = current_app.extensions["settings"]
        client = current_app.extensions["wechat"] = make_client(
            appid=settings.WECHAT_APPID, secret=settings.WECHAT_SECRET,
            base_url=settings.WECHAT_API_BASE, timeout=settings.WECHAT_TIMEOUT_SECONDS,
            redis=current_app.extensions["redis"],
        )
    return client


@bp.post("/auth/login")
@limiter.limit(limit_of("LOGIN_RATE_LIMIT"))
@bp.input(LoginIn)
@bp.output(LoginOut)
@bp.doc(responses={401: "WECHAT_CODE_INVALID", 503: "WECHAT_BUSY（可重试）"})
def login(json_data: LoginIn):
    """微信登录：用 wx.login() 的 code 换取本服务的令牌"""
    settings = current_app.extensions["settings"]
    applicant, token, expires_at = accounts.login_with_wechat(
        db.session, code=json_data.code, wechat=wechat_client(),
        secret_key=settings.SECRET_KEY, ttl_seconds=settings.MP_TOKEN_TTL_SECONDS,
    )
    db.session.commit()
    return LoginOut(token=token, expires_at=expires_at, applicant_id=applicant.id)


@bp.get("/me")
@bp.auth_required(token_auth)
@bp.output(MeOut)
def me():
    """当前登录的申请人"""
    applicant = token_auth.current_user
    settings = current_app.extensions["settings"]
    return MeOut(id=applicant.id, openid_masked=applicant.openid[:4] + "****"
                 + applicant.openid[-4:], created_at=applicant.created_at,
                 last_login_at=applicant.last_login_at,
                 phone=personal_data.phone_out(applicant, settings.SECRET_KEY),
                 privacy=personal_data.consent_status(db.session, applicant,
                                                      settings.PRIVACY_NOTICE_VERSION))
