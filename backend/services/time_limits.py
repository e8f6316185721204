"""Time limits (承诺时限): each item's promised working days from acceptance, on the Chinese
calendar, paused while the applicant rectifies; due-soon and overdue tasks for coordinators.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend import clock, workflow
from backend.models import Application, ApplicationItem, StaffAccount
from backend.security import permissions
from backend.services import calendar

DUE_SOON_DAYS = 2


@dataclass(frozen=True)
class Clock:
    due_on: date | None
    remaining_working_days: int | None  # negative: overdue by that many working days
    paused: bool
    state: str  # on_time | due_soon | overdue | paused | done


def of_item(session: Session, item: ApplicationItem, today: date | None = None) -> Clock:
    application = item.application
    if item.due_on is None or item.status != workflow.ItemState.UNDER_REVIEW:
        return Clock(item.due_on, None, False, "done" if item.due_on else "not_started")
    paused = application.paused_since is not None
    as_of = application.paused_since if paused else (today or clock.today())
    remaining = calendar.remaining_working_days(session, due=item.due_on, today=as_of)
    if paused:
        state = "paused"
    elif remaining < 0:
        state = "overdue"
    elif remaining <= DUE_SOON_DAYS:
        state = "due_soon"
    else:
        state = "on_time"
    return Clock(item.due_on, remaining, paused, state)


def watch_list(session: Session, *, staff: StaffAccount, state: str | None,
               today: date | None = None) -> list[tuple[ApplicationItem, Clock]]:
    """Open review tasks with their clocks, most urgent first; filter by clock state."""
    permissions.require(staff, "time_limits.view")
    items = session.scalars(
        select(ApplicationItem).join(Application)
        .where(ApplicationItem.status == workflow.ItemState.UNDER_REVIEW)
        .order_by(ApplicationItem.due_on, ApplicationItem.id))
    out = [(item, of_item(session, item, today)) for item in items]
    if state:
        out = [(item, c) for item, c in out if c.state == state]
    return sorted(out, key=lambda pair: pair[1].remaining_working_days or 0)
