"""电子证照: the combined license and each bundled permit as an electronic license.

One row per e-license (``item_code`` empty for the 行业综合许可证, else the permit item's
code) holding its current 证照标识 (GB/T 36904) and the core metadata of GB/T 36903 as real
columns, plus an extension block with the license-specific face fields. Each issue, change,
renewal and status change appends an :class:`ElicenseEvent` with its national operation code:
the identifier history (a new version links the previous identifier) and the record the
e-license library push reads. ``backend.services.elicenses`` keeps both in step with the
license; nothing else writes them. Each download by the holder is an
:class:`ElicenseDownload` (``backend.services.elicense_downloads``).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backend.models.base import Base, utcnow

COMBINED = ""  # the item_code of the combined license's own e-license


class Elicense(Base):
    __tablename__ = "elicenses"
    __table_args__ = (UniqueConstraint("license_id", "item_code"),
                      # the expiry sweep: still 有效, validity ended
                      Index("ix_elicenses_status_code", "status_code", "valid_until"))

    id: Mapped[int] = mapped_column(primary_key=True)
    license_id: Mapped[int] = mapped_column(ForeignKey("licenses.id"))
    item_code: Mapped[str] = mapped_column(String(64))  # COMBINED: the combined license
    # 证照标识, current version; earlier ones are in the events (previous_identifier chain)
    identifier: Mapped[str] = mapped_column(String(128), unique=True)
    previous_identifier: Mapped[str | None] = mapped_column(String(128))
    type_code: Mapped[str] = mapped_column(String(21))  # 证照类型代码
    type_name: Mapped[str] = mapped_column(String(100))  # 证照类型名称
    type_estimated: Mapped[bool]  # the type code is a catalog placeholder
    definer_name: Mapped[str] = mapped_column(String(100))  # 定义机构名称 (code: type_code[:18])
    issuer_code: Mapped[str] = mapped_column(String(18))  # 颁发机构代码
    issuer_name: Mapped[str] = mapped_column(String(100))  # 颁发机构名称
    issuer_level: Mapped[str] = mapped_column(String(16))  # province | city | county
    issuer_estimated: Mapped[bool]  # the issuer code is a placeholder (not in the settings)
    serial: Mapped[str] = mapped_column(String(32))  # 流水号
    version: Mapped[int]  # 版本号 (001 …)
    license_no: Mapped[str] = mapped_column(String(40))  # 证照编号, as printed
    name: Mapped[str] = mapped_column(String(100))  # 证照名称
    issued_on: Mapped[date]  # 颁发日期 of this version
    valid_from: Mapped[date]  # 有效期起始
    valid_until: Mapped[date | None]  # 有效期截止; None: 长期
    division_code: Mapped[str] = mapped_column(String(6))  # 所属管辖属地 (GB/T 2260)
    holder_name: Mapped[str] = mapped_column(String(200))  # 持证主体
    holder_code: Mapped[str] = mapped_column(String(18))  # 持证主体代码
    holder_code_type: Mapped[str] = mapped_column(String(3))  # 001 信用代码 | 111 身份号码
    service_item_name: Mapped[str] = mapped_column(String(100))  # 关联事项名称
    service_item_code: Mapped[str | None] = mapped_column(String(64))  # 关联事项代码
    status_code: Mapped[str] = mapped_column(String(2))  # 01 有效 … (services.elicenses)
    status_reason: Mapped[str | None] = mapped_column(String(500))
    # who sealed the current version's file, and when: empty until files are sealed
    sealed_at: Mapped[datetime | None]
    sealed_by: Mapped[str | None] = mapped_column(String(100))
    extension: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # face fields
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # two writers of one status (two workers' expiry sweeps): the second fails, rolls back
    lock_version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": lock_version}

    events: Mapped[list[ElicenseEvent]] = relationship(
        back_populates="elicense", cascade="all, delete-orphan", order_by="ElicenseEvent.id")


class ElicenseEvent(Base):
    """One issue, change, renewal or status change of an e-license (append-only): what the
    e-license library is told, in its order (``id``)."""

    __tablename__ = "elicense_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    elicense_id: Mapped[int] = mapped_column(ForeignKey("elicenses.id"), index=True)
    identifier: Mapped[str] = mapped_column(String(128), index=True)  # after this change
    previous_identifier: Mapped[str | None] = mapped_column(String(128))  # a new version's
    operation_code: Mapped[str] = mapped_column(String(2))  # 01 新发 … 09 变更
    status_code: Mapped[str] = mapped_column(String(2))  # after this change
    reason: Mapped[str | None] = mapped_column(String(500))
    # the audited step of the application's timeline that caused it (who, when, why)
    application_event_id: Mapped[int | None] = mapped_column(ForeignKey("application_events.id"))
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)

    elicense: Mapped[Elicense] = relationship(back_populates="events")


class ElicenseDownload(Base):
    """One download of an e-license by its holder (用证, ``services.elicense_downloads``):
    who, which version (its 证照标识), the stated purpose of use (用证事由), from which client
    address, when, which file, and until when the link given works. Append-only."""

    __tablename__ = "elicense_downloads"

    id: Mapped[int] = mapped_column(primary_key=True)
    license_id: Mapped[int] = mapped_column(ForeignKey("licenses.id"), index=True)
    elicense_id: Mapped[int] = mapped_column(ForeignKey("elicenses.id"))
    identifier: Mapped[str] = mapped_column(String(128))  # the version downloaded
    applicant_id: Mapped[int] = mapped_column(ForeignKey("applicants.id"))
    purpose: Mapped[str] = mapped_column(String(16))  # elicense_downloads.PURPOSES
    purpose_text: Mapped[str | None] = mapped_column(String(100))  # 其他: in their own words
    client_address: Mapped[str | None] = mapped_column(String(45))  # IPv6 at most
    file_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]

    elicense: Mapped[Elicense] = relationship()
