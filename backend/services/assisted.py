"""帮办代办: a walk-in applicant served at the window.

晋政办发〔2022〕90号 二（四）: the window's commissioner may act on an applicant's behalf. The
commissioner checks the person's identity in person, then applies for them: the walk-in's
applications belong to a placeholder applicant (no openid, so nobody signs in as it) and the
commissioner does exactly what the applicant would — the drafting, the merged form, the
materials and the submission are the applicant's own services (applications, materials),
called with the placeholder, and the timeline names the commissioner (窗口代办). After
submission the case joins the window's queue like any other.

The applicant takes the case over later in the mini-program with a one-time hand-over code
(8 digits, 7 days, only its SHA-256 stored, replaced when issued again): the placeholder's
applications become theirs, once.

The console sends text (an HTML form): :func:`start` and :func:`fill` read the guidance
answers and the form fields as the browser sends them and give them their JSON types
(:func:`typed`); every value is then checked by the applicant's own rules.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, BinaryIO

from sqlalchemy import Select, select, update
from sqlalchemy.orm import Session

from backend.errors import Conflict, FieldsInvalid, NotFound, RuleViolation
from backend.identifiers import normalize_identifier
from backend.models import (
    Applicant,
    Application,
    InboxMessage,
    MaterialFile,
    StaffAccount,
    WalkIn,
)
from backend.models.base import utcnow
from backend.security import permissions, tokens
from backend.security.masking import mask_id_number, mask_name
from backend.services import applications, catalog, entity, materials, notice, timeline, window
from media.store import MediaStore

CLAIM_CODE_DIGITS = 8
CLAIM_CODE_TTL = timedelta(days=7)

# the documents a window accepts to check a person's identity in person
ID_DOCUMENTS = {
    "resident_id_card": "居民身份证",
    "hk_macao_permit": "港澳居民来往内地通行证",
    "taiwan_permit": "台湾居民来往大陆通行证",
    "foreign_permanent_residence": "外国人永久居留身份证",
    "passport": "护照",
}
OTHER_DOCUMENT_NUMBER = re.compile(r"[A-Z0-9]{5,20}")


@dataclass(frozen=True)
class Case:
    """A walk-in's application as its commissioner works on it."""

    application: Application
    walk_in: WalkIn
    placeholder: Applicant


def typed(kind: str, values: list[str]) -> Any:
    """A value as an HTML form sends it (text; several for a multiple choice) as the JSON
    type of ``kind`` (a question's or a form field's type). Text that does not read as the
    type is left as it is, so the field's own check names the problem."""
    if kind == "multi_choice":
        return values
    text = values[0].strip() if values else ""
    if kind == "bool":
        return {"true": True, "false": False}.get(text, text)
    if kind in {"number", "integer"}:
        try:
            number = float(text)
        except ValueError:
            return text
        if not math.isfinite(number):
            return text
        return int(number) if number.is_integer() and (kind == "integer" or "." not in text) \
            else number
    return text


def intake(session: Session, *, staff: StaffAccount, industry_code: str | None,
           ) -> dict[str, Any]:
    """What the window asks a walk-in first: the industries open for application and, once
    one is chosen, its guidance questions (情形引导), as the mini-program asks them."""
    permissions.require(staff, "application.assist")
    version = catalog.current_version(session)
    industries = [{"code": i.code, "name": i.name, "category": i.category}
                  for i in catalog.search_industries(session, q=None, version=version)]
    chosen = next((i for i in industries if i["code"] == industry_code), None)
    questions = []
    if chosen is not None:
        document, industry = catalog.get_industry(version, chosen["code"])
        questions = [notice.question_view(document, q)
                     for q in notice.questions_of(document, industry)]
    return {"industries": industries, "industry": chosen, "questions": questions,
            "id_documents": ID_DOCUMENTS}


