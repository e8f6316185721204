"""The working-day calendar: public holidays and adjusted working weekends (调休).

Seeded from the State Council schedule (chinese-calendar); an administrator adds the next
year when it is published. Days not in the table follow the weekday rule, flagged provisional.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Base, utcnow


class CalendarDay(Base):
    __tablename__ = "calendar_days"

    day: Mapped[date] = mapped_column(primary_key=True)
    is_workday: Mapped[bool]
    name: Mapped[str] = mapped_column(String(64), default="")  # e.g. 国庆节 / 国庆节调休上班
    source: Mapped[str] = mapped_column(String(32))  # chinese_calendar | admin
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    updated_by: Mapped[str] = mapped_column(String(64), default="seed")
