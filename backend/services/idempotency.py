"""Idempotency-Key (IETF draft "The Idempotency-Key HTTP Header Field").

A phone on weak 4G retries; a retry must never create a second application or a second
submission. The first request under a key claims it in its own committed row, so a
concurrent duplicate finds the claim (409) and a later replay gets the first answer back.
A request that failed releases its key, so the client may fix the problem and retry.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend.errors import BadRequest, Conflict, RuleViolation
from backend.models import IdempotencyRecord
from backend.models.base import utcnow

Response = tuple[dict[str, Any], int]
ABANDONED_AFTER = timedelta(seconds=60)


def fingerprint(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def run(session: Session, *, scope: str, key: str | None, payload: Any,
        action: Callable[[], Response]) -> Response:
    """Run ``action`` once per (scope, key); commits the outcome. Without a key, just run it."""
    if key is None:
        response = action()
        session.commit()
        return response
    if not 1 <= len(key) <= 100 or not key.isprintable():
        raise BadRequest("IDEMPOTENCY_KEY_INVALID", "Idempotency-Key 须为 1–100 个可见字符")
    digest = fingerprint(payload)
    record = _claim(session, scope=scope, key=key, digest=digest)
    if record.status_code is not None:
        return record.response, record.status_code
    try:
        body, status = action()
    except Exception:
        session.rollback()
        session.delete(record)
        session.commit()
        raise
    record.status_code, record.response = status, body
    session.commit()  # the action's changes and the stored answer land together
    return body, status


def _claim(session: Session, *, scope: str, key: str, digest: str) -> IdempotencyRecord:
    existing = _find(session, scope, key)
    if existing is None:
        try:
            record = IdempotencyRecord(scope=scope, key=key, fingerprint=digest)
            session.add(record)
            session.commit()
            return record
        except IntegrityError:
            session.rollback()
            existing = _find(session, scope, key)
    if existing.fingerprint != digest:
        raise RuleViolation("IDEMPOTENCY_KEY_REUSED", "同一 Idempotency-Key 不能用于不同的请求内容")
    if existing.status_code is None and existing.created_at < utcnow() - ABANDONED_AFTER:
        existing.created_at = utcnow()  # its process died mid-request: take the claim over
        session.commit()
        return existing
    if existing.status_code is None:
        raise Conflict("IDEMPOTENCY_IN_PROGRESS", "相同的请求正在处理中，请稍后查看结果",
                       headers={"Retry-After": "1"})
    return existing


def _find(session: Session, scope: str, key: str) -> IdempotencyRecord | None:
    return session.scalar(select(IdempotencyRecord).where(
        IdempotencyRecord.scope == scope, IdempotencyRecord.key == key))
