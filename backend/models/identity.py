"""Who vouches for an application: privacy-notice consent and the people invited to help.

PIPL 第十三条、第十四条: personal information is processed on the person's informed consent
(or a legal duty); WeChat also requires the user's consent to the mini-program's privacy
notice before any privacy API (getPhoneNumber …). Each consent is a row: which version of the
notice, when.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Base, utcnow


class PrivacyConsent(Base):
    """An applicant agreed to version ``version`` of the privacy notice at ``agreed_at``."""

    __tablename__ = "privacy_consents"
    __table_args__ = (UniqueConstraint("applicant_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    applicant_id: Mapped[int] = mapped_column(ForeignKey("applicants.id"), index=True)
    version: Mapped[str] = mapped_column(String(32))
    agreed_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApplicationCollaborator(Base):
    """Another WeChat user helping with an application: fills fields and uploads
    (``collaborator``), or, as the authorised agent (受托人, ``agent``), may also submit,
    withdraw and consent to dropping an item. ``removed_at`` set: no access, at once."""

    __tablename__ = "application_collaborators"
    __table_args__ = (UniqueConstraint("application_id", "applicant_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"), index=True)
    applicant_id: Mapped[int] = mapped_column(ForeignKey("applicants.id"), index=True)
    role: Mapped[str] = mapped_column(String(16))  # collaborator | agent
    added_at: Mapped[datetime] = mapped_column(default=utcnow)
    removed_at: Mapped[datetime | None]


class CollaborationInvite(Base):
    """A one-time code the owner gives a colleague; only its SHA-256 is kept."""

    __tablename__ = "collaboration_invites"

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    used_by: Mapped[int | None] = mapped_column(ForeignKey("applicants.id"))
