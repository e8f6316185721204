"""An applicant's personal data: consent to the privacy notice, the verified phone number,
seeing and exporting what we hold, and erasing what the law does not make us keep.

- Consent (PIPL 第十三条、第十四条; WeChat's 小程序用户隐私保护指引, which must be agreed to
  before any privacy API such as getPhoneNumber): each agreement is a row with the notice's
  version and the time (``PrivacyConsent``). Until the applicant has agreed to the version in
  force (setting ``PRIVACY_NOTICE_VERSION``) the form accepts no personal data and no phone
  number is asked of WeChat: 403 ``PRIVACY_CONSENT_REQUIRED``.
- Verified phone (getPhoneNumber): the button's one-time code is exchanged with WeChat's
  ``POST /wxa/business/getuserphonenumber``; the number is sealed at rest, pre-fills the
  contact phone of the applicant's drafts, and is shown masked (138****5678) everywhere.
- Access and export (PIPL 第四十五条): everything held about the applicant as one JSON.
- Deletion (PIPL 第四十七条): what the law does not require us to keep is deleted at once;
  submitted applications, their materials, timeline and licenses are kept — they are
  administrative-licensing files (《行政许可法》第六十一条, 《档案法》; 晋政办发〔2022〕90号
  requires every application archived) — and the answer says so, item by item.
Services never commit: the route does, once.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import requests
from sqlalchemy import delete, select
from sqlalchemy.orm import Session
from wechatpy.exceptions import WeChatClientException

from backend import workflow
from backend.errors import DomainError, PermissionDenied, RuleViolation
from backend.models import (
    AccessToken,
    Applicant,
    Application,
    ApplicationCollaborator,
    CollaborationInvite,
    IdempotencyRecord,
    License,
    PrivacyConsent,
)
from backend.models.base import utcnow
from backend.security import masking, secrets, tokens
from backend.services import accounts, application_form, collaborators, entity

PHONE_API = "wxa/business/getuserphonenumber"

# What is kept after a deletion request, and why (shown to the applicant as is).
KEPT_REASONS = {
    "applications": "已提交的申请及其申请表、材料、办理记录：属于行政许可档案，依《中华人民共和国"
                    "行政许可法》第六十一条和《中华人民共和国档案法》须按期保存，不能删除",
    "licenses": "已核发的许可证及其电子证照：是许可决定本身，须保存并供核验",
    "privacy_consents": "隐私政策同意记录：证明我们处理上述档案中个人信息的合法依据"
                        "（《个人信息保护法》第十三条、第十四条）",
    "account": "微信标识（openid）：仅在仍有上述档案时保留，以便您继续查看办理进度和许可证",
}
DELETED_LABELS = {
    "verified_phone": "经微信验证的手机号",
    "drafts": "未提交的申请草稿及其材料",
    "collaborations": "参与他人申请的协作身份",
    "invitations": "您发出的尚未使用的邀请码（已作废，不能再加入您的申请）",
    "sessions": "全部登录凭证（已退出登录）及重试请求的缓存应答",
    "wechat_session_key": "微信会话密钥",
    "unionid": "微信 unionid",
}


# ---- consent ----------------------------------------------------------------------------

def consent_of(session: Session, applicant: Applicant, version: str) -> PrivacyConsent | None:
    """The applicant's agreement to ``version``, if any."""
    return session.scalar(select(PrivacyConsent).where(
        PrivacyConsent.applicant_id == applicant.id, PrivacyConsent.version == version))


def agree(session: Session, *, applicant: Applicant, version: str,
          current_version: str) -> PrivacyConsent:
    """Record that the applicant agreed to ``version``, which must be the one in force
    (422 ``PRIVACY_VERSION_OUTDATED`` otherwise: they read another text). Agreeing again
    keeps the first time."""
    if version != current_version:
        raise RuleViolation("PRIVACY_VERSION_OUTDATED", "隐私政策已更新，请阅读最新版本后再同意",
                            {"current_version": current_version})
    consent = consent_of(session, applicant, version)
    if consent is None:
        consent = PrivacyConsent(applicant_id=applicant.id, version=version, agreed_at=utcnow())
        session.add(consent)
        session.flush()
    return consent


def require_consent(session: Session, applicant: Applicant, version: str) -> None:
    """403 ``PRIVACY_CONSENT_REQUIRED`` unless the applicant agreed to ``version``."""
    if consent_of(session, applicant, version) is None:
        raise PermissionDenied(
            "PRIVACY_CONSENT_REQUIRED", "请先阅读并同意隐私政策，再填写个人信息",
            {"privacy_version": version})


def touches_personal_data(changes: dict[str, Any]) -> bool:
    """Whether a form change gives personal data (clearing a value gives none)."""
    return any(code in application_form.PERSONAL_CODES and value is not None
               for code, value in changes.items())


