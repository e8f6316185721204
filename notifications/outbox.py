"""The transactional outbox: domain events written in the SAME transaction as the state
change that caused them, so a notification or department push is never lost nor invented.

The worker (notifications issue) delivers due rows; a unique dedupe key makes every
re-run harmless.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from backend.models.base import Base, utcnow


class OutboxMessage(Base):
    __tablename__ = "outbox_messages"
    __table_args__ = (Index("ix_outbox_messages_due", "status", "due_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event: Mapped[str] = mapped_column(String(64), index=True)
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    aggregate: Mapped[str] = mapped_column(String(64), index=True)  # e.g. application:42
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    due_at: Mapped[datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]


def enqueue(session: Session, *, event: str, aggregate: str, dedupe_key: str,
            payload: dict[str, Any], due_at: datetime | None = None) -> OutboxMessage:
    """Add an event to the caller's transaction; the same dedupe key twice adds it once."""
    for pending in session.new:
        if isinstance(pending, OutboxMessage) and pending.dedupe_key == dedupe_key:
            return pending
    existing = session.scalar(select(OutboxMessage).where(OutboxMessage.dedupe_key == dedupe_key))
    if existing is not None:
        return existing
    message = OutboxMessage(event=event, aggregate=aggregate, dedupe_key=dedupe_key,
                            payload=payload, due_at=due_at or utcnow())
    session.add(message)
    return message
