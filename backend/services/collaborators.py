"""Letting a colleague help: the owner of an application invites another WeChat user with a
one-time code; helpers fill fields and upload (rectification photos too); only the owner — or
the helper the owner made the authorised agent (受托人, for an application made through an
agent) — submits, withdraws, consents to dropping an item, asks to move the inspection,
reports a rectification and rates the case (``applications.get_for``). Every step is on the
timeline with who did it; removing a helper takes effect at once (every read and write
checks). The owner sees and cancels the codes not yet used; a code joins only an application
that can still be filled in (like inviting), and erasing the owner's data voids every unused
code (``personal_data.erase``).

Codes are 8 digits, kept only as SHA-256, used once, valid ``COLLABORATION_CODE_TTL_MINUTES``
(tries are rate-limited per applicant, like the window's claim codes). Services never
commit: the route does, once.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from backend import workflow
from backend.errors import NotFound, RuleViolation
from backend.models import Applicant, Application, ApplicationCollaborator, CollaborationInvite
from backend.models.base import utcnow
from backend.security import masking, tokens
from backend.services import application_form, applications, timeline

CODE_DIGITS = 8
ROLES = {"collaborator": "协作人：可填写申请表、上传材料",
         "agent": "受托人：还可提交、撤回申请，同意放弃事项，申请调整核查时间，提请整改复核，评价"}


def invite(session: Session, *, applicant: Applicant, application_id: int, role: str,
           ttl_minutes: int) -> tuple[str, CollaborationInvite]:
    """A one-time code for a colleague (shown once). Only the owner invites; ``agent`` only
    where the guidance answer says the application is made through an agent
    (422 COLLABORATOR_AGENT_NOT_APPLICABLE); a closed application takes no one
    (409 APPLICATION_NOT_EDITABLE)."""
    application, _ = applications.get_for(session, applicant=applicant,
                                          application_id=application_id,
                                          need=applications.OWN)
    ensure_open(application)
    if role == "agent" and application_form.applicant_role(application.answers) != "agent":
        raise RuleViolation("COLLABORATOR_AGENT_NOT_APPLICABLE",
                            "本申请未选择委托他人代为办理，不能邀请受托人；可邀请协作人",
                            {"role": role})
    code, hashed = tokens.draw_code(session, CollaborationInvite.code_hash, CODE_DIGITS)
    row = CollaborationInvite(application_id=application.id, role=role, code_hash=hashed,
                              expires_at=utcnow() + timedelta(minutes=ttl_minutes))
    session.add(row)
    timeline.record(session, application, actor=applicant, action="collaborator.invited",
                    message=f"邀请{timeline.HELPER_LABELS[role]}共同办理（一次性邀请码）",
                    data={"role": role})
    session.flush()
    return code, row


def ensure_open(application: Application) -> None:
    """Helpers are taken on only while the application can still be filled in (a draft, or
    asked for supplements): 409 APPLICATION_NOT_EDITABLE otherwise — for inviting and for
    using a code handed out before the application was withdrawn or submitted."""
    workflow.ensure_editable(application.status)


def join(session: Session, *, applicant: Applicant, code: str) -> Application:
    """Use an invitation code: the caller helps with the application from now on.
    422 COLLABORATION_CODE_INVALID for an unknown, used, expired or cancelled code or one's
    own application; 409 APPLICATION_NOT_EDITABLE when the application can no longer be
    filled in (withdrawn, submitted …; the code stays unused)."""
    now = utcnow()
    row = session.scalar(select(CollaborationInvite).where(
        CollaborationInvite.code_hash == tokens.digest(code)))
    if row is None or row.used_at is not None or row.expires_at <= now:
        raise _code_invalid()
    application = session.get(Application, row.application_id)
    if application.applicant_id == applicant.id:
        raise _code_invalid()
    ensure_open(application)
    used = session.execute(update(CollaborationInvite).where(
        CollaborationInvite.id == row.id, CollaborationInvite.used_at.is_(None))
        .values(used_at=now, used_by=applicant.id).execution_options(synchronize_session=False))
    if used.rowcount != 1:  # a parallel join used it first
        raise _code_invalid()
    helper = session.scalar(select(ApplicationCollaborator).where(
        ApplicationCollaborator.application_id == application.id,
        ApplicationCollaborator.applicant_id == applicant.id))
    if helper is None:
        helper = ApplicationCollaborator(application_id=application.id,
                                         applicant_id=applicant.id, role=row.role, added_at=now)
        session.add(helper)
    else:  # invited again after a removal, or given another role
        helper.role, helper.removed_at, helper.added_at = row.role, None, now
    timeline.record(session, application, actor=timeline.Helper(applicant, row.role),
                    action="collaborator.joined",
                    message=f"{timeline.HELPER_LABELS[row.role]}凭邀请码加入，共同办理本申请",
                    data={"role": row.role})
    session.flush()
    return application


def _code_invalid() -> RuleViolation:
    return RuleViolation("COLLABORATION_CODE_INVALID",
                         "邀请码无效、已使用或已过期，请向申请人重新获取")


def pending(session: Session, *, applicant: Applicant, application_id: int) -> list[dict]:
    """The owner's codes not yet used nor expired:
    ``[{id, role, role_label, created_at, expires_at}]`` (the code itself is not kept)."""
    application, _ = applications.get_for(session, applicant=applicant,
                                          application_id=application_id,
                                          need=applications.OWN)
    rows = session.scalars(select(CollaborationInvite).where(
        CollaborationInvite.application_id == application.id,
        CollaborationInvite.used_at.is_(None), CollaborationInvite.expires_at > utcnow())
        .order_by(CollaborationInvite.id))
    return [{"id": r.id, "role": r.role, "role_label": ROLES[r.role],
             "created_at": r.created_at, "expires_at": r.expires_at} for r in rows]


def cancel(session: Session, *, applicant: Applicant, application_id: int,
           invitation_id: int) -> Application:
    """The owner cancels a code not yet used: from now on it joins nothing.
    404 INVITATION_NOT_FOUND for another application's, a used or an expired code."""
    application, _ = applications.get_for(session, applicant=applicant,
                                          application_id=application_id,
                                          need=applications.OWN)
    row = session.get(CollaborationInvite, invitation_id)
    if row is None or row.application_id != application.id or row.used_at is not None \
            or row.expires_at <= utcnow():
        raise NotFound("INVITATION_NOT_FOUND", "邀请码不存在、已使用或已过期",
                       {"invitation_id": invitation_id})
    session.delete(row)
    timeline.record(session, application, actor=applicant, action="collaborator.invite_cancelled",
                    message=f"申请人作废了尚未使用的{timeline.HELPER_LABELS[row.role]}邀请码",
                    data={"role": row.role})
    session.flush()
    return application