def consent_status(session: Session, applicant: Applicant, version: str) -> dict[str, Any]:
    """{current_version, agreed, agreed_at, history: [{version, agreed_at}]}."""
    rows = list(session.scalars(select(PrivacyConsent).where(
        PrivacyConsent.applicant_id == applicant.id).order_by(PrivacyConsent.agreed_at)))
    current = next((r for r in rows if r.version == version), None)
    return {"current_version": version, "agreed": current is not None,
            "agreed_at": current.agreed_at if current else None,
            "history": [{"version": r.version, "agreed_at": r.agreed_at} for r in rows]}


# ---- verified phone ---------------------------------------------------------------------

def verify_phone(session: Session, *, applicant: Applicant, code: str, wechat, secret_key: str,
                 privacy_version: str) -> Applicant:
    """Exchange a getPhoneNumber code for the number WeChat verified; store it sealed and
    pre-fill the contact phone of the applicant's drafts that have none.

    Errors: 403 PRIVACY_CONSENT_REQUIRED; 422 WECHAT_PHONE_CODE_INVALID (WeChat's 40029:
    unknown, used or older than five minutes; 40163); 422 PHONE_NOT_MAINLAND (a number with
    another country code: the form takes mainland numbers); 503 WECHAT_BUSY (retryable).
    """
    require_consent(session, applicant, privacy_version)
    try:
        answer = wechat.post(wechat.base_url + PHONE_API, data={"code": code})
    except WeChatClientException as error:
        raise accounts.wechat_failure(error.errcode, error.errmsg, invalid=_code_invalid(
            error.errcode)) from error
    except requests.RequestException as error:
        raise accounts.wechat_failure(None, str(error), invalid=_code_invalid(None)) from error
    info = answer.get("phone_info") or {}
    if str(info.get("countryCode")) != "86":
        raise RuleViolation("PHONE_NOT_MAINLAND", "仅支持中国大陆手机号，请手动填写联系电话",
                            {"country_code": info.get("countryCode")})
    number = entity.mobile_phone(info.get("purePhoneNumber"))
    applicant.phone_sealed = secrets.seal(secret_key, number)
    applicant.phone_verified_at = utcnow()
    for application in _drafts(session, applicant):
        prefill_contact_phone(application, applicant, secret_key)
    return applicant


def _code_invalid(errcode: int | None) -> DomainError:
    return RuleViolation("WECHAT_PHONE_CODE_INVALID",
                         "手机号授权已失效（仅可使用一次，五分钟内有效），请重新点击获取手机号",
                         {"wechat_errcode": errcode})


def verified_phone(applicant: Applicant, secret_key: str) -> str | None:
    """The applicant's verified number in full (server side only), or None."""
    if not applicant.phone_sealed:
        return None
    return secrets.unseal(secret_key, applicant.phone_sealed)


def prefill_contact_phone(application: Application, applicant: Applicant,
                          secret_key: str) -> None:
    """Put the verified number in an editable application's empty contact phone."""
    phone = verified_phone(applicant, secret_key)
    if phone is None or workflow.State(application.status) not in workflow.EDITABLE:
        return
    hidden = _sealed_values(application, secret_key)
    if hidden.get("contact_phone"):
        return
    hidden["contact_phone"] = phone
    application.sensitive_sealed = secrets.seal(secret_key, json.dumps(hidden))


def _sealed_values(application: Application, secret_key: str) -> dict[str, str]:
    if not application.sensitive_sealed:
        return {}
    return json.loads(secrets.unseal(secret_key, application.sensitive_sealed))


def phone_out(applicant: Applicant, secret_key: str) -> dict[str, Any]:
    """{verified, phone_masked, verified_at}: never the full number."""
    phone = verified_phone(applicant, secret_key)
    return {"verified": phone is not None,
            "phone_masked": masking.mask_phone(phone) if phone else None,
            "verified_at": applicant.phone_verified_at}


def _drafts(session: Session, applicant: Applicant) -> list[Application]:
    return list(session.scalars(select(Application).where(
        Application.applicant_id == applicant.id,
        Application.status.in_([s.value for s in workflow.EDITABLE]))))


# ---- access, export, deletion -----------------------------------------------------------

