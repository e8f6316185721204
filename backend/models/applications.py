"""An application (申请): one per business and industry, pinned to a catalog version.

Its permit items each get a lane (ApplicationItem) so the parallel process can track them
one by one; materials are files shared by every item that needs them; the timeline is an
append-only list of events.
"""

from __future__ import annotations

from datetime import date, datetime
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
    # 受理: the acceptance number and the day the time-limit clock starts
    acceptance_number: Mapped[str | None] = mapped_column(String(32), unique=True)
    accepted_at: Mapped[datetime | None]
    accepted_on: Mapped[date | None]
    # ONE supplement notice (补正) listing everything to fix
    supplement_notice: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # the clock pauses while the applicant fixes supplements or rectifications
    paused_since: Mapped[date | None]
    paused_working_days: Mapped[int] = mapped_column(default=0)
    decided_at: Mapped[datetime | None]
    decision_reason: Mapped[str | None] = mapped_column(String(1000))
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
    # the joint inspection (一同核查) before the decision; post-checks (事后核查) of items
    # approved by commitment are inspections of kind "post_check", listed apart
    inspection: Mapped[Inspection | None] = relationship(
        primaryjoin="and_(Application.id == Inspection.application_id, "
                    "Inspection.kind == 'joint')",
        cascade="all, delete-orphan", uselist=False, overlaps="application,post_checks")
    post_checks: Mapped[list[Inspection]] = relationship(
        primaryjoin="and_(Application.id == Inspection.application_id, "
                    "Inspection.kind == 'post_check')",
        viewonly=True, order_by="Inspection.id")
    commitments: Mapped[list[ItemCommitment]] = relationship(
        back_populates="application", cascade="all, delete-orphan",
        order_by="ItemCommitment.id")


class ApplicationItem(Base):
    """One permit item of the bundle: its own unit, its own status (物理打包)."""

    __tablename__ = "application_items"
    __table_args__ = (
        UniqueConstraint("application_id", "item_code"),
        # the watch lists (overdue, due soon) read a range of deadlines of open review items
        Index("ix_application_items_status_due_on", "status", "due_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"))
    item_code: Mapped[str] = mapped_column(String(64))
    approving_unit: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(32), default="draft", index=True)
    reason: Mapped[str] = mapped_column(String(500))  # why the item is in the bundle
    promised_days: Mapped[int] = mapped_column(default=0)
    due_on: Mapped[date | None] = mapped_column(index=True)  # working-day deadline
    # statistics read the items decided in a period (backend.services.statistics)
    decided_at: Mapped[datetime | None] = mapped_column(index=True)
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("staff_accounts.id"))
    opinion: Mapped[str | None] = mapped_column(String(1000))  # 审查意见 or legal reason
    applicant_consents_to_drop: Mapped[bool] = mapped_column(default=False)
    lock_version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": lock_version}

    application: Mapped[Application] = relationship(back_populates="items")


class ItemCommitment(Base):
    """告知承诺 (国办发〔2020〕42号): an applicant's signed commitment for one permit item —
    the exact text signed, its version (catalog version + SHA-256), when and by whom. The
    unit may then approve the item at once and check it afterwards (a post-check)."""

    __tablename__ = "item_commitments"
    __table_args__ = (UniqueConstraint("application_id", "item_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"))
    item_code: Mapped[str] = mapped_column(String(64))
    catalog_version: Mapped[int]  # the number of the catalog version the text comes from
    text: Mapped[str] = mapped_column(String(2000))
    text_sha256: Mapped[str] = mapped_column(String(64))
    signed_at: Mapped[datetime] = mapped_column(default=utcnow)
    signed_by: Mapped[int] = mapped_column(ForeignKey("applicants.id"))
    # a failed post-check: the commitment was false (承诺不实), with the reason
    found_false_at: Mapped[datetime | None]
    found_false_reason: Mapped[str | None] = mapped_column(String(1000))

    application: Mapped[Application] = relationship(back_populates="commitments")


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


