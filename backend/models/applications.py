"""An application (申请): one per business and industry, pinned to a catalog version.

Its permit items each get a lane (ApplicationItem) so the parallel process can track them
one by one; materials are files shared by every item that needs them; the timeline is an
append-only list of events.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backend.models.base import Base, utcnow


class Application(Base):
    __tablename__ = "applications"
    __table_args__ = (Index("ix_applications_applicant_status", "applicant_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    applicant_id: Mapped[int] = mapped_column(ForeignKey("applicants.id"))
    catalog_version_id: Mapped[int] = mapped_column(ForeignKey("catalog_versions.id"))
    industry_code: Mapped[str] = mapped_column(String(64))
    answers: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(32), default="draft")
    form_values: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # ID-card and phone numbers, sealed at rest (backend.security.secrets)
    sensitive_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    deferred_materials: Mapped[list[str]] = mapped_column(JSON, default=list)
    submission_number: Mapped[str | None] = mapped_column(String(32), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    submitted_at: Mapped[datetime | None]
    lock_version: Mapped[int] = mapped_column(default=1)

    # two staff (or two retries) acting at once: the second write fails instead of winning
    __mapper_args__ = {"version_id_col": lock_version}

    items: Mapped[list[ApplicationItem]] = relationship(
        back_populates="application", cascade="all, delete-orphan", order_by="ApplicationItem.id")
    files: Mapped[list[MaterialFile]] = relationship(
        back_populates="application", cascade="all, delete-orphan",
        order_by="(MaterialFile.material_code, MaterialFile.position)")
    events: Mapped[list[ApplicationEvent]] = relationship(
        back_populates="application", cascade="all, delete-orphan",
        order_by="ApplicationEvent.id")


class ApplicationItem(Base):
    """One permit item of the bundle: its own unit, its own status (物理打包)."""

    __tablename__ = "application_items"
    __table_args__ = (UniqueConstraint("application_id", "item_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"))
    item_code: Mapped[str] = mapped_column(String(64))
    approving_unit: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(32), default="draft")
    reason: Mapped[str] = mapped_column(String(500))  # why the item is in the bundle

    application: Mapped[Application] = relationship(back_populates="items")


class MaterialFile(Base):
    """One page or photo of a material; the bytes live in the media store by SHA-256."""

    __tablename__ = "material_files"
    __table_args__ = (UniqueConstraint("application_id", "material_code", "sha256"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"))
    material_code: Mapped[str] = mapped_column(String(64))
    position: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    thumbnail_sha256: Mapped[str | None] = mapped_column(String(64))
    media_type: Mapped[str] = mapped_column(String(32))
    byte_size: Mapped[int]
    width: Mapped[int | None]
    height: Mapped[int | None]
    page_count: Mapped[int | None]
    uploaded_at: Mapped[datetime] = mapped_column(default=utcnow)

    application: Mapped[Application] = relationship(back_populates="files")


class ApplicationEvent(Base):
    """The timeline, append-only: who did what, when, in words the applicant reads."""

    __tablename__ = "application_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_kind: Mapped[str] = mapped_column(String(16))  # applicant | staff | system
    actor_id: Mapped[int | None]
    actor_label: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(String(1000))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    application: Mapped[Application] = relationship(back_populates="events")


class IdempotencyRecord(Base):
    """A client's Idempotency-Key and the first answer to it (IETF draft)."""

    __tablename__ = "idempotency_records"
    __table_args__ = (UniqueConstraint("scope", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[str] = mapped_column(String(100))  # who and what, e.g. applicant:7:submit:42
    key: Mapped[str] = mapped_column(String(100))
    fingerprint: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None]
    response: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
