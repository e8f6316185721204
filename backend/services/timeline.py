"""The append-only record of an application: every transition with actor, role, time, from,
to and reason (the audit log), in words the applicant reads (the timeline). Transitions that
notify also write their domain event to the outbox, in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from backend import workflow
from backend.models import Applicant, Application, ApplicationEvent, StaffAccount
from backend.services.staff import ROLES
from notifications import outbox


@dataclass(frozen=True)
class OnBehalf:
    """A window commissioner doing what the applicant would, for a walk-in (帮办代办): the
    timeline names the commissioner and says 窗口代办."""

    staff: StaffAccount


@dataclass(frozen=True)
class Helper:
    """Another WeChat user the owner invited (backend.services.collaborators): a 协作人
    (``collaborator``) or the authorised 受托人 (``agent``); the timeline names the role and
    keeps the applicant's id."""

    applicant: Applicant
    role: str


HELPER_LABELS = {"collaborator": "协作人", "agent": "受托人"}
Actor = Applicant | StaffAccount | OnBehalf | Helper | None


def _who(actor: Actor) -> tuple[str, int | None, str, str]:
    if isinstance(actor, Helper):
        return "applicant", actor.applicant.id, HELPER_LABELS[actor.role], workflow.APPLICANT
    if isinstance(actor, OnBehalf):
        return "staff", actor.staff.id, f"{actor.staff.display_name}（窗口代办）", actor.staff.role
    if isinstance(actor, Applicant):
        return "applicant", actor.id, "申请人", workflow.APPLICANT
    if isinstance(actor, StaffAccount):
        return "staff", actor.id, f"{actor.display_name}（{ROLES[actor.role]}）", actor.role
    return "system", None, "系统", workflow.SYSTEM


def record(session: Session, application: Application, *, actor: Actor, action: str,
           message: str, from_state: str | None = None, to_state: str | None = None,
           reason: str | None = None, item_code: str | None = None,
           data: dict[str, Any] | None = None, notify: bool = False) -> ApplicationEvent:
    kind, actor_id, actor_label, role = _who(actor)
    event = ApplicationEvent(
        actor_kind=kind, actor_id=actor_id, actor_label=actor_label, actor_role=role,
        action=action, item_code=item_code, from_state=from_state, to_state=to_state,
        reason=reason[:1000] if reason else None, message=message[:1000], data=data or {},
    )
    application.events.append(event)
    if action in archive_triggers():
        from backend.services import archive  # noqa: PLC0415 - archive reads the whole case

        archive.queue(session, application, event)
    if notify:
        session.flush()  # the event's id makes the outbox dedupe key
        outbox.enqueue(session, event=action, aggregate=f"application:{application.id}",
                       dedupe_key=f"{action}:{event.id}", payload={
                           "application_id": application.id,
                           "applicant_id": application.applicant_id,
                           "industry_code": application.industry_code,
                           "submission_number": application.submission_number,
                           "acceptance_number": application.acceptance_number,
                           "item_code": item_code, "status": to_state,
                           "message": message, "reason": reason, **(data or {}),
                       })
    return event


def archive_triggers() -> frozenset[str]:
    """The events after which a closed case's archive package is (re)built."""
    from backend.services import archive  # noqa: PLC0415

    return archive.TRIGGERS


def fire(session: Session, application: Application, subject, step: workflow.Transition, *,
         actor: Actor, message: str | None = None, reason: str | None = None,
         item_code: str | None = None, data: dict[str, Any] | None = None) -> ApplicationEvent:
    """Move ``subject`` (application, item or inspection) along ``step`` and record it."""
    source = subject.status
    subject.status = step.target
    return record(session, application, actor=actor, action=step.event,
                  message=message or step.label, from_state=source, to_state=step.target,
                  reason=reason, item_code=item_code, data=data, notify=step.notify)
