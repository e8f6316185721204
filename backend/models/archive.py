"""档案: the sealed archive package of a closed case (归档信息包), and its audit log.

One row per package version (``ArchivePackage``): the BagIt bag of everything the case holds,
zipped and kept in the media store by its SHA-256 (``backend.services.archive``). A package
is never edited: a new fact about a closed case (a revocation, a change) writes the next
version. Deleting a package after its retention period removes the bytes and keeps the row as
a tombstone (``deleted_at``, ``deleted_by``, the digest it had). Every build, verification,
opening, export, hold and deletion is an ``ArchiveEvent`` (append-only).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Base, utcnow


class ArchivePackage(Base):
    __tablename__ = "archive_packages"
    __table_args__ = (UniqueConstraint("application_id", "version"),
                      Index("ix_archive_packages_retain_until", "retain_until"))

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"), index=True)
    version: Mapped[int]  # 1, then 2 … for each later fact about the closed case
    bag_name: Mapped[str] = mapped_column(String(100))  # the bag's directory in the zip
    record_class: Mapped[str] = mapped_column(String(16))  # licensed | refused | …
    # the newest timeline event the package holds: a job for an older one adds nothing
    last_event_id: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64), index=True)  # of the zip, in the store
    byte_size: Mapped[int]
    tagmanifest_sha256: Mapped[str] = mapped_column(String(64))
    signed_by: Mapped[str] = mapped_column(String(100))  # kids that signed, comma-separated
    closed_at: Mapped[datetime]
    retain_until: Mapped[date | None]  # None: kept permanently (永久)
    legal_hold: Mapped[bool] = mapped_column(default=False)
    legal_hold_reason: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # a tombstone once deleted after retention: the bytes are gone, the row stays
    deleted_at: Mapped[datetime | None]
    deleted_by: Mapped[str | None] = mapped_column(String(100))


class ArchiveEvent(Base):
    """Who did what to which package, when (built, verified, opened, exported, held,
    released, deleted), with the outcome; append-only."""

    __tablename__ = "archive_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    package_id: Mapped[int | None] = mapped_column(ForeignKey("archive_packages.id"),
                                                   index=True)
    application_id: Mapped[int | None] = mapped_column(index=True)
    action: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(100))  # staff:7 (name) | cli | worker
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    at: Mapped[datetime] = mapped_column(default=utcnow)
