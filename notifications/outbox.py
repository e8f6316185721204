"""The transactional outbox: the queue of record for every notification and department push.

A domain event (``enqueue``) is written in the SAME transaction as the state change that
caused it, and is fanned out there and then (``notifications.routing``): the applicant's
in-app message, one outbox row for the WeChat subscribe message, and one department record
plus one outbox row per supervising department webhook. So a commit carries the state change
and everything it owes to others, or none of it; nothing is lost nor invented.

Each outbox row is ONE delivery (``channel`` + ``target``) and moves through::

    pending ──claim──▶ sending (lease) ──▶ sent
       ▲                  │  └──────────▶ refused (for good: configuration error, the user's
       └── retry, backed  │                 decision) · skipped (nothing to send: no quota,
           off by class ◀─┘                 no endpoint) · failed (attempts exhausted)
                          └─ lease expired ▶ webhook, library: pending again (they dedupe)
                                            WeChat: uncertain (never resent, see below)

Pushes to the province's e-license library (channel ``elicense``) are written the same way,
one per e-license event, by ``backend.services.elicense_library.queue``. A closed case's
archive job (channel ``archive``) is queued so too, by ``backend.services.archive.queue``, and
built by the worker's archive step (``archive.build_due``), not sent anywhere.

The worker (``notifications.delivery``) claims rows with ``SELECT … FOR UPDATE SKIP LOCKED``
on MariaDB and a compare-and-set UPDATE everywhere; Redis (``notifications.doorbell``) only
rings a doorbell after commit. The unique ``dedupe_key`` makes every re-run of a producer
(a retried request, a periodic tick run twice, two workers ticking at once) add nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import current_app, has_app_context
from sqlalchemy import JSON, Index, String, event, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from backend.models.base import Base, utcnow

PENDING, SENDING, SENT = "pending", "sending", "sent"
REFUSED, SKIPPED, FAILED, UNCERTAIN = "refused", "skipped", "failed", "uncertain"
STATUSES = (PENDING, SENDING, SENT, REFUSED, SKIPPED, FAILED, UNCERTAIN)
REPLAYABLE = frozenset({REFUSED, SKIPPED, FAILED, UNCERTAIN})
WECHAT, WEBHOOK, NONE = "wechat", "webhook", "none"
ELICENSE = "elicense"  # a push to the province's e-license library (notifications.library)
ARCHIVE = "archive"  # a closed case's archive package to build (backend.services.archive)
# as the administrator's console shows them
STATUS_LABELS = {PENDING: "待发送", SENDING: "发送中", SENT: "已发送", REFUSED: "被拒收",
                 SKIPPED: "未发送", FAILED: "发送失败", UNCERTAIN: "结果不明"}
CHANNEL_LABELS = {WECHAT: "微信订阅消息", WEBHOOK: "部门推送", ELICENSE: "电子证照库",
                  ARCHIVE: "档案归档",
                  NONE: "无渠道"}
_RING = "outbox.ring_after_commit"


class OutboxMessage(Base):
    __tablename__ = "outbox_messages"
    __table_args__ = (Index("ix_outbox_messages_due", "status", "due_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event: Mapped[str] = mapped_column(String(64), index=True)
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    aggregate: Mapped[str] = mapped_column(String(64), index=True)  # e.g. application:42
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    due_at: Mapped[datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    # rows written before the fan-out existed were never fanned out: "none" for them
    channel: Mapped[str] = mapped_column(String(16), default=WECHAT, server_default=NONE)
    # applicant:7 | department code | elicense_library
    target: Mapped[str | None] = mapped_column(String(100))
    # the claim: who holds the row while sending, and until when (a dead worker's lease ends)
    claim_token: Mapped[str | None] = mapped_column(String(32))
    locked_until: Mapped[datetime | None]
    error_class: Mapped[str | None] = mapped_column(String(32))  # transient | config | user …


def enqueue(session: Session, *, event: str, aggregate: str, dedupe_key: str,
            payload: dict[str, Any], due_at: datetime | None = None) -> OutboxMessage:
    """Add an event to the caller's transaction; the same dedupe key twice adds it once.

    The event is fanned out at once (in-app message, WeChat delivery, department records),
    so the caller's commit carries everything the state change owes to others.
    """
    for pending in session.new:
        if isinstance(pending, OutboxMessage) and pending.dedupe_key == dedupe_key:
            return pending
    existing = session.scalar(select(OutboxMessage).where(OutboxMessage.dedupe_key == dedupe_key))
    if existing is not None:
        return existing
    message = OutboxMessage(event=event, aggregate=aggregate, dedupe_key=dedupe_key,
                            payload=payload, due_at=due_at or utcnow())
    session.add(message)
    from notifications import routing  # noqa: PLC0415 - routing needs the whole model package

    routing.fan_out(session, message)
    session.info[_RING] = True
    return message


def ring_after_commit(session: Session) -> None:
    """Ask for the doorbell after this session's next commit (e.g. after a replay)."""
    session.info[_RING] = True


@event.listens_for(Session, "after_commit")
def _ring(session: Session) -> None:
    """Wake a worker once the rows are visible; best effort, the worker polls anyway."""
    if session.info.pop(_RING, False):
        from notifications import doorbell  # noqa: PLC0415

        redis = current_app.extensions.get("redis") if has_app_context() else None
        doorbell.ring(redis)


@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    session.info.pop(_RING, None)
