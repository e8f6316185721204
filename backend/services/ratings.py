"""政务服务"好差评" (国办发〔2019〕51号): after a case closes, its applicant rates the service
once, in the mini-program or on the window's tablet; a rating of 不满意 or worse opens a
rectification task for the unit it concerns (``backend.services.rectifications``).

Rules, and where they come from:

- **When.** A case closes with one of four events, each a *stage* (``STAGES``): the license
  issued (``licensed``), 不予许可 (``refused``), 不予受理 (``not_accepted``), or withdrawn after
  acceptance (``withdrawn``; a draft or a submission withdrawn before acceptance was never
  served). The applicant may rate each stage once (51号: 一次一评), within
  ``RATING_WINDOW_DAYS`` calendar days of the event (setting, default 30).
- **Levels.** The five national levels (``LEVELS``): 非常满意 (5) · 满意 (4) · 基本满意 (3) ·
  不满意 (2) · 非常不满意 (1), as the national 好差评 system grades every service.
- **Reasons.** Optional tags from a fixed list per level (``TAGS_BY_LEVEL``), drawn from the
  national evaluation indicators (服务效率, 办事指南准确度, 办事便捷度, 平台操作性, 服务态度,
  服务水平): praise for 非常满意 and 满意, what to improve for 基本满意 and below. An optional
  comment of at most ``COMMENT_MAX`` characters; control characters are refused
  (``backend.api_types.plain_text``).
- **Whom it concerns.** One unit that served the case (``units_of``): the window's unit
  (``WINDOW_UNIT``, the 行政审批服务管理局 that runs the 一业一证 window and issues the license)
  or a unit that reviewed one of its items. The applicant may name it; otherwise it is the unit
  whose item was refused for a 不予许可, else the window.
- **Who.** Only the application's own applicant, in the mini-program (another's application is
  404, as a missing one); at the window, the applicant chooses on the clerk's tablet and the
  clerk is recorded (``recorded_by``, channel ``window``).

Every rating is on the application's timeline. ``unit_figures`` gives the counts per unit and
period for the statistics, in two grouped queries. Services never commit: the route does.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from backend import clock, workflow
from backend.errors import Conflict, FieldsInvalid
from backend.models import Applicant, Application, StaffAccount
from backend.models.base import utcnow
from backend.models.ratings import RectificationTask, ServiceRating
from backend.security import permissions
from backend.services import applications, calendar, rectifications, timeline, window


@dataclass(frozen=True)
class Level:
    code: str
    score: int  # 5 = 非常满意 … 1 = 非常不满意
    label: str


LEVELS: tuple[Level, ...] = (
    Level("very_satisfied", 5, "非常满意"),
    Level("satisfied", 4, "满意"),
    Level("basically_satisfied", 3, "基本满意"),
    Level("dissatisfied", 2, "不满意"),
    Level("very_dissatisfied", 1, "非常不满意"),
)
LEVEL_CODES = tuple(level.code for level in LEVELS)
BY_CODE = {level.code: level for level in LEVELS}
BY_SCORE = {level.score: level for level in LEVELS}
BAD_SCORE = 2  # 不满意 or worse: a rectification task for the unit (差评整改)

PRAISE = {
    "efficient": "办理速度快",
    "guide_accurate": "办事指南准确清楚",
    "convenient": "少跑腿、办事便捷",
    "easy_to_use": "小程序好用",
    "good_attitude": "服务态度好",
    "professional": "服务专业，一次讲清",
}
COMPLAINTS = {
    "slow": "办理时间长",
    "guide_inaccurate": "办事指南不准确或不清楚",
    "many_trips": "多次跑动",
    "repeated_materials": "材料要求多或重复提交",
    "hard_to_use": "小程序不好用",
    "poor_attitude": "服务态度差",
    "not_told_at_once": "补正内容未一次告知",
    "unexplained": "结果或理由说明不清",
}
TAGS = PRAISE | COMPLAINTS
TAGS_BY_LEVEL: dict[str, tuple[str, ...]] = {
    "very_satisfied": tuple(PRAISE), "satisfied": tuple(PRAISE),
    "basically_satisfied": tuple(COMPLAINTS), "dissatisfied": tuple(COMPLAINTS),
    "very_dissatisfied": tuple(COMPLAINTS),
}
MAX_TAGS = len(COMPLAINTS)
COMMENT_MAX = 500

# the timeline event that closes a case → its stage
CLOSING_EVENTS = {"license.issued": "licensed", "application.refused": "refused",
                  "application.not_accepted": "not_accepted",
                  "application.withdrawn": "withdrawn"}
STAGES = {"licensed": "核发许可证", "refused": "不予许可", "not_accepted": "不予受理",
          "withdrawn": "受理后撤回"}
CLOSED_STATES = frozenset({workflow.State.LICENSED, workflow.State.REFUSED,
                           workflow.State.NOT_ACCEPTED, workflow.State.WITHDRAWN})
# the unit that runs the 一业一证 window and issues the license (config/catalog/catalog.yaml:
# 山西市县推行"一枚印章管审批"; backend.services.licenses.issuing_authority)
WINDOW_UNIT = "approval_bureau"
WINDOW_NAME = "“一业一证”窗口"
CHANNELS = {"miniprogram": "小程序", "window": "窗口评价器"}


@dataclass(frozen=True)
class Rules:
    """The two settings: the rating window (calendar days) and the task's deadline (working
    days)."""

    window_days: int
    task_working_days: int


def rules_from(settings) -> Rules:
    return Rules(settings.RATING_WINDOW_DAYS, settings.RECTIFICATION_WORKING_DAYS)


@dataclass(frozen=True)
class Closing:
    stage: str
    at: datetime

    @property
    def label(self) -> str:
        return STAGES[self.stage]


def closing_of(application: Application) -> Closing | None:
    """The event that closed the case (its stage and time), from its timeline; None while it
    runs, and for a draft or submission withdrawn before acceptance."""
    if application.status not in CLOSED_STATES or (
            application.status == workflow.State.WITHDRAWN and application.accepted_at is None):
        return None
    for event in reversed(application.events):
        stage = CLOSING_EVENTS.get(event.action)
        if stage is not None and event.to_state == application.status:
            return Closing(stage, event.at)
    return None


def units_of(session: Session, application: Application) -> list[dict[str, str]]:
    """The units that served the case, each ``{code, name}``: the window first, then every
    unit an item was sent to (workflow.SENT_TO_UNIT), as the pinned catalog names them."""
    document = applications.document_of(session, application)
    codes = [WINDOW_UNIT]
    if application.accepted_at is not None:
        codes += [i.approving_unit for i in application.items
                  if i.status in workflow.SENT_TO_UNIT]
    return [{"code": code, "name": unit_name(document, code)} for code in dict.fromkeys(codes)]


def unit_name(document, code: str) -> str:
    unit = document.units.get(code)
    if unit is not None:
        return unit.name
    return WINDOW_NAME if code == WINDOW_UNIT else code


def default_unit(application: Application) -> str:
    """Whom a rating concerns when the applicant names no unit: for 不予许可 the unit whose
    item was refused, otherwise the window."""
    if application.status == workflow.State.REFUSED:
        for item in application.items:
            if item.status == workflow.ItemState.REFUSED:
                return item.approving_unit
    return WINDOW_UNIT


def _given(session: Session, application_id: int, stage: str) -> ServiceRating | None:
    return session.scalar(select(ServiceRating).where(
        ServiceRating.application_id == application_id, ServiceRating.stage == stage))


@dataclass
class Status:
    """Whether and how a case can be rated now (``rateable``; else ``reason``), and the
    rating given, if any."""

    closing: Closing
    rateable_until: datetime
    rateable: bool
    reason: str | None
    units: list[dict[str, str]]
    default_unit: str
    rating: ServiceRating | None = field(default=None)


def status_of(session: Session, application: Application, rules: Rules,
              now: datetime | None = None) -> Status | None:
    """The case's rating status, or None while it is not closed."""
    closing = closing_of(application)
    if closing is None:
        return None
    now = now or utcnow()
    until = closing.at + timedelta(days=rules.window_days)
    rating = _given(session, application.id, closing.stage)
    reason = ("本次办理已评价" if rating is not None else
              f"已超过评价期限（办结后 {rules.window_days} 天内可评价）" if now > until else None)
    return Status(closing, until, reason is None, reason, units_of(session, application),
                  default_unit(application), rating)