def start(session: Session, *, staff: StaffAccount, industry_code: str,
          answers: Mapping[str, list[str]], person_name: str, id_document: str,
          id_number: str, identity_checked: bool) -> Application:
    """A draft for a walk-in whose identity ``staff`` checked in person: a placeholder
    applicant, the 代办 record (document type, masked number) and the applicant's own draft.

    Raises FieldsInvalid ASSIST_IDENTITY_INVALID (422) naming ``identity_checked`` (not
    confirmed), ``id_document`` or ``id_number``; the draft's own errors otherwise
    (ANSWERS_INCOMPLETE, APPLICATION_NOT_ELIGIBLE …)."""
    permissions.require(staff, "application.assist")
    masked = _checked_identity(id_document, id_number, identity_checked)
    version = catalog.current_version(session)
    document, industry = catalog.get_industry(version, industry_code)
    questions = notice.questions_of(document, industry)
    typed_answers = {q: typed(document.questions[q].type, answers[q])
                     for q in questions if answers.get(q)}
    placeholder = Applicant(openid=None)
    session.add(placeholder)
    session.flush()
    now = utcnow()
    walk_in = WalkIn(applicant_id=placeholder.id, staff_id=staff.id, person_name=person_name,
                     id_document=id_document, id_number_masked=masked,
                     identity_checked_at=now)
    session.add(walk_in)
    application = applications.create(session, applicant=placeholder,
                                      industry_code=industry_code, answers=typed_answers,
                                      actor=timeline.OnBehalf(staff))
    timeline.record(session, application, actor=timeline.OnBehalf(staff),
                    action="application.assisted",
                    message=f"窗口代办：当面核验申请人 {mask_name(person_name)} 的"
                            f"{ID_DOCUMENTS[id_document]}（{masked}）",
                    data={"id_document": id_document})
    return application


def _checked_identity(id_document: str, id_number: str, identity_checked: bool) -> str:
    """The masked number of a document checked in person, or every problem at once."""
    problems: dict[str, dict[str, str]] = {}
    if not identity_checked:
        problems["identity_checked"] = {"code": "ASSIST_IDENTITY_NOT_CHECKED",
                                        "message": "请当面核验申请人的身份证件后勾选确认"}
    number = normalize_identifier(id_number or "").upper()
    if id_document not in ID_DOCUMENTS:
        problems["id_document"] = {"code": "ID_DOCUMENT_UNKNOWN", "message": "请选择证件类型"}
    elif id_document == "resident_id_card":
        try:
            number = entity.id_number(number)
        except entity.FieldInvalid as problem:
            problems["id_number"] = {"code": problem.code, "message": problem.message}
    elif not OTHER_DOCUMENT_NUMBER.fullmatch(number):
        problems["id_number"] = {"code": "ID_NUMBER_INVALID",
                                 "message": "证件号码应为 5–20 位字母或数字"}
    if problems:
        raise FieldsInvalid("ASSIST_IDENTITY_INVALID", problems, lead="身份核验：")
    return mask_id_number(number) if id_document == "resident_id_card" \
        else number[:2] + "*" * (len(number) - 4) + number[-2:]


def case_of(session: Session, *, staff: StaffAccount, application_id: int) -> Case:
    """A walk-in application of ``staff`` not yet claimed by its applicant; anything else is
    "not found", exactly like a missing one."""
    permissions.require(staff, "application.assist")
    row = session.execute(
        _cases().where(Application.id == application_id, WalkIn.staff_id == staff.id,
               WalkIn.claimed_at.is_(None))).first()
    if row is None:
        raise NotFound("APPLICATION_NOT_FOUND", "申请不存在", {"application_id": application_id})
    return Case(*row)


def _cases() -> Select:
    return (select(Application, WalkIn, Applicant)
            .join(WalkIn, WalkIn.applicant_id == Application.applicant_id)
            .join(Applicant, Applicant.id == WalkIn.applicant_id))


def list_mine(session: Session, *, staff: StaffAccount) -> list[Case]:
    """The walk-ins ``staff`` applied for that their applicants have not claimed yet,
    newest first."""
    permissions.require(staff, "application.assist")
    rows = session.execute(
        _cases().where(WalkIn.staff_id == staff.id, WalkIn.claimed_at.is_(None))
        .order_by(Application.id.desc()))
    return [Case(*row) for row in rows]


def fill(session: Session, *, staff: StaffAccount, application_id: int,
         form: Mapping[str, list[str]], version: int | None, secret_key: str) -> Application:
    """Save the merged form as the applicant's autosave does; a field left empty is left as
    it was (a sensitive field is shown masked, so it is typed only to change it)."""
    case = case_of(session, staff=staff, application_id=application_id)
    window.check_version(case.application, version)
    bundle = applications.bundle_of(session, case.application)
    changes = {f.code: typed(f.type, values) for f in bundle.fields
               if (values := [v for v in form.get(f.code, []) if v.strip()])}
    return applications.update_form(session, applicant=case.placeholder,
                                    application_id=application_id, changes=changes,
                                    secret_key=secret_key)


def upload(session: Session, *, staff: StaffAccount, application_id: int, material_code: str,
           stream: BinaryIO, store: MediaStore, limits: materials.UploadLimits,
           ) -> tuple[MaterialFile, bool]:
    """A scan of a paper material, checked and re-encoded as the applicant's upload is."""
    case = case_of(session, staff=staff, application_id=application_id)
    return materials.upload(session, applicant=case.placeholder, application_id=application_id,
                            material_code=material_code, stream=stream, store=store,
                            limits=limits, actor=timeline.OnBehalf(staff))


