"""Collaborators: the owner invites a colleague with a one-time code, lists and cancels the
codes not yet used, lists and removes helpers (backend.services.collaborators)."""

from __future__ import annotations

from flask import current_app

from backend import presenters
from backend.extensions import db, limit_of, limiter
from backend.services import collaborators
from miniprogram_api import bp
from miniprogram_api.auth import per_applicant, token_auth
from miniprogram_api.schemas import (
    ApplicationDetail,
    CollaboratorList,
    InvitationList,
    InviteIn,
    InviteOut,
    JoinIn,
)


def _listing(application_id: int) -> dict:
    rows = collaborators.listing(db.session, applicant=token_auth.current_user,
                                 application_id=application_id)
    return {"total": len(rows), "collaborators": rows}


@bp.post("/applications/<int:application_id>/collaborators/invitations")
@bp.auth_required(token_auth)
@bp.input(InviteIn)
@bp.output(InviteOut, status_code=201)
@bp.doc(responses={403: "COLLABORATOR_NOT_ALLOWED（仅申请人本人可邀请）",
                   409: "APPLICATION_NOT_EDITABLE",
                   422: "COLLABORATOR_AGENT_NOT_APPLICABLE（未选择委托办理）"})
def invite_collaborator(application_id: int, json_data: InviteIn):
    """邀请他人共同办理：出具一次性邀请码（仅申请人本人）"""
    code, row = collaborators.invite(
        db.session, applicant=token_auth.current_user, application_id=application_id,
        role=json_data.role,
        ttl_minutes=current_app.extensions["settings"].COLLABORATION_CODE_TTL_MINUTES)
    db.session.commit()
    return {"code": code, "role": row.role, "expires_at": row.expires_at}


def _invitations(application_id: int) -> dict:
    rows = collaborators.pending(db.session, applicant=token_auth.current_user,
                                 application_id=application_id)
    return {"total": len(rows), "invitations": rows}


@bp.get("/applications/<int:application_id>/collaborators/invitations")
@bp.auth_required(token_auth)
@bp.output(InvitationList)
@bp.doc(responses={403: "COLLABORATOR_NOT_ALLOWED（仅申请人本人可查看）"})
def list_invitations(application_id: int):
    """本人出具、尚未使用的邀请码（仅申请人本人）"""
    return _invitations(application_id)


@bp.delete("/applications/<int:application_id>/collaborators/invitations/<int:invitation_id>")
@bp.auth_required(token_auth)
@bp.output(InvitationList)
@bp.doc(responses={403: "COLLABORATOR_NOT_ALLOWED（仅申请人本人可作废）",
                   404: "APPLICATION_NOT_FOUND / INVITATION_NOT_FOUND（不存在、已使用或已过期）"})
def cancel_invitation(application_id: int, invitation_id: int):
    """作废尚未使用的邀请码（仅申请人本人；立即生效）；返回其余未使用的邀请码"""
    collaborators.cancel(db.session, applicant=token_auth.current_user,
                         application_id=application_id, invitation_id=invitation_id)
    db.session.commit()
    return _invitations(application_id)


@bp.post("/applications/join")
@bp.auth_required(token_auth)
@limiter.limit(limit_of("BIND_RATE_LIMIT"), key_func=per_applicant)  # guesses, like a claim
@bp.input(JoinIn)
@bp.output(ApplicationDetail)
@bp.doc(responses={409: "APPLICATION_NOT_EDITABLE（申请已撤回、已提交等，不能再加入）",
                   422: "COLLABORATION_CODE_INVALID（无效、已使用、已过期或已作废）"})
def join_application(json_data: JoinIn):
    """凭邀请码加入他人的申请，共同填写申请表、上传材料"""
    application = collaborators.join(db.session, applicant=token_auth.current_user,
                                     code=json_data.code)
    db.session.commit()
    return presenters.detail(application, subject=f"applicant:{token_auth.current_user.id}")


@bp.get("/applications/<int:application_id>/collaborators")
@bp.auth_required(token_auth)
@bp.output(CollaboratorList)
def list_collaborators(application_id: int):
    """共同办理本申请的人（申请人与协作人可见；微信标识脱敏）"""
    return _listing(application_id)


@bp.delete("/applications/<int:application_id>/collaborators/<int:collaborator_id>")
@bp.auth_required(token_auth)
@bp.output(CollaboratorList)
@bp.doc(responses={403: "COLLABORATOR_NOT_ALLOWED（仅申请人本人可移除）",
                   404: "APPLICATION_NOT_FOUND / COLLABORATOR_NOT_FOUND"})
def remove_collaborator(application_id: int, collaborator_id: int):
    """移除协作人（仅申请人本人；立即生效）"""
    collaborators.remove(db.session, applicant=token_auth.current_user,
                         application_id=application_id, collaborator_id=collaborator_id)
    db.session.commit()
    return _listing(application_id)