def revoke_issued(session: Session, *, applicant: Applicant) -> int:
    """Delete every code not yet used that ``applicant`` handed out, for any application of
    theirs (erasure, ``personal_data.erase``); returns how many."""
    owned = select(Application.id).where(Application.applicant_id == applicant.id)
    return session.execute(delete(CollaborationInvite).where(
        CollaborationInvite.application_id.in_(owned),
        CollaborationInvite.used_at.is_(None)).execution_options(
        synchronize_session=False)).rowcount


def listing(session: Session, *, applicant: Applicant, application_id: int) -> list[dict]:
    """The active helpers of an application the caller may read:
    ``[{id, role, role_label, openid_masked, added_at, is_me}]``."""
    application, _ = applications.get_for(session, applicant=applicant,
                                          application_id=application_id)
    rows = session.execute(select(ApplicationCollaborator, Applicant.openid).join(
        Applicant, Applicant.id == ApplicationCollaborator.applicant_id).where(
        ApplicationCollaborator.application_id == application.id,
        ApplicationCollaborator.removed_at.is_(None)).order_by(ApplicationCollaborator.id))
    return [{"id": c.id, "role": c.role, "role_label": ROLES[c.role],
             "openid_masked": masking.mask_openid(openid), "added_at": c.added_at,
             "is_me": c.applicant_id == applicant.id} for c, openid in rows]


def remove(session: Session, *, applicant: Applicant, application_id: int,
           collaborator_id: int) -> Application:
    """The owner removes a helper: from the next request on, the helper's reads, writes and
    file links of this application answer 404. 404 COLLABORATOR_NOT_FOUND for another
    application's or an already removed helper."""
    application, _ = applications.get_for(session, applicant=applicant,
                                          application_id=application_id,
                                          need=applications.OWN)
    helper = session.get(ApplicationCollaborator, collaborator_id)
    if helper is None or helper.application_id != application.id or helper.removed_at:
        raise NotFound("COLLABORATOR_NOT_FOUND", "协作人不存在",
                       {"collaborator_id": collaborator_id})
    helper.removed_at = utcnow()
    timeline.record(session, application, actor=applicant, action="collaborator.removed",
                    message=f"申请人移除了{timeline.HELPER_LABELS[helper.role]}",
                    data={"role": helper.role, "applicant_id": helper.applicant_id})
    return application