def submit(session: Session, *, staff: StaffAccount, application_id: int, version: int | None,
           secret_key: str) -> Application:
    """Submit for the walk-in; the case then waits in the window's queue like any other."""
    case = case_of(session, staff=staff, application_id=application_id)
    window.check_version(case.application, version)
    return applications.submit(session, applicant=case.placeholder,
                               application_id=application_id, secret_key=secret_key,
                               actor=timeline.OnBehalf(staff))


def code_active_until(walk_in: WalkIn) -> datetime | None:
    """Until when the code already given for ``walk_in`` works (None: none works now)."""
    expires = walk_in.claim_code_expires_at
    if walk_in.claimed_at is not None or walk_in.claim_code_hash is None or expires is None:
        return None
    return expires if expires > utcnow() else None


def _stamp(moment: datetime | None) -> str:
    return moment.isoformat() if moment is not None else ""


def issue_claim_code(session: Session, *, staff: StaffAccount, application_id: int,
                     replacing: str | None = None) -> tuple[str, datetime]:
    """A hand-over code for the walk-in (shown once, to print or read out); it replaces the
    one issued before. ``replacing``: the active code's expiry the page showed ("" none);
    when given and no longer the active code's (the page that issued a code reloaded,
    another tab), 409 ASSIST_CLAIM_CODE_ACTIVE: a code already given is not replaced
    unknowingly."""
    case = case_of(session, staff=staff, application_id=application_id)
    active = code_active_until(case.walk_in)
    if replacing is not None and replacing != _stamp(active):
        raise Conflict("ASSIST_CLAIM_CODE_ACTIVE",
                       "已有有效的认领码，未重新出具；如需作废原认领码，请在申请页确认后重新出具",
                       {"active_until": _stamp(active)})
    code, hashed = tokens.draw_code(session, WalkIn.claim_code_hash, CLAIM_CODE_DIGITS)
    case.walk_in.claim_code_hash = hashed
    case.walk_in.claim_code_expires_at = utcnow() + CLAIM_CODE_TTL
    timeline.record(session, case.application, actor=timeline.OnBehalf(staff),
                    action="application.claim_code_issued",
                    message="窗口代办：向申请人出具认领码，可在小程序中认领本申请")
    return code, case.walk_in.claim_code_expires_at


def code_stamp(walk_in: WalkIn) -> str:
    """What a page sends back as ``replacing`` of ``issue_claim_code``."""
    return _stamp(code_active_until(walk_in))


def claim(session: Session, *, applicant: Applicant, code: str) -> list[Application]:
    """The walk-in's applications become ``applicant``'s; the code works once, for 7 days.
    Raises ASSIST_CLAIM_CODE_INVALID (422) for an unknown, used or expired code."""
    now = utcnow()
    walk_in = session.scalar(select(WalkIn).where(
        WalkIn.claim_code_hash == tokens.digest(code)))
    if walk_in is None or walk_in.claimed_at is not None \
            or walk_in.claim_code_expires_at is None or walk_in.claim_code_expires_at <= now:
        raise _claim_code_invalid()
    claimed = session.execute(update(WalkIn).where(WalkIn.id == walk_in.id,
                                                   WalkIn.claimed_at.is_(None))
                              .values(claimed_at=now, claimed_by=applicant.id)
                              .execution_options(synchronize_session=False))
    if claimed.rowcount != 1:  # a parallel claim used it first
        raise _claim_code_invalid()
    taken = list(session.scalars(select(Application)
                                 .where(Application.applicant_id == walk_in.applicant_id)
                                 .order_by(Application.id)))
    for application in taken:
        application.applicant_id = applicant.id
        timeline.record(session, application, actor=applicant, action="application.claimed",
                        message="申请人在小程序中认领了窗口代办的申请")
    # what the case told the walk-in so far (submitted, …) is in the new owner's inbox
    session.execute(update(InboxMessage).where(InboxMessage.recipient_kind == "applicant",
                                               InboxMessage.recipient_id == walk_in.applicant_id)
                    .values(recipient_id=applicant.id)
                    .execution_options(synchronize_session=False))
    session.flush()
    return taken


def _claim_code_invalid() -> RuleViolation:
    return RuleViolation("ASSIST_CLAIM_CODE_INVALID",
                         "认领码无效、已使用或已过期，请向窗口工作人员重新获取")
