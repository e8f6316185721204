"""Applications (一表申请, 容缺受理): create a draft, fill the merged form, submit, withdraw.

晋政办发〔2022〕90号 二（二）: one form and one set of materials per application; for items
with an on-site check, deferrable materials may follow (容缺受理) unless the item touches
national, public or ecological safety. Services never commit: the route does, once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend import clock, workflow
from backend.catalog_format import CatalogDocument
from backend.errors import FieldsInvalid, NotFound, PermissionDenied, RuleViolation
from backend.models import (
    Applicant,
    Application,
    ApplicationCollaborator,
    ApplicationItem,
    CatalogVersion,
)
from backend.models.base import utcnow
from backend.security import secrets
from backend.services import (
    application_form,
    catalog,
    entity,
    notice,
    personal_data,
    timeline,
)

SENSITIVE = application_form.SENSITIVE_CODES  # sealed at rest, masked when shown


@dataclass
class Bundle:
    """What an application is for, derived from its pinned version and its answers."""

    document: CatalogDocument
    notice: dict[str, Any]
    fields: list[application_form.Field]

    @property
    def item_codes(self) -> list[str]:
        return [i["code"] for i in self.notice["items"]]


def document_of(session: Session, application: Application) -> CatalogDocument:
    """The catalog version the application is pinned to."""
    return catalog.document_of(session.get(CatalogVersion, application.catalog_version_id))


def bundle_of(session: Session, application: Application) -> Bundle:
    document = document_of(session, application)
    tailored = notice.tailor(document, application.industry_code, application.answers)
    item_codes = [i["code"] for i in tailored["items"]]
    agent = application_form.applicant_role(application.answers) == "agent"
    return Bundle(document, tailored,
                  application_form.fields_for(document, item_codes, agent=agent))


def industry_of(session: Session, application: Application) -> dict[str, str]:
    """The industry as its pinned catalog version names it (retired ones included)."""
    industry = document_of(session, application).industries[application.industry_code]
    return {"code": application.industry_code, "name": industry.name,
            "category": industry.category}


def create(session: Session, *, applicant: Applicant, industry_code: str,
           answers: dict[str, Any], actor: timeline.Actor = None,
           secret_key: str | None = None) -> Application:
    """A draft pinned to the catalog version in force, with one lane per applicable item.
    ``actor``: who does it when not the applicant (帮办代办, backend.services.assisted).
    With ``secret_key``, the applicant's verified phone pre-fills the contact phone."""
    version = catalog.current_version(session)
    document, industry = catalog.get_industry(version, industry_code)
    answers = notice.validate_answers(document, industry, answers)
    tailored = notice.tailor(document, industry_code, answers)
    if not tailored["eligible"]:
        raise RuleViolation("APPLICATION_NOT_ELIGIBLE", tailored["summary"],
                            {"reasons": tailored["blocked_reasons"]})
    if not tailored["items"]:
        raise RuleViolation("APPLICATION_NOTHING_TO_APPLY", tailored["summary"])
    application = Application(
        applicant_id=applicant.id, catalog_version_id=version.id, industry_code=industry_code,
        answers=answers, status=workflow.State.DRAFT, form_values={}, deferred_materials=[],
    )
    if "floor_area" in answers:
        application.form_values = {"floor_area": float(answers["floor_area"])}
    application.items = [
        ApplicationItem(item_code=i["code"], approving_unit=i["approving_unit"]["code"],
                        status=workflow.ItemState.DRAFT, reason=i["why"][:500],
                        promised_days=i["promised_days"])
        for i in tailored["items"]
    ]
    if secret_key is not None:
        personal_data.prefill_contact_phone(application, applicant, secret_key)
    session.add(application)
    timeline.record(session, application, actor=actor or applicant, action="application.created",
                    message=f"创建“{industry.name}”申请草稿（目录第 {version.number} 版）",
                    to_state=workflow.State.DRAFT)
    session.flush()
    return application


def _not_found(application_id: int) -> NotFound:
    return NotFound("APPLICATION_NOT_FOUND", "申请不存在", {"application_id": application_id})


