"""Opaque bearer tokens: 256 random bits for the holder, only a SHA-256 kept by us.

Server-side tokens (not JWTs) so that logout, password change or a blocked account
revokes them at once.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from backend.models import AccessToken
from backend.models.base import utcnow


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def issue(session: Session, *, subject_kind: str, subject_id: int, ttl_seconds: int,
          ) -> tuple[str, datetime]:
    raw = secrets.token_urlsafe(32)
    expires_at = utcnow() + timedelta(seconds=ttl_seconds)
    session.add(AccessToken(token_hash=_digest(raw), subject_kind=subject_kind,
                            subject_id=subject_id, expires_at=expires_at))
    return raw, expires_at


def resolve(session: Session, raw: str, *, subject_kind: str) -> AccessToken | None:
    """The live token for ``raw``, or None when unknown, expired, revoked or of another kind."""
    if not raw or len(raw) > 128:
        return None
    token = session.scalar(select(AccessToken).where(AccessToken.token_hash == _digest(raw)))
    if (token is None or token.subject_kind != subject_kind or token.revoked_at is not None
            or token.expires_at <= utcnow()):
        return None
    return token


def revoke(session: Session, token: AccessToken) -> None:
    token.revoked_at = utcnow()


def revoke_all(session: Session, *, subject_kind: str, subject_id: int) -> None:
    """End every live session of one subject (an account disabled, its password reset)."""
    session.execute(update(AccessToken).where(
        AccessToken.subject_kind == subject_kind, AccessToken.subject_id == subject_id,
        AccessToken.revoked_at.is_(None)).values(revoked_at=utcnow()))


def purge_expired(session: Session, *, now: datetime | None = None) -> int:
    """Delete tokens past expiry; the worker's periodic tick calls this."""
    result = session.execute(delete(AccessToken).where(AccessToken.expires_at <= (now or utcnow())))
    return result.rowcount or 0
