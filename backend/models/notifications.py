"""What notifications leave behind besides the outbox (``notifications.outbox``).

- ``InboxMessage``: the in-app message list. Written in the SAME transaction as the state
  change (by ``outbox.enqueue``), so what the applicant sees never depends on WeChat.
- ``WechatSubscription``: the one-time subscribe-message quota per user and template, as the
  mini-program reports it after ``wx.requestSubscribeMessage`` (one acceptance = one message).
- ``DepartmentEndpoint``: a supervising department's webhook URL, signing secret (sealed at
  rest) and pull-feed API key (hashed).
- ``DepartmentRecord``: every approval record owed to a department (谁主管谁监管), the body of
  its webhook and the rows of its pull feed; ``id`` is the feed cursor.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Base, utcnow


class InboxMessage(Base):
    __tablename__ = "inbox_messages"
    __table_args__ = (
        Index("ix_inbox_messages_recipient", "recipient_kind", "recipient_id", "id"),
        Index("ix_inbox_messages_unread", "recipient_kind", "recipient_id", "read_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    recipient_kind: Mapped[str] = mapped_column(String(16))  # applicant | staff
    recipient_id: Mapped[int]
    # the outbox dedupe key of the event (or the tick's key): one message per event, ever
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    event: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(100))
    body: Mapped[str] = mapped_column(String(2000))
    page: Mapped[str | None] = mapped_column(String(200))  # mini-program page to open
    application_id: Mapped[int | None] = mapped_column(index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    read_at: Mapped[datetime | None]


class WechatSubscription(Base):
    __tablename__ = "wechat_subscriptions"
    __table_args__ = (UniqueConstraint("applicant_id", "template_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    applicant_id: Mapped[int] = mapped_column(ForeignKey("applicants.id"))
    template_id: Mapped[str] = mapped_column(String(64))  # WeChat's template id
    remaining: Mapped[int] = mapped_column(default=0)  # messages we may still send
    accepted_total: Mapped[int] = mapped_column(default=0)
    last_result: Mapped[str] = mapped_column(String(16))  # accept | reject | ban | filter | spent
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class DepartmentEndpoint(Base):
    __tablename__ = "department_endpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    department_code: Mapped[str] = mapped_column(String(64), unique=True)  # catalog unit code
    url: Mapped[str | None] = mapped_column(String(500))  # None: pull feed only
    secret_sealed: Mapped[bytes] = mapped_column(LargeBinary(512))  # HMAC key, Fernet-sealed
    api_key_hash: Mapped[str] = mapped_column(String(64), unique=True)  # SHA-256 of the key
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    updated_by: Mapped[str] = mapped_column(String(64))


class DepartmentRecord(Base):
    __tablename__ = "department_records"
    __table_args__ = (Index("ix_department_records_feed", "department_code", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)  # the pull feed's cursor
    department_code: Mapped[str] = mapped_column(String(64))
    # the idempotency id the department dedupes on (header X-Yiye-Delivery and body "id")
    record_id: Mapped[str] = mapped_column(String(200), unique=True)
    event: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
