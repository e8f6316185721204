"""Time limits (承诺时限): each item's promised working days from acceptance, on the Chinese
calendar, paused while the applicant rectifies; due-soon and overdue tasks for coordinators.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session, contains_eager

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
    return of_items(session, [item], today)[0]


def of_items(session: Session, items: list[ApplicationItem], today: date | None = None,
             ) -> list[Clock]:
    """The clocks of many items with one calendar query: the stored days over the span of
    every deadline and every application's "now" (its pause, or today)."""
    today = today or clock.today()
    running = [(item, item.application.paused_since or today) for item in items
               if item.due_on is not None and item.status == workflow.ItemState.UNDER_REVIEW]
    days = calendar.span_of(session, [d for item, as_of in running for d in (item.due_on, as_of)]
                            ) if running else None
    clocks = {}
    for item, as_of in running:
        paused = item.application.paused_since is not None
        remaining = days.remaining(due=item.due_on, today=as_of)
        if paused:
            state = "paused"
        elif remaining < 0:
            state = "overdue"
        elif remaining <= DUE_SOON_DAYS:
            state = "due_soon"
        else:
            state = "on_time"
        clocks[item.id] = Clock(item.due_on, remaining, paused, state)
    return [clocks.get(item.id) or Clock(item.due_on, None, False,
                                         "done" if item.due_on else "not_started")
            for item in items]


def in_state(session: Session, state: str, today: date) -> list[ColumnElement[bool]]:
    """Open review items in a clock state, as conditions on the indexed (status, due_on):
    a range of deadlines, so the database reads only the items asked for.

    Overdue means a working day has passed since the deadline, i.e. the deadline is before the
    last working day up to today; due soon, at most DUE_SOON_DAYS working days left, i.e. before
    the (DUE_SOON_DAYS + 1)-th working day after today. Paused items are neither."""
    conditions = [ApplicationItem.status == workflow.ItemState.UNDER_REVIEW,
                  ApplicationItem.due_on.is_not(None)]
    if state == "paused":
        return [*conditions, Application.paused_since.is_not(None)]
    conditions.append(Application.paused_since.is_(None))
    last_worked = calendar.last_working_day(session, today)
    soon_ends = calendar.add_working_days(session, today, DUE_SOON_DAYS + 1)
    ranges = {"overdue": [ApplicationItem.due_on < last_worked],
              "due_soon": [ApplicationItem.due_on >= last_worked,
                           ApplicationItem.due_on < soon_ends],
              "on_time": [ApplicationItem.due_on >= soon_ends]}
    return conditions + ranges[state]


def open_items(session: Session, *, state: str | None, today: date,
               ) -> list[tuple[ApplicationItem, Clock]]:
    """Open review items, in one clock state or all, with their clocks, by deadline: one query
    for the items (a range on the index (status, due_on)) and one for the calendar."""
    conditions = (in_state(session, state, today) if state
                  else [ApplicationItem.status == workflow.ItemState.UNDER_REVIEW])
    items = list(session.scalars(
        select(ApplicationItem).join(Application).where(*conditions)
        .options(contains_eager(ApplicationItem.application))
        .order_by(ApplicationItem.due_on, ApplicationItem.id)))
    return list(zip(items, of_items(session, items, today), strict=True))


def watch_list(session: Session, *, staff: StaffAccount, state: str | None,
               today: date | None = None) -> list[tuple[ApplicationItem, Clock]]:
    """Open review tasks with their clocks, most urgent first; filter by clock state."""
    permissions.require(staff, "time_limits.view")
    return sorted(open_items(session, state=state, today=today or clock.today()),
                  key=lambda pair: pair[1].remaining_working_days or 0)
