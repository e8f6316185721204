"""Opaque bearer tokens: 256 random bits for the holder, only a SHA-256 kept by us.

Server-side tokens (not JWTs) so that logout, password change or a blocked account
revokes them at once. Also the short one-time codes a person types (a staff binding code,
a walk-in's hand-over code): digits for the holder, only their SHA-256 kept by us.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session

from backend.models import AccessToken
from backend.models.base import utcnow


def digest(raw: str) -> str:
    """What we keep of a token or code: its SHA-256, hex."""
    return hashlib.sha256(raw.encode()).hexdigest()


def draw_code(session: Session, column: InstrumentedAttribute, digits: int) -> tuple[str, str]:
    """A random code of ``digits`` decimal digits and its digest, the digest not yet stored
    in ``column`` (a unique column of digests: a clash with an old code draws again)."""
    while True:
        code = f"{secrets.randbelow(10 ** digits):0{digits}d}"
        hashed = digest(code)
        if session.scalar(select(column).where(column == hashed)) is None:
            return code, hashed


def issue(session: Session, *, subject_kind: str, subject_id: int, ttl_seconds: int,
          ) -> tuple[str, datetime]:
    raw = secrets.token_urlsafe(32)
    expires_at = utcnow() + timedelta(seconds=ttl_seconds)
    session.add(AccessToken(token_hash=digest(raw), subject_kind=subject_kind,
                            subject_id=subject_id, expires_at=expires_at))
    return raw, expires_at


def resolve(session: Session, raw: str, *, subject_kind: str) -> AccessToken | None:
    """The live token for ``raw``, or None when unknown, expired, revoked or of another kind."""
    if not raw or len(raw) > 128:
        return None
    token = session.scalar(select(AccessToken).where(AccessToken.token_hash == digest(raw)))
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
