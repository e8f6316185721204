"""差评整改: the rectification task a 不满意 or 非常不满意 rating opens for the unit it
concerns (国办发〔2019〕51号: a bad rating is verified, fixed and answered, and the applicant
is followed up, within a set time).

The task's moves are the workflow's (``workflow.RectificationState``): verify the complaint
(属实 / 不属实, with notes) → record the follow-up with the applicant (回访: when, how, what they
said, satisfied or not; again after further work if they were not) → close. The deadline is
``RECTIFICATION_WORKING_DAYS`` working days from opening on the Chinese calendar
(``backend.services.calendar``); a task still open once a working day has passed since its
deadline is overdue, as review items are (``time_limits.in_state``).

Who: the unit reviewers of the task's unit act on it; system administrators see every task
(overdue first); anyone else's task is 404, as a missing one. Every move is on the
application's timeline with who did it; opening the task notifies the unit's reviewers and
the applicant through the outbox, in the same transaction. Services never commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session, joinedload

from backend import clock, workflow
from backend.errors import FieldsInvalid, NotFound
from backend.models import Application, StaffAccount
from backend.models.base import utcnow
from backend.models.ratings import RectificationTask, ServiceRating
from backend.security import permissions
from backend.services import applications, calendar, pages, timeline, window

State = workflow.RectificationState
OPEN_STATES = (State.OPEN, State.VERIFIED, State.FOLLOWED_UP)
# how the applicant was reached for the follow-up (回访)
CONTACT_METHODS = {"phone": "电话", "sms": "短信", "wechat": "微信", "visit": "上门",
                   "window": "窗口当面"}
CLOCK_SKEW = timedelta(minutes=5)  # a follow-up "now" on a clock a little ahead of ours
# the lists: still open (overdue first: the earliest deadline leads), overdue only, closed
VIEWS = {"open": "未办结", "overdue": "已超期", "closed": "已办结"}


def open_for(session: Session, rating: ServiceRating, application: Application, *,
             working_days: int, now: datetime) -> RectificationTask:
    """Open the task of a bad rating, due ``working_days`` working days from today (Beijing),
    and tell the unit and the applicant (outbox, this transaction)."""
    opened_on = now.astimezone(clock.CHINA).date()
    task = RectificationTask(rating=rating, application=application,
                             unit_code=rating.unit_code, status=State.OPEN, opened_at=now,
                             opened_on=opened_on,
                             due_on=calendar.add_working_days(session, opened_on, working_days))
    session.add(task)
    session.flush()
    document = applications.document_of(session, application)
    from backend.services import ratings  # noqa: PLC0415 - ratings opens tasks

    unit = ratings.unit_name(document, task.unit_code)
    level = ratings.BY_SCORE[rating.score].label
    timeline.record(
        session, application, actor=None, action="rectification.opened",
        message=f"评价“{level}”已转{unit}核实整改，{task.due_on:%Y年%m月%d日}前回访并办结",
        data={"task_id": task.id, "unit_code": task.unit_code, "unit_name": unit,
              "level_label": level, "due_on": task.due_on.isoformat(),
              "comment_text": f"意见：{rating.comment}。" if rating.comment else ""},
        notify=True)
    return task


def _scope(staff: StaffAccount) -> list[ColumnElement[bool]]:
    """A reviewer sees the tasks of their own unit; an administrator every task."""
    permissions.require(staff, "rectification.view")
    if staff.role == workflow.REVIEWER:
        return [RectificationTask.unit_code == staff.unit_code]
    return []


def _overdue_before(session: Session, today: date) -> date:
    """Deadlines before this day are overdue today: a working day has passed since them."""
    return calendar.last_working_day(session, today)


def tasks(session: Session, *, staff: StaffAccount, view: str | None, page: int,
          per_page: int, today: date | None = None) -> tuple[list[RectificationTask], int]:
    """A page of the tasks ``staff`` may see: ``open`` (default; overdue first, the earliest
    deadline leading), ``overdue``, or ``closed`` (the latest first)."""
    query = select(RectificationTask).where(*_scope(staff)).options(
        joinedload(RectificationTask.rating), joinedload(RectificationTask.application))
    view = view or "open"
    if view == "closed":
        query = query.where(RectificationTask.status == State.CLOSED)
        order = (RectificationTask.closed_at.desc(), RectificationTask.id.desc())
    else:
        query = query.where(RectificationTask.status.in_(OPEN_STATES))
        if view == "overdue":
            query = query.where(RectificationTask.due_on
                                < _overdue_before(session, today or clock.today()))
        order = (RectificationTask.due_on, RectificationTask.id)
    return pages.page(session, query, *order, page=page, per_page=per_page)


def get(session: Session, *, staff: StaffAccount, task_id: int) -> RectificationTask:
    """One task ``staff`` may see; another unit's is "not found", exactly like a missing one."""
    # with its application: loading it later, mid-move, would flush the move in two UPDATEs
    task = session.scalar(select(RectificationTask).where(RectificationTask.id == task_id,
                                                          *_scope(staff))
                          .options(joinedload(RectificationTask.application)))
    if task is None:
        raise NotFound("RECTIFICATION_NOT_FOUND", "整改任务不存在", {"task_id": task_id})
    return task


@dataclass(frozen=True)
class Clock:
    """Working days left until the deadline (negative: overdue by that many); None once
    closed (``closed_late`` then says whether it was closed after its deadline day)."""

    remaining_working_days: int | None
    overdue: bool
    closed_late: bool