def rate(session: Session, application: Application, *, rules: Rules, level: str,
         tags: list[str], comment: str, unit: str | None, channel: str,
         actor: timeline.Actor, now: datetime | None = None) -> ServiceRating:
    """Record the rating of the case's closing stage; a 不满意 or worse opens its
    rectification task (same transaction, with the unit's notification).

    Errors: 409 RATING_NOT_OPEN (not closed), RATING_WINDOW_CLOSED (later than the window),
    RATING_ALREADY_GIVEN (once per stage, also when two arrive at once); 422 RATING_INVALID
    naming ``tags.N`` (not a reason of this level) or ``unit`` (not a unit of the case)."""
    now = now or utcnow()
    status = status_of(session, application, rules, now)
    if status is None:
        raise Conflict("RATING_NOT_OPEN", "办理结束后（发证、不予许可、不予受理或受理后撤回）"
                       "才能评价", {"status": application.status})
    if status.rating is not None:
        raise _already_given(status.closing.stage)
    if not status.rateable:
        raise Conflict("RATING_WINDOW_CLOSED", status.reason or "",
                       {"rateable_until": status.rateable_until.isoformat()})
    chosen = BY_CODE[level]
    problems: dict[str, dict[str, str]] = {}
    for n, tag in enumerate(tags):
        if tag not in TAGS_BY_LEVEL[level]:
            problems[f"tags.{n}"] = {"code": "RATING_TAG_INVALID",
                                     "message": f"“{tag}”不是“{chosen.label}”可选的原因"}
    if unit is not None and unit not in {u["code"] for u in status.units}:
        problems["unit"] = {"code": "RATING_UNIT_INVALID",
                            "message": "请选择办理本案的单位之一"}
    if problems:
        raise FieldsInvalid("RATING_INVALID", problems, lead="评价内容有误：")
    staff = actor if isinstance(actor, StaffAccount) else None
    rating = ServiceRating(
        application_id=application.id, applicant_id=application.applicant_id,
        stage=status.closing.stage, closed_at=status.closing.at, score=chosen.score,
        tags=list(dict.fromkeys(tags)), comment=comment, unit_code=unit or status.default_unit,
        channel=channel, recorded_by=staff.id if staff else None, rated_at=now,
        rated_on=now.astimezone(clock.CHINA).date())
    session.add(rating)
    try:
        session.flush()
    except IntegrityError:  # the same stage rated at the same moment elsewhere
        session.rollback()
        raise _already_given(status.closing.stage) from None
    where = "（在窗口评价器上）" if channel == "window" else ""
    timeline.record(session, application, actor=actor, action="rating.given",
                    message=f"申请人{where}评价本次办理（{status.closing.label}）："
                            f"{chosen.label}",
                    reason=comment or None,
                    data={"rating_id": rating.id, "stage": rating.stage, "level": level,
                          "tags": rating.tags, "unit_code": rating.unit_code,
                          "channel": channel})
    if chosen.score <= BAD_SCORE:
        rectifications.open_for(session, rating, application,
                                working_days=rules.task_working_days, now=now)
    return rating


