"""The in-app message list (消息中心): every notification, whatever WeChat did with it.

A recipient is ``("applicant", id)`` or ``("staff", id)``; another recipient's message
answers 404 exactly like a missing one. Nothing here commits.
"""

from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from backend.errors import NotFound
from backend.models.base import utcnow
from backend.models.notifications import InboxMessage

Recipient = tuple[str, int]


def _mine(recipient: Recipient):
    kind, ident = recipient
    return (InboxMessage.recipient_kind == kind) & (InboxMessage.recipient_id == ident)


def unread_count(session: Session, recipient: Recipient) -> int:
    return session.scalar(select(func.count()).select_from(InboxMessage).where(
        _mine(recipient), InboxMessage.read_at.is_(None))) or 0


def list_messages(session: Session, recipient: Recipient, *, unread_only: bool = False,
                  page: int = 1, per_page: int = 20) -> tuple[list[InboxMessage], int]:
    """Newest first, with the total for the pager."""
    query = select(InboxMessage).where(_mine(recipient))
    if unread_only:
        query = query.where(InboxMessage.read_at.is_(None))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(InboxMessage.id.desc())
                           .offset((page - 1) * per_page).limit(per_page))
    return list(rows), total


def mark_read(session: Session, recipient: Recipient, message_id: int) -> InboxMessage:
    """Mark one message read; marking it again changes nothing."""
    message = session.scalar(select(InboxMessage).where(_mine(recipient),
                                                        InboxMessage.id == message_id))
    if message is None:
        raise NotFound("MESSAGE_NOT_FOUND", "消息不存在", {"message_id": message_id})
    if message.read_at is None:
        message.read_at = utcnow()
    return message


def mark_all_read(session: Session, recipient: Recipient) -> int:
    return session.execute(update(InboxMessage).where(
        _mine(recipient), InboxMessage.read_at.is_(None)).values(read_at=utcnow())
        .execution_options(synchronize_session=False)).rowcount or 0