def clocks(session: Session, rows: list[RectificationTask], today: date | None = None,
           ) -> list[Clock]:
    """The clocks of many tasks with one calendar query."""
    today = today or clock.today()
    running = [t for t in rows if t.status != State.CLOSED]
    days = calendar.span_of(session, [d for t in running for d in (t.due_on, today)]
                            ) if running else None
    out = []
    for task in rows:
        if task.status == State.CLOSED:
            out.append(Clock(None, False, task.closed_on is not None
                             and task.closed_on > task.due_on))
            continue
        remaining = days.remaining(due=task.due_on, today=today)
        out.append(Clock(remaining, remaining < 0, False))
    return out


def actions_for(staff: StaffAccount, task: RectificationTask) -> list[workflow.Action]:
    """What ``staff`` may do to the task now (the console offers these and no others)."""
    if not permissions.allowed(staff.role, "rectification.act"):
        return []
    return workflow.allowed_actions(task.status, role=staff.role,
                                    kind=workflow.RectificationState)


def _move(session: Session, *, staff: StaffAccount, task_id: int, version: int | None,
          action: workflow.Action) -> tuple[RectificationTask, workflow.Transition]:
    permissions.require(staff, "rectification.act")
    task = get(session, staff=staff, task_id=task_id)
    window.check_version(task, version)
    step = workflow.transition(task.status, action, role=staff.role,
                               kind=workflow.RectificationState)
    return task, step


def _record(session: Session, task: RectificationTask, step: workflow.Transition, *,
            staff: StaffAccount, message: str, reason: str | None, data: dict) -> None:
    timeline.fire(session, task.application, task, step, actor=staff, message=message,
                  reason=reason, data={"task_id": task.id, **data})


def verify(session: Session, *, staff: StaffAccount, task_id: int, version: int | None,
           founded: bool, notes: str) -> RectificationTask:
    """核实: whether the complaint is founded (属实) or not (不属实), and what was found."""
    task, step = _move(session, staff=staff, task_id=task_id, version=version,
                       action=workflow.Action.VERIFY)
    task.verified_at, task.verified_by = utcnow(), staff.id
    task.founded, task.verification_notes = founded, notes
    _record(session, task, step, staff=staff,
            message=f"差评整改：经核实，反映的问题{'属实' if founded else '不属实'}",
            reason=notes, data={"founded": founded})
    return task


def follow_up(session: Session, *, staff: StaffAccount, task_id: int, version: int | None,
              contacted_at: datetime, method: str, applicant_said: str, satisfied: bool,
              ) -> RectificationTask:
    """回访: when and how the applicant was reached, what they said, satisfied or not. Once
    verified; again (the latest counts) after further work. ``contacted_at`` between the
    task's opening and now (naive = Beijing time), else 422 FOLLOW_UP_INVALID."""
    task, step = _move(session, staff=staff, task_id=task_id, version=version,
                       action=workflow.Action.FOLLOW_UP)
    now = utcnow()
    if contacted_at.tzinfo is None:  # as the console's clock shows it: Beijing time
        contacted_at = contacted_at.replace(tzinfo=clock.CHINA)
    if not task.opened_at.replace(second=0, microsecond=0) <= contacted_at <= now + CLOCK_SKEW:
        raise FieldsInvalid("FOLLOW_UP_INVALID", {"contacted_at": {
            "code": "CONTACTED_AT_OUT_OF_RANGE", "message": "回访时间应在评价之后、现在之前"}})
    task.followed_up_at, task.followed_up_by = now, staff.id
    task.contacted_at, task.contact_method = contacted_at, method
    task.applicant_said, task.applicant_satisfied = applicant_said, satisfied
    _record(session, task, step, staff=staff,
            message=f"差评整改：已{CONTACT_METHODS[method]}回访申请人，申请人"
                    f"{'满意' if satisfied else '不满意'}",
            reason=applicant_said, data={"method": method, "satisfied": satisfied,
                                         "contacted_at": contacted_at.isoformat()})
    return task


def close(session: Session, *, staff: StaffAccount, task_id: int, version: int | None,
          note: str) -> RectificationTask:
    """办结, once the applicant was followed up (the workflow allows nothing else)."""
    task, step = _move(session, staff=staff, task_id=task_id, version=version,
                       action=workflow.Action.CLOSE)
    task.closed_at, task.closed_by, task.closing_note = utcnow(), staff.id, note or None
    task.closed_on = task.closed_at.astimezone(clock.CHINA).date()
    _record(session, task, step, staff=staff, message="差评整改已办结", reason=note or None,
            data={})
    return task


def overdue(session: Session, *, today: date) -> list[tuple[RectificationTask, int]]:
    """Every open task past its deadline, with the working days it is over, the most overdue
    first: for the daily overdue list (notifications.tick)."""
    rows = list(session.scalars(
        select(RectificationTask).where(
            RectificationTask.status.in_(OPEN_STATES),
            RectificationTask.due_on < _overdue_before(session, today))
        .order_by(RectificationTask.due_on, RectificationTask.id)))
    return [(task, -(c.remaining_working_days or 0))
            for task, c in zip(rows, clocks(session, rows, today), strict=True)]


def history(task: RectificationTask) -> list:
    """The task's own timeline events (who did what, when), oldest first."""
    return [e for e in task.application.events
            if e.action.startswith("rectification.") and e.data.get("task_id") == task.id]