# What someone may do with an application (collaborators, backend.services.collaborators):
# READ and EDIT (fill fields, upload, send rectification photos) the owner and every active
# helper; DECIDE (submit, withdraw, consent to dropping an item, ask to move the inspection,
# report a rectification, rate the case) the owner and the authorised agent (受托人) only;
# OWN (invite and remove helpers, see and cancel codes) the owner only.
READ, EDIT, DECIDE, OWN = "read", "edit", "decide", "own"


def helper_role(session: Session, application: Application, applicant: Applicant) -> str | None:
    """``collaborator`` or ``agent`` while ``applicant`` helps with it (not removed), else None."""
    return session.scalar(select(ApplicationCollaborator.role).where(
        ApplicationCollaborator.application_id == application.id,
        ApplicationCollaborator.applicant_id == applicant.id,
        ApplicationCollaborator.removed_at.is_(None)))


def get_for(session: Session, *, applicant: Applicant, application_id: int,
            need: str = READ) -> tuple[Application, timeline.Actor]:
    """The application and who acts on it (the owner, or a ``timeline.Helper``), checked on
    every call: a stranger or a removed helper gets 404 APPLICATION_NOT_FOUND exactly like a
    missing id; a collaborator asking to DECIDE, any helper asking to OWN, gets 403
    COLLABORATOR_NOT_ALLOWED."""
    application = session.get(Application, application_id)
    if application is None:
        raise _not_found(application_id)
    if application.applicant_id == applicant.id:
        return application, applicant
    role = helper_role(session, application, applicant)
    if role is None:
        raise _not_found(application_id)
    if (need == DECIDE and role != "agent") or need == OWN:
        raise PermissionDenied(
            "COLLABORATOR_NOT_ALLOWED",
            "协作人可以填写申请表和上传材料；提交、撤回和同意放弃事项须由申请人本人或其授权的受托人操作",
            {"role": role})
    return application, timeline.Helper(applicant, role)


def list_own(session: Session, *, applicant: Applicant, status: str | None = None,
             ) -> list[Application]:
    """The applicant's applications and those they help with (active helpers only)."""
    helping = select(ApplicationCollaborator.application_id).where(
        ApplicationCollaborator.applicant_id == applicant.id,
        ApplicationCollaborator.removed_at.is_(None))
    query = select(Application).where((Application.applicant_id == applicant.id)
                                      | Application.id.in_(helping))
    if status:
        query = query.where(Application.status == status)
    return list(session.scalars(query.order_by(Application.id.desc())))


def sensitive_values(application: Application, secret_key: str) -> dict[str, str]:
    if not application.sensitive_sealed:
        return {}
    return json.loads(secrets.unseal(secret_key, application.sensitive_sealed))


def update_form(session: Session, *, applicant: Applicant, application_id: int,
                changes: dict[str, Any], secret_key: str,
                privacy_version: str | None = None) -> Application:
    """Autosave: any subset of fields; all valid or nothing saved, every problem listed.

    ``privacy_version``: the privacy notice the person filling in must have agreed to before
    the form takes personal data (403 PRIVACY_CONSENT_REQUIRED, nothing saved); None when a
    commissioner fills it at the window (帮办代办: consent is taken there in person)."""
    application, actor = get_for(session, applicant=applicant, application_id=application_id,
                                 need=EDIT)
    workflow.ensure_editable(application.status)
    if privacy_version is not None and personal_data.touches_personal_data(changes):
        personal_data.require_consent(session, applicant, privacy_version)
    bundle = bundle_of(session, application)
    clean, errors = application_form.validate(bundle.fields, changes)
    values = dict(application.form_values)
    hidden = sensitive_values(application, secret_key)
    for code, value in clean.items():
        target = hidden if code in SENSITIVE else values
        if value is None:
            target.pop(code, None)
        else:
            target[code] = value
    errors |= {k: v for k, v in cross_check(values | hidden, application.answers).items()
               if k in changes and k not in errors}
    if errors:
        raise FieldsInvalid("FORM_INVALID", _form_paths(errors), lead="以下内容需要修改：")
    application.form_values = values
    application.sensitive_sealed = secrets.seal(secret_key, json.dumps(hidden)) if hidden else None
    application.updated_at = utcnow()
    if clean and shared(session, application):  # several fill it in: say who saved what
        labels = {f.code: f.label for f in bundle.fields}
        timeline.record(session, application, actor=actor, action="application.form_saved",
                        message="填写申请表：" + "、".join(labels[c] for c in clean),
                        data={"fields": sorted(clean)})
    return application


