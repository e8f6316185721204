"""Dates as Shanxi lives them: working days and deadlines are China Standard Time dates."""

from datetime import date, datetime, timedelta, timezone

CHINA = timezone(timedelta(hours=8), "CST")  # no daylight saving since 1991


def today() -> date:
    return datetime.now(CHINA).date()