class IssuedDocument(Base):
    """A printed notice as it was issued (受理通知书, 一次性补正告知书 of each round,
    不予受理决定书, 整改通知书): rendered once, in the transaction of the action that issued
    it, and kept as immutable bytes in the media store; every download serves these bytes."""

    __tablename__ = "issued_documents"
    __table_args__ = (UniqueConstraint("application_id", "kind", "round"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"))
    kind: Mapped[str] = mapped_column(String(32))  # acceptance | supplements | ...
    round: Mapped[int]  # 1, or the supplement request's round
    number: Mapped[str] = mapped_column(String(100))  # 晋一业一证补字〔2026〕第…-1号
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    byte_size: Mapped[int]
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    issued_by: Mapped[int | None] = mapped_column(ForeignKey("staff_accounts.id"))


class ApplicationEvent(Base):
    """The timeline, append-only: who did what, when, in words the applicant reads."""

    __tablename__ = "application_events"
    # statistics count the events of one kind in a period (backend.services.statistics)
    __table_args__ = (Index("ix_application_events_action_at", "action", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_kind: Mapped[str] = mapped_column(String(16))  # applicant | staff | system
    actor_id: Mapped[int | None]
    actor_label: Mapped[str] = mapped_column(String(64))
    actor_role: Mapped[str] = mapped_column(String(32), default="applicant")
    action: Mapped[str] = mapped_column(String(64))
    item_code: Mapped[str | None] = mapped_column(String(64))
    from_state: Mapped[str | None] = mapped_column(String(32))
    to_state: Mapped[str | None] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(String(1000))
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


class Inspection(Base):
    """一同核查: ONE joint on-site visit for every item that needs one, one re-check at most."""

    __tablename__ = "inspections"

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"), index=True)
    # joint: the one visit before the decision (one per application); post_check: 事后核查 of
    # an item approved by commitment, due within the catalog's working days (``due_on``)
    kind: Mapped[str] = mapped_column(String(16), default="joint", server_default="joint")
    due_on: Mapped[date | None]
    status: Mapped[str] = mapped_column(String(32), default="to_schedule", index=True)
    item_codes: Mapped[list[str]] = mapped_column(JSON)  # the items the visit checks
    scheduled_on: Mapped[date | None]
    window: Mapped[str | None] = mapped_column(String(32))  # e.g. 09:00-11:00
    address: Mapped[str | None] = mapped_column(String(300))
    reschedule_used: Mapped[bool] = mapped_column(default=False)
    reschedule_reason: Mapped[str | None] = mapped_column(String(500))
    # ONE consolidated rectification notice (整改意见一口告知)
    rectification: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    rectification_deadline: Mapped[date | None]
    recheck_mode: Mapped[str | None] = mapped_column(String(16))  # onsite | photos
    outcome: Mapped[str | None] = mapped_column(String(16))  # passed | failed
    concluded_on: Mapped[date | None]  # the day the outcome was reached (Beijing time)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    lock_version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": lock_version}

    application: Mapped[Application] = relationship(overlaps="inspection,post_checks")
    members: Mapped[list[InspectionMember]] = relationship(
        back_populates="inspection", cascade="all, delete-orphan", order_by="InspectionMember.id")
    results: Mapped[list[InspectionResult]] = relationship(
        back_populates="inspection", cascade="all, delete-orphan", order_by="InspectionResult.id")


class InspectionMember(Base):
    """An inspector on the team, one from each unit involved."""

    __tablename__ = "inspection_members"
    __table_args__ = (UniqueConstraint("inspection_id", "staff_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    inspection_id: Mapped[int] = mapped_column(ForeignKey("inspections.id"))
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_accounts.id"), index=True)
    unit_code: Mapped[str] = mapped_column(String(64))

    inspection: Mapped[Inspection] = relationship(back_populates="members")


class InspectionResult(Base):
    """One item's finding in one round (1 = the visit, 2 = the re-check)."""

    __tablename__ = "inspection_results"
    __table_args__ = (UniqueConstraint("inspection_id", "round", "item_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    inspection_id: Mapped[int] = mapped_column(ForeignKey("inspections.id"))
    round: Mapped[int]
    item_code: Mapped[str] = mapped_column(String(64))
    result: Mapped[str] = mapped_column(String(16))  # pass | rectify | fail
    notes: Mapped[str] = mapped_column(String(1000), default="")
    demands: Mapped[list[str]] = mapped_column(JSON, default=list)  # what to rectify
    photos: Mapped[list[str]] = mapped_column(JSON, default=list)  # media SHA-256s
    confirmed_materials: Mapped[list[str]] = mapped_column(JSON, default=list)
    inspector_id: Mapped[int] = mapped_column(ForeignKey("staff_accounts.id"))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)

    inspection: Mapped[Inspection] = relationship(back_populates="results")
