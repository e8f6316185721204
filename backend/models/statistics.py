"""改革成效统计's summary tables (backend.services.statistics_summary): the figures of each
CST day, per grouping, kept by the worker so that a dashboard at province scale reads a few
hundred rows a month instead of scanning the cases."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Base, utcnow


class StatisticsDay(Base):
    """The additive figures (``statistics.Tally``) of one CST ``day`` for one group — or of
    a month (``span`` "month", ``day`` its first): the sum of its days, so that a year is
    added up from twelve rows a group.

    ``grouping``: unit, county, industry, province — or county_unit / industry_unit, whose
    ``key`` is ``<county or industry>|<unit>`` (the figures a unit's reviewer sees by county
    or industry: only the cases and items of that unit)."""

    __tablename__ = "statistics_days"
    __table_args__ = (
        UniqueConstraint("span", "day", "grouping", "key"),
        Index("ix_statistics_days_grouping_span_day", "grouping", "span", "day"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    span: Mapped[str] = mapped_column(String(8), default="day")  # day | month
    day: Mapped[date]  # the day, or a month's first day
    grouping: Mapped[str] = mapped_column(String(16))
    key: Mapped[str] = mapped_column(String(160))
    tally: Mapped[dict[str, Any]] = mapped_column(JSON)


class StatisticsWatermark(Base):
    """How far the worker has summarised the timeline: the last ``application_events.id``
    whose day is in ``statistics_days`` (one row, id 1)."""

    __tablename__ = "statistics_watermarks"

    id: Mapped[int] = mapped_column(primary_key=True)
    last_event_id: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
