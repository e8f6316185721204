"""告知承诺制 (国办发〔2020〕42号《关于全面推行证明事项和涉企经营许可事项告知承诺制的指导意见》).

For a permit item the catalog lists as eligible (``PermitItem.commitment``), the applicant
signs the catalog's commitment text; the approving unit may then approve the item at once,
without the on-site check, and a post-check (事后核查) is due within the catalog's number of
working days. The post-check is an inspection of kind ``post_check``: scheduled, recorded and
concluded through the joint-inspection machinery (``services.inspections``), without
rectification. A false commitment (a failed post-check) revokes the item — on the license and
its e-license when one was issued, so the next scan shows it — and is recorded with its reason
on the commitment (the credit record the guideline asks for).
"""

from __future__ import annotations

from datetime import date

from sqlalchemy.orm import Session

from backend import clock, workflow
from backend.catalog_format import PermitItem
from backend.errors import NotFound, RuleViolation
from backend.models import (
    Applicant,
    Application,
    ApplicationItem,
    CatalogVersion,
    Inspection,
    InspectionResult,
    ItemCommitment,
    StaffAccount,
)
from backend.models.base import utcnow
from backend.security import permissions
from backend.services import applications, calendar, licenses, notice, review, timeline, window

P = workflow.PostCheckState
POST_CHECK = "post_check"
OPEN = (P.TO_SCHEDULE, P.SCHEDULED)
DEFAULT_OPINION = "申请人已签署告知承诺书，当场准予许可，实行事后核查"


def _offer(spec: PermitItem, item_code: str) -> PermitItem:
    if not spec.by_commitment:
        raise RuleViolation("COMMITMENT_NOT_ALLOWED", f"“{spec.name}”不适用告知承诺制",
                            {"item_code": item_code})
    return spec


def _item(application: Application, item_code: str) -> ApplicationItem:
    item = next((i for i in application.items if i.item_code == item_code), None)
    if item is None:
        raise NotFound("ITEM_NOT_FOUND", "本申请没有该事项", {"item_code": item_code})
    return item


def of_item(application: Application, item_code: str) -> ItemCommitment | None:
    """The applicant's signed commitment for ``item_code`` (None: not chosen)."""
    return next((c for c in application.commitments if c.item_code == item_code), None)


def sign(session: Session, *, applicant: Applicant, application_id: int, item_code: str,
         text_sha256: str, signed: bool) -> ItemCommitment:
    """Choose 告知承诺 for one item and sign its text, while the application is editable.

    ``text_sha256``: the SHA-256 of the text the applicant read (``notice.text_sha256``);
    ``signed``: the applicant ticked "I have read and sign". Stored with the catalog version
    the application is pinned to, the text itself, the time and the signer. Signing again
    keeps the first signature. Errors: 404 ITEM_NOT_FOUND; 409 APPLICATION_NOT_EDITABLE;
    422 COMMITMENT_NOT_ALLOWED (the catalog does not allow it for this item),
    COMMITMENT_NOT_SIGNED (``signed`` false), COMMITMENT_TEXT_MISMATCH (another text);
    403 COLLABORATOR_NOT_ALLOWED (a collaborator: only the owner or the authorised agent vouch).
    """
    application, actor = applications.get_for(session, applicant=applicant,
                                              application_id=application_id,
                                              need=applications.DECIDE)
    workflow.ensure_editable(application.status)
    _item(application, item_code)
    bundle = applications.bundle_of(session, application)
    spec = _offer(bundle.document.permit_items[item_code], item_code)
    if not signed:
        raise RuleViolation("COMMITMENT_NOT_SIGNED", "请阅读承诺书并确认签署",
                            {"item_code": item_code})
    expected = notice.text_sha256(spec.commitment.text)
    if text_sha256 != expected:
        raise RuleViolation("COMMITMENT_TEXT_MISMATCH",
                            "签署的承诺书与目录中的文本不一致，请重新阅读",
                            {"item_code": item_code, "text_sha256": expected})
    existing = of_item(application, item_code)
    if existing is not None:
        return existing
    version = session.get(CatalogVersion, application.catalog_version_id).number
    row = ItemCommitment(item_code=item_code, catalog_version=version,
                         text=spec.commitment.text, text_sha256=expected,
                         signed_by=applicant.id, signed_at=utcnow())
    application.commitments.append(row)
    timeline.record(session, application, actor=actor, action="item.commitment_signed",
                    item_code=item_code,
                    message=f"{spec.name}：选择告知承诺方式，签署承诺书",
                    data={"catalog_version": row.catalog_version, "text_sha256": expected})
    return row


