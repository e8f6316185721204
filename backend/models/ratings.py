"""政务服务"好差评" (国办发〔2019〕51号): the applicant's rating of a closed case, and the
rectification task (整改任务) a bad rating opens for the unit it concerns.

One rating per application and closing stage (``UniqueConstraint``); ``rated_on`` and the
task's ``opened_on`` / ``closed_on`` are Beijing dates, so the figures group by unit and day
with a plain GROUP BY on every database (``backend.services.ratings.unit_figures``).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backend.models.applications import Application
from backend.models.base import Base, utcnow


class ServiceRating(Base):
    """One rating: level (score 5 = 非常满意 … 1 = 非常不满意), reason tags, comment, the unit
    it concerns, and the channel it came through (the mini-program or the window's tablet)."""

    __tablename__ = "service_ratings"
    __table_args__ = (
        UniqueConstraint("application_id", "stage"),
        # the figures: a range of days, grouped by unit and level
        Index("ix_service_ratings_rated_on_unit", "rated_on", "unit_code", "score"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"))
    applicant_id: Mapped[int] = mapped_column(ForeignKey("applicants.id"), index=True)
    stage: Mapped[str] = mapped_column(String(16))  # licensed | refused | not_accepted | withdrawn
    closed_at: Mapped[datetime]  # the closing event the rating is about
    score: Mapped[int]
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    comment: Mapped[str] = mapped_column(String(500), default="")
    unit_code: Mapped[str] = mapped_column(String(64))  # the unit the rating concerns
    channel: Mapped[str] = mapped_column(String(16))  # miniprogram | window
    # the window clerk who handed over the tablet (the applicant chose; the clerk is recorded)
    recorded_by: Mapped[int | None] = mapped_column(ForeignKey("staff_accounts.id"))
    rated_at: Mapped[datetime] = mapped_column(default=utcnow)
    rated_on: Mapped[date]  # Beijing date of rated_at

    application: Mapped[Application] = relationship()
    task: Mapped[RectificationTask | None] = relationship(back_populates="rating",
                                                          uselist=False)


class RectificationTask(Base):
    """整改任务: verify the complaint, follow up with the applicant (回访), close; a deadline in
    working days from opening. States and moves: ``backend.workflow.RectificationState``."""

    __tablename__ = "rectification_tasks"
    __table_args__ = (
        Index("ix_rectification_tasks_unit_status", "unit_code", "status", "due_on"),
        Index("ix_rectification_tasks_status_due_on", "status", "due_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    rating_id: Mapped[int] = mapped_column(ForeignKey("service_ratings.id"), unique=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"), index=True)
    unit_code: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="open")
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    opened_on: Mapped[date] = mapped_column(index=True)
    due_on: Mapped[date]
    # 核实: the complaint founded (属实) or not (不属实), and what was found
    verified_at: Mapped[datetime | None]
    verified_by: Mapped[int | None] = mapped_column(ForeignKey("staff_accounts.id"))
    founded: Mapped[bool | None]
    verification_notes: Mapped[str | None] = mapped_column(String(1000))
    # 回访: when and how the applicant was reached, what they said, satisfied or not
    followed_up_at: Mapped[datetime | None]  # when it was recorded
    followed_up_by: Mapped[int | None] = mapped_column(ForeignKey("staff_accounts.id"))
    contacted_at: Mapped[datetime | None]  # when the applicant was reached
    contact_method: Mapped[str | None] = mapped_column(String(16))
    applicant_said: Mapped[str | None] = mapped_column(String(1000))
    applicant_satisfied: Mapped[bool | None]
    closed_at: Mapped[datetime | None]
    closed_on: Mapped[date | None] = mapped_column(index=True)
    closed_by: Mapped[int | None] = mapped_column(ForeignKey("staff_accounts.id"))
    closing_note: Mapped[str | None] = mapped_column(String(1000))
    lock_version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": lock_version}

    application: Mapped[Application] = relationship()
    rating: Mapped[ServiceRating] = relationship(back_populates="task")
