"""The 行业综合许可证 (一证准营): one license per application, versioned.

Every change of what the face shows (变更, 延续, 补发) makes a new version with a new image;
an old QR still resolves to the license and shows its current state. Each bundled permit
stays an item of its own with a sub-license number (the electronic license of the original
permit kept during the transition) and a status its unit can suspend or revoke.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backend.models.applications import Inspection
from backend.models.base import Base, utcnow
from backend.models.elicenses import COMBINED, Elicense


class License(Base):
    __tablename__ = "licenses"

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"), unique=True)
    license_no: Mapped[str] = mapped_column(String(32), unique=True)
    version: Mapped[int] = mapped_column(default=1)  # the face version the QR carries
    status: Mapped[str] = mapped_column(String(16), default="active")  # active|cancelled|revoked
    industry_code: Mapped[str] = mapped_column(String(64))
    industry_name: Mapped[str] = mapped_column(String(100))
    industry_category: Mapped[str] = mapped_column(String(50))
    # the console's search: by number (unique), holder name or credit code, each a prefix
    holder_name: Mapped[str] = mapped_column(String(200), index=True)
    credit_code: Mapped[str] = mapped_column(String(18), index=True)
    premises_address: Mapped[str] = mapped_column(String(300))
    county_code: Mapped[str] = mapped_column(String(6))
    issuing_authority: Mapped[str] = mapped_column(String(100))
    issued_on: Mapped[date]
    valid_until: Mapped[date | None]  # None: long-term (no bundled permit expires)
    status_reason: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    lock_version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": lock_version}

    items: Mapped[list[LicenseItem]] = relationship(
        back_populates="license", cascade="all, delete-orphan", order_by="LicenseItem.id")
    renditions: Mapped[list[LicenseRendition]] = relationship(
        back_populates="license", cascade="all, delete-orphan")
    changes: Mapped[list[LicenseChange]] = relationship(
        back_populates="license", cascade="all, delete-orphan", order_by="LicenseChange.id")
    # 电子证照 (backend.models.elicenses): the combined license's own and each permit's
    elicenses: Mapped[list[Elicense]] = relationship(
        cascade="all, delete-orphan", order_by="Elicense.id")
    # the application's joint inspection, if it had one (the public page shows its outcome)
    inspection: Mapped[Inspection | None] = relationship(
        primaryjoin="and_(License.application_id == foreign(Inspection.application_id), "
                    "Inspection.kind == 'joint')",
        viewonly=True, uselist=False)

    @property
    def identifier(self) -> str | None:
        """证照标识 of the combined license (``elicenses``)."""
        return next((e.identifier for e in self.elicenses if e.item_code == COMBINED), None)

    @property
    def inspected_on(self) -> date | None:
        return self.inspection.concluded_on if self.inspection is not None else None

    @property
    def inspection_outcome(self) -> str | None:
        return self.inspection.outcome if self.inspection is not None else None


class LicenseItem(Base):
    """One bundled permit on the license, with its own electronic sub-license."""

    __tablename__ = "license_items"
    __table_args__ = (UniqueConstraint("license_id", "item_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    license_id: Mapped[int] = mapped_column(ForeignKey("licenses.id"))
    item_code: Mapped[str] = mapped_column(String(64))
    item_name: Mapped[str] = mapped_column(String(100))
    sub_license_no: Mapped[str] = mapped_column(String(40), unique=True)
    approving_unit: Mapped[str] = mapped_column(String(64), index=True)
    supervising_unit: Mapped[str] = mapped_column(String(64))
    required: Mapped[bool]  # the industry cannot operate without it
    valid_until: Mapped[date | None]
    status: Mapped[str] = mapped_column(String(16), default="active")  # active|suspended|revoked
    status_reason: Mapped[str | None] = mapped_column(String(500))

    license: Mapped[License] = relationship(back_populates="items")

    @property
    def identifier(self) -> str | None:
        """证照标识 of this permit's e-license (``License.elicenses``)."""
        return next((e.identifier for e in self.license.elicenses
                     if e.item_code == self.item_code), None)


RECORD_BYTES = 2**24 - 1


class LicensePublicRecord(Base):
    """What a public scan of the license shows, as one JSON array
    (``services.public_records``): derived from the license, its permits, their e-licenses
    and the joint inspection, emptied in the transaction of every change to them and written
    again after its commit, so a cold scan reads one row by one key. No foreign key: derived
    data, kept by that module."""

    __tablename__ = "license_public_records"

    license_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    license_no: Mapped[str] = mapped_column(String(32), unique=True)
    # None while a change of it is being written (read through the join meanwhile). MEDIUMTEXT
    # on MariaDB: thirty permits each with a 500-character reason pass TEXT's 64 KB
    record: Mapped[str | None] = mapped_column(Text(RECORD_BYTES))


class LicenseRendition(Base):
    """The rendered face of one version, kept in the media store: rendered once, cached."""

    __tablename__ = "license_renditions"
    __table_args__ = (UniqueConstraint("license_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    license_id: Mapped[int] = mapped_column(ForeignKey("licenses.id"))
    version: Mapped[int]
    png_sha256: Mapped[str] = mapped_column(String(64), index=True)
    pdf_sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    verify_url: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    license: Mapped[License] = relationship(back_populates="renditions")


class LicenseChange(Base):
    """变更 / 延续 / 补发: a short request; a change is reviewed by every affected unit."""

    __tablename__ = "license_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    license_id: Mapped[int] = mapped_column(ForeignKey("licenses.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # change | renewal | replacement
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending|approved|refused
    changes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    reason: Mapped[str] = mapped_column(String(500), default="")
    # unit code → {"decision": approved|refused, "by": staff id, "opinion": …}
    unit_decisions: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None]
    lock_version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": lock_version}

    license: Mapped[License] = relationship(back_populates="changes")
