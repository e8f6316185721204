"""Applicant login with WeChat (code2Session) and our own tokens.

The mini-program's ``wx.login`` code is exchanged once with WeChat for the openid and
session_key; the session_key stays here, sealed, and the client gets our opaque token.
"""

from __future__ import annotations

import logging
from datetime import datetime

import requests
from sqlalchemy import select
from sqlalchemy.orm import Session
from wechatpy.exceptions import WeChatClientException

from backend.errors import PermissionDenied, Unauthorized, Unavailable
from backend.models import Applicant
from backend.models.base import utcnow
from backend.security import secrets, tokens
from backend.services import twins

log = logging.getLogger(__name__)

CODE_REJECTED = {40029, 40163}  # invalid code; code already used
BUSY = {-1, 45011}  # system busy; too frequent — both worth a retry
RETRY_AFTER_SECONDS = "2"


def login_with_wechat(session: Session, *, code: str, wechat, secret_key: str,
                      ttl_seconds: int) -> tuple[Applicant, str, datetime]:
    """Exchange a wx.login code for (applicant, our token, its expiry)."""
    try:
        result = wechat.wxa.code_to_session(code)
    except WeChatClientException as error:
        raise _login_error(error.errcode, error.errmsg) from error
    except requests.RequestException as error:  # timeouts and refused connections
        raise _login_error(None, str(error)) from error
    applicant = upsert_applicant(session, openid=result["openid"], unionid=result.get("unionid"))
    applicant.session_key_encrypted = secrets.seal(secret_key, result["session_key"])
    applicant.last_login_at = utcnow()
    session.flush()
    raw, expires_at = tokens.issue(session, subject_kind="applicant", subject_id=applicant.id,
                                   ttl_seconds=ttl_seconds)
    return applicant, raw, expires_at


def _login_error(errcode: int | None, errmsg: str) -> Exception:
    return wechat_failure(errcode, errmsg, invalid=Unauthorized(
        "WECHAT_CODE_INVALID", "微信登录凭证无效或已使用，请重新登录", {"wechat_errcode": errcode}))


def wechat_failure(errcode: int | None, errmsg: str, *, invalid: Exception) -> Exception:
    """What a failed one-time-code exchange with WeChat becomes: ``invalid`` when WeChat
    refused the code (40029, 40163), 403 WECHAT_USER_BLOCKED (40226), else 503 WECHAT_BUSY
    (retryable; anything but busy or the network is logged as our configuration)."""
    if errcode in CODE_REJECTED:
        return invalid
    if errcode == 40226:
        return PermissionDenied("WECHAT_USER_BLOCKED", "该微信账号存在风险，暂无法登录",
                                {"wechat_errcode": errcode})
    if errcode not in BUSY:
        # a network failure (errcode None) is retryable; anything else is our configuration
        log.error("WeChat code exchange failed", extra={"wechat_errcode": errcode,
                                                "wechat_errmsg": errmsg})
    return Unavailable("WECHAT_BUSY", "微信服务繁忙，请稍后重试",
                       {"wechat_errcode": errcode, "retryable": True},
                       headers={"Retry-After": RETRY_AFTER_SECONDS})


def upsert_applicant(session: Session, *, openid: str, unionid: str | None = None) -> Applicant:
    """The applicant of an openid, made at its first login (also the demo story's applicants)."""
    same = select(Applicant).where(Applicant.openid == openid)
    applicant = session.scalar(same)
    if applicant is not None:
        return applicant
    # two first logins at once: the second finds the first
    return twins.insert_or_find(session, Applicant(openid=openid, unionid=unionid), same)[0]


def applicant_for_token(session: Session, raw: str) -> Applicant | None:
    token = tokens.resolve(session, raw, subject_kind="applicant")
    return session.get(Applicant, token.subject_id) if token else None
