"""Who acts: applicants (WeChat users), staff accounts, and the bearer tokens they hold."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Base, utcnow


class Applicant(Base):
    """An entrepreneur, known by the mini-program's openid (one per WeChat user and app).

    A walk-in served at the window (帮办代办, :class:`WalkIn`) is an applicant without an
    openid until they claim their applications in the mini-program: nobody can sign in as it.
    """

    __tablename__ = "applicants"

    id: Mapped[int] = mapped_column(primary_key=True)
    openid: Mapped[str | None] = mapped_column(String(64), unique=True)
    unionid: Mapped[str | None] = mapped_column(String(64))
    # WeChat's session_key, encrypted at rest; it never leaves the server
    session_key_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary(256))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime] = mapped_column(default=utcnow)
    # the number WeChat verified (getPhoneNumber), sealed at rest like the form's numbers
    phone_sealed: Mapped[bytes | None] = mapped_column(LargeBinary(256))
    phone_verified_at: Mapped[datetime | None]
    # the applicant asked for deletion (backend.services.personal_data): what the law did
    # not require us to keep is gone
    erased_at: Mapped[datetime | None]


class StaffAccount(Base):
    """A civil servant of a unit: commissioner, reviewer, inspector, administrator."""

    __tablename__ = "staff_accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(32))
    unit_code: Mapped[str | None] = mapped_column(String(64))
    # county-level staff: the county (GB/T 2260) whose office they work in — their
    # statistics dashboard is that county's; None: provincial staff
    county_code: Mapped[str | None] = mapped_column(String(6))
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    failed_logins: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None]
    # inspectors also work from the mini-program: bound once with a one-time code
    wechat_openid: Mapped[str | None] = mapped_column(String(64), unique=True)


class StaffBindingCode(Base):
    """A one-time code that binds a staff account to the WeChat user who enters it."""

    __tablename__ = "staff_binding_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_accounts.id"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class WalkIn(Base):
    """帮办代办: a window commissioner applying for a walk-in applicant, whose identity they
    checked in person. The walk-in's applications belong to a placeholder applicant (no
    openid) until the applicant claims them once with the hand-over code.

    Of the identity document only its type and a masked number are kept (PIPL art. 6: no
    more than the purpose needs); the full number the form needs is sealed in the form.
    """

    __tablename__ = "walk_ins"

    id: Mapped[int] = mapped_column(primary_key=True)
    applicant_id: Mapped[int] = mapped_column(ForeignKey("applicants.id"), unique=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_accounts.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    person_name: Mapped[str] = mapped_column(String(50))
    id_document: Mapped[str] = mapped_column(String(32))
    id_number_masked: Mapped[str] = mapped_column(String(32))
    identity_checked_at: Mapped[datetime]
    # the hand-over code: only its SHA-256, replaced when issued again, used once
    claim_code_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    claim_code_expires_at: Mapped[datetime | None]
    claimed_at: Mapped[datetime | None]
    claimed_by: Mapped[int | None] = mapped_column(ForeignKey("applicants.id"))


class AccessToken(Base):
    """An opaque bearer token. Only its SHA-256 is stored, so a database leak is no login."""

    __tablename__ = "access_tokens"
    __table_args__ = (Index("ix_access_tokens_subject", "subject_kind", "subject_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    subject_kind: Mapped[str] = mapped_column(String(16))  # applicant | staff
    subject_id: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    revoked_at: Mapped[datetime | None]