def withdraw(session: Session, *, applicant: Applicant, application_id: int,
             item_code: str) -> Application:
    """Go back to the ordinary procedure (先检查后许可) for one item while the application is
    editable. 404 COMMITMENT_NOT_FOUND when none was signed; 403 as ``sign``."""
    application, actor = applications.get_for(session, applicant=applicant,
                                              application_id=application_id,
                                              need=applications.DECIDE)
    workflow.ensure_editable(application.status)
    row = of_item(application, item_code)
    if row is None:
        raise NotFound("COMMITMENT_NOT_FOUND", "该事项未签署告知承诺书", {"item_code": item_code})
    application.commitments.remove(row)
    timeline.record(session, application, actor=actor, action="item.commitment_withdrawn",
                    item_code=item_code, message="撤回告知承诺，改为一般程序办理")
    return application


def approve(session: Session, *, staff: StaffAccount, item_id: int, version: int | None,
            opinion: str, today: date | None = None) -> ApplicationItem:
    """准予许可 at once on the signed commitment, without the on-site check (the item leaves
    the joint inspection; an inspection left with no item is dropped); a post-check is created,
    due within the catalog's ``post_check_days`` working days of today.

    Errors as ``review.decide``, and 422 COMMITMENT_NOT_ALLOWED, COMMITMENT_NOT_SIGNED (the
    applicant did not sign), COMMITMENT_ALREADY_INSPECTED (the visit already recorded it)."""
    permissions.require(staff, "review.decide")
    item = review.get_task(session, staff=staff, item_id=item_id)
    window.check_version(item, version)
    step = workflow.transition(item.status, workflow.Action.APPROVE_BY_COMMITMENT,
                               role=staff.role, kind=workflow.ItemState)
    application = item.application
    spec = _offer(applications.bundle_of(session, application).document.permit_items[
        item.item_code], item.item_code)
    if of_item(application, item.item_code) is None:
        raise RuleViolation("COMMITMENT_NOT_SIGNED",
                            "申请人未签署该事项的告知承诺书，不能按告知承诺当场许可",
                            {"item_code": item.item_code})
    _leave_joint_inspection(session, application, item.item_code, staff)
    today = today or clock.today()
    opinion = opinion.strip() or DEFAULT_OPINION
    item.decided_at, item.decided_by, item.opinion = utcnow(), staff.id, opinion
    days = spec.commitment.post_check_days
    due = calendar.add_working_days(session, today, days)
    timeline.fire(session, application, item, step, actor=staff, item_code=item.item_code,
                  message=f"{spec.name}：告知承诺，当场准予许可（{opinion}）；"
                          f"{days} 个工作日内（{due:%Y年%m月%d日}前）事后核查",
                  data={"post_check_due_on": due.isoformat()})
    session.add(Inspection(application=application, kind=POST_CHECK, item_codes=[item.item_code],
                           due_on=due, status=P.TO_SCHEDULE))
    window.conclude_if_decided(session, application)
    return item


def _leave_joint_inspection(session: Session, application: Application, item_code: str,
                            staff: StaffAccount) -> None:
    joint = application.inspection
    if joint is None or item_code not in joint.item_codes:
        return
    if any(r.item_code == item_code for r in joint.results):
        raise RuleViolation("COMMITMENT_ALREADY_INSPECTED",
                            "联合现场核查已记录该事项的结果，按核查结论办理",
                            {"item_code": item_code})
    rest = [c for c in joint.item_codes if c != item_code]
    if rest or joint.results:
        joint.item_codes = rest
        message = "告知承诺事项不再参加联合现场核查"
    else:
        application.inspection = None
        message = "告知承诺当场许可，无需联合现场核查"
    timeline.record(session, application, actor=staff, action="inspection.item_removed",
                    item_code=item_code, message=message)