def shared(session: Session, application: Application) -> bool:
    """Whether anyone but the owner was ever let in (then every save names who saved)."""
    return session.scalar(select(ApplicationCollaborator.id).where(
        ApplicationCollaborator.application_id == application.id).limit(1)) is not None


def cross_check(values: dict[str, Any], answers: dict[str, Any]) -> dict[str, dict[str, str]]:
    """Rules between fields: kind and credit code, the 受托人 someone other than the legal
    representative (AGENT_IS_LEGAL_REP), city and county, area and guidance answer."""
    errors: dict[str, dict[str, str]] = {}

    def guard(fields: tuple[str, ...], check) -> None:
        if all(values.get(f) is not None for f in fields):
            try:
                check(*(values[f] for f in fields))
            except entity.FieldInvalid as problem:
                errors[fields[-1]] = {"code": problem.code, "message": problem.message}

    guard(("entity_kind", "credit_code"), entity.entity_kind)
    guard(("legal_rep_id_number", "agent_id_number"), _agent_is_someone_else)
    guard(("premises_city_code", "premises_county_code"), entity.division)
    if "floor_area" in answers and values.get("floor_area") is not None \
            and float(values["floor_area"]) != float(answers["floor_area"]):
        errors["floor_area"] = {
            "code": "FLOOR_AREA_MISMATCH",
            "message": f"经营场所面积须与情形引导中填写的 {answers['floor_area']} 平方米一致；"
                       "如有变化请重新发起申请，以便重新确定需办理的事项"}
    return errors


def _agent_is_someone_else(legal_rep_id: str, agent_id: str) -> None:
    if legal_rep_id == agent_id:
        raise entity.FieldInvalid(
            "AGENT_IS_LEGAL_REP", "受托人与法定代表人（负责人）是同一人；本人办理的，"
            "请在情形引导中选择“不委托他人”后重新发起申请")


def missing_fields(bundle: Bundle, application: Application, secret_key: str) -> list[dict]:
    present = set(application.form_values) | set(sensitive_values(application, secret_key))
    return [{"code": f.code, "label": f.label} for f in bundle.fields
            if f.required and f.code not in present]


# what each state of a material reads as, wherever it is shown
MATERIAL_STATE_LABELS = {"uploaded": "已上传", "optional": "选交（可不上传）",
                         "deferrable": "可容缺，现场核查时提交", "missing": "尚未上传"}


def material_status(bundle: Bundle, application: Application) -> list[dict[str, Any]]:
    """Each material of the merged list with its uploaded files and what is still missing
    (``state`` and its ``state_label``)."""
    uploaded: dict[str, int] = {}
    for f in application.files:
        uploaded[f.material_code] = uploaded.get(f.material_code, 0) + 1
    out = []
    for m in bundle.notice["materials"]:
        count = uploaded.get(m["code"], 0)
        if count:
            state = "uploaded"
        elif not m["required"]:
            state = "optional"
        elif m["deferral"] == notice.DEFERRABLE:
            state = "deferrable"  # may be confirmed at the on-site check (容缺)
        else:
            state = "missing"
        out.append(m | {"file_count": count, "state": state,
                        "state_label": MATERIAL_STATE_LABELS[state]})
    return out