def export(session: Session, *, applicant: Applicant, secret_key: str,
           privacy_version: str) -> dict[str, Any]:
    """Everything we hold about the applicant, in JSON values (PIPL 第四十五条): the
    account, the verified phone, consents, own applications with their form (their own
    numbers in full: it is their data, asked for by them), materials (file names by
    SHA-256, not links), timeline and signed commitments (告知承诺书), and the applications
    they help with."""
    own = list(session.scalars(select(Application).where(
        Application.applicant_id == applicant.id).order_by(Application.id)))
    helping = list(session.scalars(select(ApplicationCollaborator).where(
        ApplicationCollaborator.applicant_id == applicant.id)))
    return {
        "exported_at": utcnow().isoformat(),
        "account": {"id": applicant.id, "openid": applicant.openid,
                    "unionid": applicant.unionid, "created_at": _iso(applicant.created_at),
                    "last_login_at": _iso(applicant.last_login_at),
                    "erased_at": _iso(applicant.erased_at)},
        "verified_phone": {"phone": verified_phone(applicant, secret_key),
                           "verified_at": _iso(applicant.phone_verified_at)},
        "privacy_consents": [
            {"version": h["version"], "agreed_at": _iso(h["agreed_at"])}
            for h in consent_status(session, applicant, privacy_version)["history"]],
        "applications": [{
            "id": a.id, "industry_code": a.industry_code, "status": a.status,
            "submission_number": a.submission_number, "created_at": _iso(a.created_at),
            "submitted_at": _iso(a.submitted_at), "answers": a.answers,
            "form": a.form_values | _sealed_values(a, secret_key),
            "materials": [{"material_code": f.material_code, "position": f.position,
                           "sha256": f.sha256, "media_type": f.media_type,
                           "uploaded_at": _iso(f.uploaded_at)} for f in a.files],
            "timeline": [{"at": _iso(e.at), "actor": e.actor_label, "action": e.action,
                          "message": e.message} for e in a.events],
            "commitments": [{"item_code": c.item_code, "catalog_version": c.catalog_version,
                             "text": c.text, "text_sha256": c.text_sha256,
                             "signed_at": _iso(c.signed_at)} for c in a.commitments],
        } for a in own],
        "collaborations": [{"application_id": c.application_id, "role": c.role,
                            "added_at": _iso(c.added_at), "removed_at": _iso(c.removed_at)}
                           for c in helping],
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def erase(session: Session, *, applicant: Applicant) -> dict[str, Any]:
    """Delete what the law does not require us to keep, at once; returns
    ``{deleted: [{what, label, count?}], kept: [{what, reason, count}]}``.

    Deleted: the verified phone, drafts never submitted (with their materials' records —
    the bytes then belong to no row and go with the worker's orphaned-upload sweep),
    collaborations, every code the applicant handed out and nobody used (for any
    application of theirs, submitted ones too: it would let someone in), the stored answers
    of retried requests, every login token, WeChat's session_key and unionid; the openid too
    when nothing is kept.
    Kept: applications ever submitted and licenses (archives), and the consent records that
    are the legal basis for keeping them.
    """
    invitations = collaborators.revoke_issued(session, applicant=applicant)
    drafts = [a for a in _drafts(session, applicant) if a.submitted_at is None]
    # a draft withdrawn before it was ever submitted is no archive either
    drafts += list(session.scalars(select(Application).where(
        Application.applicant_id == applicant.id,
        Application.status == workflow.State.WITHDRAWN, Application.submitted_at.is_(None))))
    for application in drafts:
        session.execute(delete(CollaborationInvite).where(
            CollaborationInvite.application_id == application.id))
        session.execute(delete(ApplicationCollaborator).where(
            ApplicationCollaborator.application_id == application.id))
        session.delete(application)
    helping = session.execute(delete(ApplicationCollaborator).where(
        ApplicationCollaborator.applicant_id == applicant.id)).rowcount
    session.execute(delete(IdempotencyRecord).where(  # stored answers of retried requests
        IdempotencyRecord.scope.startswith(f"applicant:{applicant.id}:")))
    tokens.revoke_all(session, subject_kind="applicant", subject_id=applicant.id)
    session.execute(delete(AccessToken).where(AccessToken.subject_kind == "applicant",
                                              AccessToken.subject_id == applicant.id))
    had_phone = applicant.phone_sealed is not None
    applicant.phone_sealed = applicant.phone_verified_at = None
    applicant.session_key_encrypted = None
    applicant.unionid = None
    applicant.erased_at = utcnow()
    session.flush()
    kept_applications = list(session.scalars(select(Application.id).where(
        Application.applicant_id == applicant.id)))
    kept_licenses = list(session.scalars(select(License.id).join(
        Application, License.application_id == Application.id).where(
        Application.applicant_id == applicant.id)))
    consents = list(session.scalars(select(PrivacyConsent).where(
        PrivacyConsent.applicant_id == applicant.id)))
    if not kept_applications:
        applicant.openid = None  # nothing to follow any more: the account goes
        for consent in consents:
            session.delete(consent)
        consents = []
    counts = {"verified_phone": int(had_phone), "drafts": len(drafts),
              "collaborations": helping, "invitations": invitations, "sessions": None,
              "wechat_session_key": None, "unionid": None}
    kept = {"applications": len(kept_applications), "licenses": len(kept_licenses),
            "privacy_consents": len(consents),
            "account": 1 if kept_applications else 0}
    return {
        "deleted": [{"what": what, "label": DELETED_LABELS[what], "count": count}
                    for what, count in counts.items()],
        "kept": [{"what": what, "reason": KEPT_REASONS[what], "count": count}
                 for what, count in kept.items() if count],
    }
