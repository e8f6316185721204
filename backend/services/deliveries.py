"""Delivery state for administrators, and replay of a delivery that did not go through.

Replay puts a ``refused``, ``skipped``, ``failed`` or ``uncertain`` row back to ``pending``,
due now, for a fresh series of attempts (a push to the e-license library: the later pushes
of its e-license, held back meanwhile, follow it) (the old count and error stay in its note). A
``sent`` row is never replayed (that is a duplicate by definition). An ``uncertain`` WeChat
row may already have reached the user (its worker died mid-send, or WeChat answered late, not
at all or garbled: ``channels.classify_failure``), so replaying it requires
``accept_duplicate_risk``. Every replay is logged with who did it. Nothing here commits.
"""

from __future__ import annotations

import logging

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.errors import Conflict, NotFound, RuleViolation
from backend.models import StaffAccount
from backend.models.base import utcnow
from backend.security import permissions
from backend.services import elicense_library, pages
from notifications import outbox
from notifications.outbox import OutboxMessage

log = logging.getLogger(__name__)


def list_deliveries(session: Session, *, staff: StaffAccount, status: str | None,
                    channel: str | None, event: str | None, target: str | None, page: int,
                    per_page: int) -> tuple[list[OutboxMessage], int]:
    permissions.require(staff, "notifications.admin")
    query = select(OutboxMessage)
    if status:
        query = query.where(OutboxMessage.status == status)
    if channel:
        query = query.where(OutboxMessage.channel == channel)
    if event:
        query = query.where(OutboxMessage.event == event)
    if target:
        query = query.where(OutboxMessage.target == target)
    return pages.page(session, query, OutboxMessage.id.desc(), page=page, per_page=per_page)


def summary(session: Session, *, staff: StaffAccount, library_configured: bool) -> dict:
    """Counts by channel and status, the oldest due row still waiting (the lag), and the
    e-license library's state (``elicense_library.status``: pushes wait while
    ELICENSE_LIBRARY_URL, ``library_configured``, is empty)."""
    permissions.require(staff, "notifications.admin")
    counts: dict[str, dict[str, int]] = {}
    for channel, status, n in session.execute(
            select(OutboxMessage.channel, OutboxMessage.status, func.count())
            .group_by(OutboxMessage.channel, OutboxMessage.status)):
        counts.setdefault(channel, {})[status] = n
    oldest = session.scalar(select(func.min(OutboxMessage.due_at)).where(
        OutboxMessage.status == outbox.PENDING, OutboxMessage.due_at <= utcnow()))
    lag = (utcnow() - oldest).total_seconds() if oldest else 0.0
    return {"counts": counts, "oldest_due_pending_seconds": round(lag, 3),
            "elicense_library": elicense_library.status(session,
                                                        configured=library_configured)}


def get(session: Session, *, staff: StaffAccount, delivery_id: int) -> OutboxMessage:
    permissions.require(staff, "notifications.admin")
    row = session.get(OutboxMessage, delivery_id)
    if row is None:
        raise NotFound("DELIVERY_NOT_FOUND", "投递记录不存在", {"id": delivery_id})
    return row


def replayable(row: OutboxMessage) -> bool:
    """Whether a replay may be asked for: a push that did not go through (an in-app-only
    event has nothing to send, a sent or pending one nothing to redo)."""
    return row.channel != outbox.NONE and row.status in outbox.REPLAYABLE


def risks_duplicate(row: OutboxMessage) -> bool:
    """Whether a replay may reach the user twice: a WeChat send whose outcome is unknown."""
    return row.status == outbox.UNCERTAIN and row.channel == outbox.WECHAT


def replay(session: Session, *, staff: StaffAccount, delivery_id: int,
           accept_duplicate_risk: bool = False) -> OutboxMessage:
    row = get(session, staff=staff, delivery_id=delivery_id)
    if row.channel == outbox.NONE:
        raise RuleViolation("DELIVERY_NOTHING_TO_SEND", "该事件只写入站内消息，无需重发")
    if row.status not in outbox.REPLAYABLE:
        raise Conflict("DELIVERY_NOT_REPLAYABLE",
                       "已送达或正在投递的记录不能重发" if row.status != outbox.PENDING
                       else "该记录已在等待投递", {"status": row.status})
    if risks_duplicate(row) and not accept_duplicate_risk:
        raise Conflict("DELIVERY_MAY_HAVE_ARRIVED",
                       "该微信消息可能已送达（投递结果未知），重发可能造成重复；"
                       "确认后请带 accept_duplicate_risk=true 重试", {"status": row.status})
    log.warning("delivery replayed", extra={"outbox_id": row.id, "by": staff.username,
                                            "previous_status": row.status,
                                            "previous_error": row.last_error})
    previous, tried = row.status, row.attempts
    row.status, row.due_at, row.claim_token, row.locked_until = outbox.PENDING, utcnow(), None, None
    row.attempts = 0  # a fresh series of attempts; the old count stays in the note
    row.error_class = "replayed"
    row.last_error = (f"由 {staff.username} 重发（原状态 {previous}，已尝试 {tried} 次；"
                      f"原因：{row.last_error or '无'}）")[:1000]
    outbox.ring_after_commit(session)
    return row