def submit(session: Session, *, applicant: Applicant, application_id: int, secret_key: str,
           actor: timeline.Actor = None) -> Application:
    """Submit if complete; otherwise one APPLICATION_INCOMPLETE (422) listing everything:
    form fields missing (FIELD_REQUIRED) or at odds (cross_check) in ``details.fields`` as
    ``fields.<code>``, and materials to upload in ``details.missing_materials``
    (``[{code, name, items}]``; uploads are not fields of a request body)."""
    application, helper = get_for(session, applicant=applicant,
                                  application_id=application_id, need=DECIDE)
    step = workflow.transition(application.status, workflow.Action.SUBMIT,
                               role=workflow.APPLICANT)
    bundle = bundle_of(session, application)
    problems = {f["code"]: {"code": "FIELD_REQUIRED", "message": f"请填写{f['label']}"}
                for f in missing_fields(bundle, application, secret_key)}
    problems |= cross_check(application.form_values
                            | sensitive_values(application, secret_key), application.answers)
    problems |= unsigned_commitments(bundle, application)
    materials = material_status(bundle, application)
    missing = [m for m in materials if m["state"] == "missing"]
    if problems or missing:
        raise FieldsInvalid(
            "APPLICATION_INCOMPLETE", _form_paths(problems), lead="申请尚不完整：",
            more=["请上传：" + "、".join(m["name"] for m in missing)] if missing else [],
            details={"missing_materials": [{"code": m["code"], "name": m["name"],
                                            "items": m["items"]} for m in missing]})
    deferred = [m for m in materials if m["state"] == "deferrable"]
    application.deferred_materials = [m["code"] for m in deferred]
    application.submitted_at = utcnow()
    move_items(application, workflow.Action.SUBMIT, role=workflow.APPLICANT)
    session.flush()
    if application.submission_number is None:
        day = application.submitted_at.astimezone(clock.CHINA)  # the day applicants know
        application.submission_number = f"SX{day:%Y%m%d}{application.id:07d}"
    message = f"{step.label}，申请编号 {application.submission_number}"
    if deferred:
        message += "；容缺受理，以下材料将在现场核查时确认：" + "、".join(
            m["name"] for m in deferred)
    timeline.fire(session, application, application, step, actor=actor or helper,
                  message=message,
                  data={"deferred_materials": application.deferred_materials})
    return application


def unsigned_commitments(bundle: Bundle, application: Application,
                         ) -> dict[str, dict[str, str]]:
    """告知承诺 chosen in the form (the item's ``commitment.mode_field`` answered
    ``commitment``) but not signed (``services.commitments.sign``): COMMITMENT_NOT_SIGNED on
    that field."""
    signed = {c.item_code for c in application.commitments}
    out = {}
    for code in bundle.item_codes:
        spec = bundle.document.permit_items[code]
        field = spec.commitment.mode_field if spec.by_commitment else None
        if field and application.form_values.get(field) == "commitment" \
                and code not in signed:
            out[field] = {"code": "COMMITMENT_NOT_SIGNED",
                          "message": f"选择告知承诺方式办理“{spec.name}”的，须先签署承诺书"}
    return out


def move_items(application: Application, action: workflow.Action, *, role: str,
               only: set[str] | None = None) -> None:
    """Move every item that can make ``action`` (the application's event covers them)."""
    for item in application.items:
        if only is not None and item.status not in only:
            continue
        if (workflow.ItemState(item.status), action) in workflow.ITEM_MOVES:
            step = workflow.transition(item.status, action, role=role, kind=workflow.ItemState)
            item.status = step.target


def _form_paths(problems: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    """Form fields are named as the autosave body names them: ``fields.<code>``."""
    return {f"fields.{code}": problem for code, problem in problems.items()}


def withdraw(session: Session, *, applicant: Applicant, application_id: int) -> Application:
    """Withdraw a draft, or a submitted application not yet accepted (the owner or the
    authorised agent)."""
    application, actor = get_for(session, applicant=applicant,
                                 application_id=application_id, need=DECIDE)
    step = workflow.transition(application.status, workflow.Action.WITHDRAW,
                               role=workflow.APPLICANT)
    move_items(application, workflow.Action.CLOSE, role=workflow.SYSTEM)
    timeline.fire(session, application, application, step, actor=actor)
    return application