def _already_given(stage: str) -> Conflict:
    return Conflict("RATING_ALREADY_GIVEN", "本次办理已评价，每个办结环节只能评价一次",
                    {"stage": stage})


def rate_own(session: Session, *, applicant: Applicant, application_id: int, rules: Rules,
             level: str, tags: list[str], comment: str, unit: str | None) -> ServiceRating:
    """The applicant — the owner or the authorised agent (受托人) — rates the case in the
    mini-program; a collaborator may not (403 COLLABORATOR_NOT_ALLOWED), anyone else gets 404."""
    application, actor = applications.get_for(session, applicant=applicant,
                                              application_id=application_id,
                                              need=applications.DECIDE)
    return rate(session, application, rules=rules, level=level, tags=tags, comment=comment,
                unit=unit, channel="miniprogram", actor=actor)


def rate_at_window(session: Session, *, staff: StaffAccount, application_id: int,
                   rules: Rules, level: str, tags: list[str], comment: str,
                   unit: str | None) -> ServiceRating:
    """The applicant's choice on the window's tablet, recorded under the clerk's session."""
    permissions.require(staff, "rating.record_at_window")
    application = window.get_for_staff(session, staff, application_id)
    return rate(session, application, rules=rules, level=level, tags=tags, comment=comment,
                unit=unit, channel="window", actor=staff)


def window_case(session: Session, *, staff: StaffAccount, application_id: int, rules: Rules,
                ) -> tuple[Application, Status | None]:
    """The case the window's tablet rates, with its rating status."""
    permissions.require(staff, "rating.record_at_window")
    application = window.get_for_staff(session, staff, application_id)
    return application, status_of(session, application, rules)


