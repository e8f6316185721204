"""一窗受理 and the decision: the window commissioner accepts, asks for supplements once,
refuses acceptance, and ends an application whose item was refused.

晋政办发〔2022〕90号 二（四）: a dedicated window and commissioner; 二（三）: after acceptance
every item goes to its approving unit at once (并联). Acceptance starts each item's clock
(promised working days); the joint inspection is opened when any item needs a visit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import ColumnElement, and_, distinct, exists, false, func, select
from sqlalchemy.orm import Session, selectinload

from backend import clock, workflow
from backend.errors import Conflict, NotFound, RuleViolation
from backend.models import (
    Application,
    ApplicationItem,
    CatalogVersion,
    Inspection,
    InspectionMember,
    StaffAccount,
)
from backend.models.base import utcnow
from backend.security import permissions
from backend.services import (
    applications,
    calendar,
    documents,
    notice,
    pages,
    time_limits,
    timeline,
)

SEE_ALL = {workflow.COMMISSIONER, workflow.COORDINATOR, "system_admin"}
# the window's tabs: what waits for it, in the order of the work
QUEUE_STATUSES = (workflow.State.SUBMITTED, workflow.State.SUPPLEMENT_REQUESTED,
                  workflow.State.IN_REVIEW, workflow.State.APPROVED, workflow.State.LICENSED)
# the working-day clocks the window watches: in-review cases with an item due soon or overdue
CLOCK_FILTERS = ("due_soon", "overdue")


def check_version(subject, version: int | None) -> None:
    """Optimistic locking: the version the client saw must still be current."""
    if version is not None and subject.lock_version != version:
        raise Conflict("VERSION_CONFLICT", "数据已被他人更新，请刷新后重试",
                       {"current_version": subject.lock_version, "status": subject.status})


def staff_may_see(session: Session, staff: StaffAccount, application: Application) -> bool:
    """Object-level access: the window and coordinators see all; a unit sees applications
    with one of its items; an inspector those whose inspection they are on. Never drafts."""
    if application.status == workflow.State.DRAFT:
        return False
    if staff.role in SEE_ALL:
        return True
    if staff.role == workflow.REVIEWER:  # once sent to the unit (workflow.SENT_TO_UNIT)
        return application.accepted_at is not None and any(
            i.approving_unit == staff.unit_code and i.status in workflow.SENT_TO_UNIT
            for i in application.items)
    if staff.role == "inspector":
        return session.scalar(
            select(InspectionMember.id).join(Inspection)
            .where(Inspection.application_id == application.id,
                   InspectionMember.staff_id == staff.id).limit(1)) is not None
    return False


def visible_to(staff: StaffAccount) -> ColumnElement[bool]:
    """:func:`staff_may_see` as a condition on ``Application``, for lists and searches."""
    shown = Application.status != workflow.State.DRAFT
    if staff.role in SEE_ALL:
        return shown
    if staff.role == workflow.REVIEWER:
        return and_(shown, Application.accepted_at.is_not(None),
                    exists().where(ApplicationItem.application_id == Application.id,
                                   ApplicationItem.approving_unit == staff.unit_code,
                                   ApplicationItem.status.in_(workflow.SENT_TO_UNIT)))
    if staff.role == "inspector":
        return and_(shown, exists().where(Inspection.application_id == Application.id,
                                          InspectionMember.inspection_id == Inspection.id,
                                          InspectionMember.staff_id == staff.id))
    return false()


def get_for_staff(session: Session, staff: StaffAccount, application_id: int) -> Application:
    application = session.get(Application, application_id)
    if application is None or not staff_may_see(session, staff, application):
        raise NotFound("APPLICATION_NOT_FOUND", "申请不存在", {"application_id": application_id})
    return application


def queue(session: Session, *, staff: StaffAccount, status: str | None, industry: str | None,
          page: int, per_page: int, clock_state: str | None = None,
          today: date | None = None) -> tuple[list[Application], int]:
    """The window's work: applications by status (default: awaiting acceptance), oldest first;
    or, by ``clock_state`` (due_soon / overdue), the cases with an open item in that state."""
    permissions.require(staff, "application.view_any")
    query = select(Application).where(Application.status != workflow.State.DRAFT)
    if clock_state:
        query = query.where(select(ApplicationItem.id).where(
            ApplicationItem.application_id == Application.id,
            *time_limits.in_state(session, clock_state, today or clock.today())).exists())
    else:
        query = query.where(Application.status == (status or workflow.State.SUBMITTED))
    if industry:
        query = query.where(Application.industry_code == industry)
    query = query.options(selectinload(Application.items))
    return pages.page(session, query, Application.submitted_at, Application.id, page=page,
                      per_page=per_page)


def counts(session: Session, *, staff: StaffAccount, today: date | None = None,
           ) -> dict[str, int]:
    """How many cases wait on each tab: one grouped query for the statuses, one per clock."""
    permissions.require(staff, "application.view_any")
    by_status = dict(session.execute(
        select(Application.status, func.count()).where(Application.status.in_(QUEUE_STATUSES))
        .group_by(Application.status)).all())
    out = {str(s): by_status.get(s, 0) for s in QUEUE_STATUSES}
    today = today or clock.today()
    for state in CLOCK_FILTERS:
        out[state] = session.scalar(
            select(func.count(distinct(ApplicationItem.application_id))).join(Application)
            .where(*time_limits.in_state(session, state, today))) or 0
    return out


@dataclass(frozen=True)
class Desk:
    """The window's queue page: one page of cases, each with the clock of its open item due
    first (None when none runs), the total, and the count on every tab."""

    rows: list[tuple[Application, time_limits.Clock | None]]
    total: int
    counts: dict[str, int]
    # the catalog versions of the page, read at once and held while the page is drawn (the
    # session's identity map holds objects weakly: each row would read its version again)
    versions: list[CatalogVersion]


def desk(session: Session, *, staff: StaffAccount, status: str | None, clock_state: str | None,
         industry: str | None, page: int, per_page: int, today: date | None = None) -> Desk:
    today = today or clock.today()
    rows, total = queue(session, staff=staff, status=status, industry=industry, page=page,
                        per_page=per_page, clock_state=clock_state, today=today)
    items = [item for application in rows for item in application.items]
    earliest: dict[int, time_limits.Clock] = {}
    for item, limit in zip(items, time_limits.of_items(session, items, today), strict=True):
        if limit.remaining_working_days is None:
            continue
        best = earliest.get(item.application_id)
        if best is None or limit.remaining_working_days < best.remaining_working_days:
            earliest[item.application_id] = limit
    versions = list(session.scalars(select(CatalogVersion).where(
        CatalogVersion.id.in_({a.catalog_version_id for a in rows})))) if rows else []
    return Desk([(a, earliest.get(a.id)) for a in rows], total,
                counts(session, staff=staff, today=today), versions)


def actions_for(staff: StaffAccount, application: Application) -> list[workflow.Action]:
    """What ``staff`` may do to the case now, as the workflow allows it; 不予许可 only once
    an item was refused (the service would refuse it otherwise)."""
    actions = workflow.allowed_actions(application.status, role=staff.role)
    if not any(i.status in workflow.NOT_GRANTED for i in application.items):
        actions = [a for a in actions if a != workflow.Action.REFUSE]
    return actions


def accept(session: Session, *, staff: StaffAccount, application_id: int, version: int | None,
           note: str = "", today: date | None = None) -> Application:
    """受理 (with deferred materials when some were 容缺): open every review at once."""
    permissions.require(staff, "application.accept")
    application = get_for_staff(session, staff, application_id)
    check_version(application, version)
    step = workflow.transition(application.status, workflow.Action.ACCEPT, role=staff.role)
    today = today or clock.today()
    bundle = applications.bundle_of(session, application)
    application.accepted_at = utcnow()
    application.accepted_on = today
    application.acceptance_number = f"SL{today:%Y%m%d}{application.id:07d}"
    for item in application.items:
        item_step = workflow.transition(item.status, workflow.Action.ACCEPT, role=staff.role,
                                        kind=workflow.ItemState)
        item.due_on = calendar.add_working_days(session, today, item.promised_days)
        unit = bundle.document.units[item.approving_unit].name
        name = bundle.document.permit_items[item.item_code].name
        timeline.fire(session, application, item, item_step, actor=staff, item_code=item.item_code,
                      message=f"{name}：分送{unit}审查，{item.promised_days} 个工作日内办结"
                              f"（{item.due_on:%Y年%m月%d日}前）")
    checked = _items_to_inspect(bundle, application)
    if checked:
        application.inspection = Inspection(item_codes=checked)
    deferred = [m["name"] for m in bundle.notice["materials"]
                if m["code"] in application.deferred_materials]
    message = f"窗口受理，受理编号 {application.acceptance_number}"
    if deferred:
        message += "；容缺受理，现场核查时须确认：" + "、".join(deferred)
    timeline.fire(session, application, application, step, actor=staff, message=message,
                  reason=note or None, data={"acceptance_number": application.acceptance_number,
                                             "deferred_materials": application.deferred_materials,
                                             "inspection_items": checked})
    documents.issue(session, application, "acceptance", staff=staff)
    return application


def _items_to_inspect(bundle: applications.Bundle, application: Application) -> list[str]:
    """Items with a mandatory visit, plus as-needed ones whose materials were deferred."""
    deferred = set(application.deferred_materials)
    serves: dict[str, set[str]] = {}
    for material in bundle.notice["materials"]:
        if material["code"] in deferred:
            for item in material["items"]:
                serves.setdefault(item["code"], set()).add(material["code"])
    out = []
    for item in application.items:
        onsite = bundle.document.permit_items[item.item_code].onsite_check
        if onsite == "always" or (onsite == "as_needed" and item.item_code in serves):
            out.append(item.item_code)
    return out


def request_supplements(session: Session, *, staff: StaffAccount, application_id: int,
                        version: int | None, demands: list[dict[str, str]], note: str,
                        ) -> Application:
    """补正: ONE notice listing everything to fix; the applicant edits and resubmits."""
    permissions.require(staff, "application.request_supplements")
    application = get_for_staff(session, staff, application_id)
    check_version(application, version)
    step = workflow.transition(application.status, workflow.Action.REQUEST_SUPPLEMENTS,
                               role=staff.role)
    if not demands:
        raise RuleViolation("SUPPLEMENT_DEMANDS_EMPTY", "请逐项列明需要补正的内容")
    application.supplement_notice = {"demands": demands, "note": note,
                                     "requested_at": utcnow().isoformat(),
                                     "by": staff.display_name}
    message = "请补正以下内容后重新提交：" + "；".join(
        f"{d['subject']}：{d['demand']}" for d in demands)
    timeline.fire(session, application, application, step, actor=staff, message=message,
                  reason=note or None, data={"demands": demands})
    documents.issue(session, application, "supplements", staff=staff)
    return application


def request_supplements_of(session: Session, *, staff: StaffAccount, application_id: int,
                           version: int | None, fields: list[str], materials: list[str],
                           note: str) -> Application:
    """补正 by picking the application's own form fields and materials (the console's
    checkboxes): each becomes one demand of the one notice, named as the applicant saw it."""
    application = get_for_staff(session, staff, application_id)
    bundle = applications.bundle_of(session, application)
    labels = {f.code: f.label for f in bundle.fields}
    names = {m["code"]: m["name"] for m in bundle.notice["materials"]}
    unknown = [c for c in fields if c not in labels] + [c for c in materials if c not in names]
    if unknown:
        raise RuleViolation("SUPPLEMENT_SUBJECT_UNKNOWN", "所选补正内容不属于本申请",
                            {"codes": unknown})
    demands = ([{"subject": labels[c], "demand": FIELD_DEMAND} for c in dict.fromkeys(fields)]
               + [{"subject": names[c], "demand": MATERIAL_DEMAND}
                  for c in dict.fromkeys(materials)])
    return request_supplements(session, staff=staff, application_id=application_id,
                               version=version, demands=demands, note=note)


FIELD_DEMAND = "请核实并按要求更正该项内容"
MATERIAL_DEMAND = "请补充或重新上传该材料"


def reject(session: Session, *, staff: StaffAccount, application_id: int, version: int | None,
           reason: str) -> Application:
    """不予受理, with the reason the applicant reads."""
    permissions.require(staff, "application.reject")
    application = get_for_staff(session, staff, application_id)
    check_version(application, version)
    step = workflow.transition(application.status, workflow.Action.REJECT, role=staff.role)
    applications.move_items(application, workflow.Action.CLOSE, role=workflow.SYSTEM)
    application.decided_at, application.decision_reason = utcnow(), reason
    timeline.fire(session, application, application, step, actor=staff,
                  message=f"不予受理：{reason}", reason=reason)
    documents.issue(session, application, "not_accepted", staff=staff)
    return application


def consent_to_drop(session: Session, *, applicant, application_id: int, item_code: str,
                    ) -> Application:
    """The applicant (or the authorised agent) agrees to go on without a refused (or, 告知承诺,
    revoked) item."""
    application, actor = applications.get_for(session, applicant=applicant,
                                              application_id=application_id,
                                              need=applications.DECIDE)
    item = _item(application, item_code)
    if item.status not in workflow.NOT_GRANTED:
        raise Conflict("ITEM_NOT_REFUSED", "只有不予许可的事项才能放弃办理",
                       {"status": item.status})
    _ensure_droppable(session, application, item)
    item.applicant_consents_to_drop = True
    timeline.record(session, application, actor=actor, action="item.drop_consented",
                    item_code=item_code, message="申请人同意不再办理该事项，其余事项继续办理")
    return application


def drop_item(session: Session, *, staff: StaffAccount, application_id: int, item_code: str,
              version: int | None) -> Application:
    """Drop a refused item with the applicant's consent, where the industry can do without it."""
    permissions.require(staff, "application.drop_item")
    application = get_for_staff(session, staff, application_id)
    check_version(application, version)
    item = _item(application, item_code)
    step = workflow.transition(item.status, workflow.Action.DROP, role=staff.role,
                               kind=workflow.ItemState)
    _ensure_droppable(session, application, item)
    if not item.applicant_consents_to_drop:
        raise RuleViolation("ITEM_DROP_NEEDS_CONSENT", "放弃办理该事项须先取得申请人同意")
    timeline.fire(session, application, item, step, actor=staff, item_code=item_code)
    application.updated_at = utcnow()  # bumps the application's version for other staff
    conclude_if_decided(session, application)
    return application


