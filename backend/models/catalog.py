"""The industry catalog, versioned (动态调整目录).

A version is immutable once loaded: its validated document is kept whole, and the rows of
``catalog_industries`` / ``catalog_permit_items`` index it for listing, search and routing.
Applications pin a version, so a later catalog change never alters what they applied under.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backend.models.base import Base, utcnow


class CatalogVersion(Base):
    __tablename__ = "catalog_versions"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[int] = mapped_column(unique=True)
    # SHA-256 of the canonical document: loading an unchanged file creates nothing
    checksum: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(500))
    # ~80 KB: read only when a process first needs this version (catalog.document_of)
    document: Mapped[dict[str, Any]] = mapped_column(JSON, deferred=True)
    loaded_at: Mapped[datetime] = mapped_column(default=utcnow)
    loaded_by: Mapped[str] = mapped_column(String(64))

    industries: Mapped[list[CatalogIndustry]] = relationship(
        back_populates="version", cascade="all, delete-orphan", order_by="CatalogIndustry.id"
    )
    permit_items: Mapped[list[CatalogPermitItem]] = relationship(
        cascade="all, delete-orphan", order_by="CatalogPermitItem.id"
    )


class CatalogIndustry(Base):
    __tablename__ = "catalog_industries"
    __table_args__ = (UniqueConstraint("version_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("catalog_versions.id"), index=True)
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(100))
    category: Mapped[str] = mapped_column(String(50))
    pinyin_initials: Mapped[str] = mapped_column(String(100))
    pinyin_full: Mapped[str] = mapped_column(Text)
    item_count: Mapped[int]  # base items, before guidance answers add or remove any
    promised_days: Mapped[int]  # the longest base item: items run in parallel (并联)
    retired: Mapped[bool] = mapped_column(default=False)
    estimated: Mapped[bool] = mapped_column(default=False)

    version: Mapped[CatalogVersion] = relationship(back_populates="industries")


class CatalogPermitItem(Base):
    __tablename__ = "catalog_permit_items"
    __table_args__ = (UniqueConstraint("version_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("catalog_versions.id"), index=True)
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(100))
    approving_unit: Mapped[str] = mapped_column(String(64), index=True)
    supervising_unit: Mapped[str] = mapped_column(String(64), index=True)
    legal_days: Mapped[int]
    promised_days: Mapped[int]
    onsite_check: Mapped[str] = mapped_column(String(16))
    estimated: Mapped[bool] = mapped_column(default=False)