def cases_of(session: Session, *, applicant: Applicant, rules: Rules,
             rateable_only: bool = False) -> list[tuple[Application, Status]]:
    """The applicant's closed cases with their rating status, newest first."""
    rows = session.scalars(
        select(Application).where(Application.applicant_id == applicant.id,
                                  Application.status.in_(CLOSED_STATES))
        .options(selectinload(Application.events), selectinload(Application.items))
        .order_by(Application.id.desc()))
    now = utcnow()
    out = []
    for application in rows:
        status = status_of(session, application, rules, now)
        if status is not None and (status.rateable or not rateable_only):
            out.append((application, status))
    return out


def options() -> list[dict[str, Any]]:
    """The levels as the mini-program and the tablet offer them, each with its reasons."""
    return [{"code": level.code, "score": level.score, "label": level.label,
             "opens_rectification": level.score <= BAD_SCORE,
             "tags": [{"code": t, "label": TAGS[t]} for t in TAGS_BY_LEVEL[level.code]]}
            for level in LEVELS]


# --- figures for the statistics ----------------------------------------------------------------


@dataclass(frozen=True)
class UnitFigures:
    """One unit's 好差评 over a period.

    ``ratings``: level code → count (all five levels); ``dissatisfied_share``: (不满意 +
    非常不满意) / all, None without ratings. Tasks: ``opened`` and ``closed`` in the period,
    ``open`` at its end, ``overdue`` = open at its end and past their deadline then (a
    working day has passed since it), ``closed_late`` = closed in the period after their
    deadline."""

    unit_code: str
    ratings: dict[str, int]
    rating_total: int
    dissatisfied_share: float | None
    tasks_opened: int
    tasks_open: int
    tasks_overdue: int
    tasks_closed: int
    tasks_closed_late: int


def unit_figures(session: Session, *, start: date, end: date,
                 units: Collection[str] | None = None, today: date | None = None,
                 ) -> dict[str, UnitFigures]:
    """Per unit, the 好差评 of the Beijing days ``start`` … ``end`` (both included), in two
    set-based queries (GROUP BY unit; no row is read one by one): for the statistics, the
    unit scorecard and the summary tables. ``units`` limits the units; ``today`` (default
    now) caps "open at the end" for a period that has not ended. A unit with neither ratings
    nor tasks is absent."""
    if end < start:
        raise ValueError(f"period ends ({end}) before it starts ({start})")
    as_of = min(end, today or clock.today())
    overdue_before = calendar.last_working_day(session, as_of)
    rating_rows = session.execute(
        select(ServiceRating.unit_code, ServiceRating.score, func.count())
        .where(ServiceRating.rated_on.between(start, end),
               *([ServiceRating.unit_code.in_(units)] if units is not None else []))
        .group_by(ServiceRating.unit_code, ServiceRating.score)).all()
    task = RectificationTask
    open_at_end = (task.opened_on <= as_of) & (task.closed_on.is_(None) | (task.closed_on > as_of))
    closed_in = task.closed_on.between(start, end)

    def count(condition) -> Any:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    task_rows = session.execute(
        select(task.unit_code, count(task.opened_on.between(start, end)), count(open_at_end),
               count(open_at_end & (task.due_on < overdue_before)), count(closed_in),
               count(closed_in & (task.closed_on > task.due_on)))
        .where(task.opened_on <= end, task.closed_on.is_(None) | (task.closed_on >= start),
               *([task.unit_code.in_(units)] if units is not None else []))
        .group_by(task.unit_code)).all()
    by_level: dict[str, dict[str, int]] = {}
    for unit, score, n in rating_rows:
        by_level.setdefault(unit, dict.fromkeys(LEVEL_CODES, 0))[BY_SCORE[score].code] += n
    tasks = {row[0]: [int(v) for v in row[1:]] for row in task_rows}
    out = {}
    for unit in sorted(by_level.keys() | tasks.keys()):
        levels = by_level.get(unit, dict.fromkeys(LEVEL_CODES, 0))
        total = sum(levels.values())
        bad = sum(n for code, n in levels.items() if BY_CODE[code].score <= BAD_SCORE)
        opened, still_open, overdue, closed, late = tasks.get(unit, [0] * 5)
        out[unit] = UnitFigures(unit, levels, total, bad / total if total else None, opened,
                                still_open, overdue, closed, late)
    return out