def _ensure_droppable(session: Session, application: Application, item: ApplicationItem) -> None:
    document = applications.bundle_of(session, application).document
    if item.item_code in notice.essential_items(document, application.industry_code,
                                                application.answers):
        raise RuleViolation("ITEM_NOT_DROPPABLE", "该事项是本行业经营的必备许可，不能放弃办理",
                            {"item_code": item.item_code})


def refuse(session: Session, *, staff: StaffAccount, application_id: int, version: int | None,
           reason: str) -> Application:
    """不予许可 of the whole application, once an item was refused and cannot be dropped."""
    permissions.require(staff, "application.refuse")
    application = get_for_staff(session, staff, application_id)
    check_version(application, version)
    step = workflow.transition(application.status, workflow.Action.REFUSE, role=staff.role)
    if not any(i.status in workflow.NOT_GRANTED for i in application.items):
        raise RuleViolation("REFUSAL_NEEDS_REFUSED_ITEM",
                            "只有在有事项不予许可时才能作出不予许可决定")
    applications.move_items(application, workflow.Action.CLOSE, role=workflow.SYSTEM)
    application.decided_at, application.decision_reason = utcnow(), reason
    timeline.fire(session, application, application, step, actor=staff,
                  message=f"不予许可：{reason}", reason=reason)
    return application


def _item(application: Application, item_code: str) -> ApplicationItem:
    for item in application.items:
        if item.item_code == item_code:
            return item
    raise NotFound("ITEM_NOT_FOUND", "本申请没有该事项", {"item_code": item_code})


def conclude_if_decided(session: Session, application: Application) -> None:
    """Every remaining item approved and the inspection (if any) passed → approved."""
    if application.status != workflow.State.IN_REVIEW:
        return
    live = [i for i in application.items if i.status != workflow.ItemState.DROPPED]
    if not live or any(i.status != workflow.ItemState.APPROVED for i in live):
        return
    inspection = application.inspection
    if inspection is not None and inspection.status != workflow.InspectionState.PASSED:
        return
    step = workflow.transition(application.status, workflow.Action.APPROVE,
                               role=workflow.SYSTEM)
    application.decided_at = utcnow()
    timeline.fire(session, application, application, step, actor=None,
                  data={"items": [i.item_code for i in live]})

