"""The applicant's own personal data: privacy-notice consent, the verified phone number,
export and deletion (backend.services.personal_data)."""

from __future__ import annotations

from flask import current_app

from backend.extensions import db, limit_of, limiter
from backend.services import personal_data
from miniprogram_api import bp
from miniprogram_api.auth import per_applicant, token_auth, wechat_client
from miniprogram_api.schemas import (
    ConsentIn,
    ConsentOut,
    ErasureOut,
    PersonalDataOut,
    PhoneIn,
    PhoneOut,
)


def _settings():
    return current_app.extensions["settings"]


@bp.get("/me/privacy-consent")
@bp.auth_required(token_auth)
@bp.output(ConsentOut)
def consent_status():
    """隐私政策：现行版本与本人同意情况（同意前申请表不接受个人信息）"""
    return personal_data.consent_status(db.session, token_auth.current_user,
                                        _settings().PRIVACY_NOTICE_VERSION)


@bp.post("/me/privacy-consent")
@bp.auth_required(token_auth)
@bp.input(ConsentIn)
@bp.output(ConsentOut)
@bp.doc(responses={422: "PRIVACY_VERSION_OUTDATED（非现行版本）"})
def agree_to_privacy_notice(json_data: ConsentIn):
    """同意隐私政策（记录版本与时间；再次同意保留首次时间）"""
    version = _settings().PRIVACY_NOTICE_VERSION
    personal_data.agree(db.session, applicant=token_auth.current_user,
                        version=json_data.version, current_version=version)
    db.session.commit()
    return personal_data.consent_status(db.session, token_auth.current_user, version)


@bp.post("/me/phone")
@bp.auth_required(token_auth)
@limiter.limit(limit_of("BIND_RATE_LIMIT"), key_func=per_applicant)
@bp.input(PhoneIn)
@bp.output(PhoneOut)
@bp.doc(responses={403: "PRIVACY_CONSENT_REQUIRED（须先同意隐私政策）",
                   422: "WECHAT_PHONE_CODE_INVALID（无效、已使用或超过五分钟）/ "
                        "PHONE_NOT_MAINLAND",
                   503: "WECHAT_BUSY（可重试）"})
def verify_phone(json_data: PhoneIn):
    """验证手机号：用手机号快速验证组件的 code 向微信换取本人手机号；预填联系电话（脱敏显示）"""
    settings = _settings()
    applicant = personal_data.verify_phone(
        db.session, applicant=token_auth.current_user, code=json_data.code,
        wechat=wechat_client(), secret_key=settings.SECRET_KEY,
        privacy_version=settings.PRIVACY_NOTICE_VERSION)
    db.session.commit()
    return personal_data.phone_out(applicant, settings.SECRET_KEY)


@bp.get("/me/personal-data")
@bp.auth_required(token_auth)
@bp.output(PersonalDataOut)
def export_personal_data():
    """查阅、导出本人的个人信息（JSON；含本人完整证件号与电话）"""
    settings = _settings()
    return personal_data.export(db.session, applicant=token_auth.current_user,
                                secret_key=settings.SECRET_KEY,
                                privacy_version=settings.PRIVACY_NOTICE_VERSION)


@bp.delete("/me/personal-data")
@bp.auth_required(token_auth)
@bp.output(ErasureOut)
def erase_personal_data():
    """删除本人的个人信息：立即删除法律未要求保存的内容，并说明依法保留的内容及原因；随后退出登录"""
    out = personal_data.erase(db.session, applicant=token_auth.current_user)
    db.session.commit()
    return out