def is_overdue(inspection: Inspection, today: date) -> bool:
    """A post-check still open after its due day (the catalog's working days)."""
    return (inspection.kind == POST_CHECK and inspection.status in OPEN
            and inspection.due_on is not None and inspection.due_on < today)


def conclude(session: Session, inspection: Inspection, staff: StaffAccount,
             results: dict[str, InspectionResult]) -> Inspection:
    """Close a post-check from its recorded results (``inspections.conclude`` calls this):
    every item 符合要求 → passed; any 不符合要求 → failed, the commitment false: each failed
    item is revoked with the inspectors' notes as the reason (``revoke_false``)."""
    failed = {code: r for code, r in results.items() if r.result == "fail"}
    action = workflow.Action.FAIL if failed else workflow.Action.PASS
    step = workflow.transition(inspection.status, action, role=staff.role, kind=P)
    inspection.outcome = "failed" if failed else "passed"
    inspection.concluded_on = clock.today()
    application = inspection.application
    [item_code] = inspection.item_codes  # a post-check checks the one item approved
    timeline.fire(session, application, inspection, step, actor=staff, item_code=item_code,
                  message=step.label + ("：" + "、".join(failed) if failed else ""),
                  data={"items": sorted(failed)})
    for code, result in failed.items():
        revoke_false(session, application, code, reason=result.notes.strip()
                     or "事后核查发现实际情况与承诺不符", staff=staff)
    return inspection


def revoke_false(session: Session, application: Application, item_code: str, *, reason: str,
                 staff: StaffAccount) -> None:
    """承诺不实: record it on the commitment, revoke the item (撤销许可); a case awaiting its
    license goes back to review (drop with consent, or refuse); when the license
    was issued and is live, its item there — the license's verdict and e-licenses follow
    (``licenses.change_item``), so the public page and the inspector's scan show it."""
    reason = f"告知承诺不实：{reason}"[:500]
    commitment = of_item(application, item_code)
    if commitment is not None:
        commitment.found_false_at, commitment.found_false_reason = utcnow(), reason
    item = _item(application, item_code)
    if item.status == workflow.ItemState.APPROVED:
        step = workflow.transition(item.status, workflow.Action.REVOKE, role=workflow.SYSTEM,
                                   kind=workflow.ItemState)
        timeline.fire(session, application, item, step, actor=None, item_code=item_code,
                      reason=reason, message=f"{step.label}：{reason}")
    if application.status == workflow.State.APPROVED:  # 待发证: never issued with it
        step = workflow.transition(application.status, workflow.Action.REVOKE,
                                   role=workflow.SYSTEM)
        timeline.fire(session, application, application, step, actor=None,
                      item_code=item_code, reason=reason)
    license_ = licenses.of_application(session, application)
    if license_ is None or license_.status != licenses.ACTIVE:
        return
    held = next((i for i in license_.items if i.item_code == item_code), None)
    if held is not None and held.status != licenses.REVOKED:
        licenses.change_item(session, license_, held, action="revoke", reason=reason,
                             actor=staff)


def result_problem(inspection: Inspection, result: str) -> dict[str, str] | None:
    """A post-check has no rectification: the commitment was true or false."""
    if inspection.kind == POST_CHECK and result == "rectify":
        return {"code": "POST_CHECK_NO_RECTIFICATION",
                "message": "事后核查只记录“符合要求”或“不符合要求”（承诺不实的撤销许可）"}
    return None


def view(application: Application, item_code: str, today: date) -> dict | None:
    """The commitment of one item as the applicant and staff see it: what was signed (text
    version = catalog version + SHA-256), when, and its post-check (due day, status,
    overdue, outcome); None when the item is not by commitment."""
    row = of_item(application, item_code)
    if row is None:
        return None
    check = next((i for i in application.post_checks if item_code in i.item_codes), None)
    return {
        "catalog_version": row.catalog_version, "text_sha256": row.text_sha256,
        "text": row.text, "signed_at": row.signed_at, "signed_by": row.signed_by,
        "found_false_at": row.found_false_at, "found_false_reason": row.found_false_reason,
        "post_check": None if check is None else {
            "id": check.id, "status": check.status,
            "status_label": workflow.label(check.status, P), "due_on": check.due_on,
            "scheduled_on": check.scheduled_on, "outcome": check.outcome,
            "overdue": is_overdue(check, today)},
    }
