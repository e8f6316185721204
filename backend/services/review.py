"""并联审批: one review task per permit item, each seen and decided only by its approving unit.

Each item keeps its own legal basis, decision and clock (物理打包); one unit's delay never
blocks another's work, and the last decision that completes the bundle approves it.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend import workflow
from backend.errors import NotFound, RuleViolation
from backend.models import Application, ApplicationItem, StaffAccount
from backend.models.base import utcnow
from backend.security import permissions
from backend.services import application_form, applications, pages, timeline, window


def _sent_to_unit():
    """The condition (on ApplicationItem joined to Application) for an item its unit sees
    (workflow.SENT_TO_UNIT)."""
    return (Application.accepted_at.is_not(None)
            & ApplicationItem.status.in_(workflow.SENT_TO_UNIT))


def unit_queue(session: Session, *, staff: StaffAccount, status: str | None, page: int,
               per_page: int) -> tuple[list[ApplicationItem], int]:
    """My unit's review tasks (default: pending), the earliest deadline first."""
    permissions.require(staff, "review.list_unit")
    query = (select(ApplicationItem).join(Application)
             .where(ApplicationItem.approving_unit == staff.unit_code)
             .where(ApplicationItem.status == (status or workflow.ItemState.UNDER_REVIEW))
             .where(_sent_to_unit()))
    return pages.page(session, query, ApplicationItem.due_on, ApplicationItem.id, page=page,
                      per_page=per_page)


def get_task(session: Session, *, staff: StaffAccount, item_id: int) -> ApplicationItem:
    """A task of my unit; another unit's task is "not found", exactly like a missing one."""
    permissions.require(staff, "review.list_unit")
    item = session.scalar(select(ApplicationItem).join(Application).where(
        ApplicationItem.id == item_id, _sent_to_unit()))
    if item is None or item.approving_unit != staff.unit_code:
        raise NotFound("REVIEW_NOT_FOUND", "审查任务不存在", {"review_id": item_id})
    return item


def decide(session: Session, *, staff: StaffAccount, item_id: int, version: int | None,
           approve: bool, opinion: str) -> ApplicationItem:
    """准予许可 with an opinion, or 不予许可 with its legal reason."""
    permissions.require(staff, "review.decide")
    item = get_task(session, staff=staff, item_id=item_id)
    window.check_version(item, version)
    action = workflow.Action.APPROVE if approve else workflow.Action.REFUSE
    step = workflow.transition(item.status, action, role=staff.role, kind=workflow.ItemState)
    if not opinion.strip():
        raise RuleViolation("REVIEW_OPINION_REQUIRED",
                            "请填写审查意见" if approve else "不予许可须说明理由和法律依据")
    application = item.application
    name = applications.bundle_of(session, application).document.permit_items[
        item.item_code].name
    item.decided_at, item.decided_by, item.opinion = utcnow(), staff.id, opinion.strip()
    verdict = "准予许可" if approve else "不予许可"
    timeline.fire(session, application, item, step, actor=staff, item_code=item.item_code,
                  message=f"{name}：{verdict}（{opinion.strip()}）",
                  reason=None if approve else opinion.strip())
    window.conclude_if_decided(session, application)
    return item


def dossier(session: Session, item: ApplicationItem,
            ) -> tuple[applications.Bundle, list[application_form.Field], list[dict]]:
    """What the reviewer of one item reads, and nothing more: the shared fields (entity,
    contact, premises), the catalog fields this item needs (its own and those it shares with
    other items), and the materials this item needs, with their upload state."""
    bundle = applications.bundle_of(session, item.application)
    fields = [f for f in bundle.fields if not f.items or item.item_code in f.items]
    materials = [m for m in applications.material_status(bundle, item.application)
                 if item.item_code in {i["code"] for i in m["items"]}]
    return bundle, fields, materials
