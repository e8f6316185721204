"""The workflow as one explicit state machine: the states of an application, of each permit
item (each keeps its own decision: 物理打包) and of the joint inspection; every transition,
who may perform it, and the event it emits. Nothing else changes a status.

晋政办发〔2022〕90号: 一窗受理 (accept / 补正 / 不予受理), 并联审批 (one review per item, in
parallel), 一同核查 (one visit, one consolidated rectification notice, one re-check).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from backend.errors import Conflict


class State(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    SUPPLEMENT_REQUESTED = "supplement_requested"
    NOT_ACCEPTED = "not_accepted"
    WITHDRAWN = "withdrawn"
    IN_REVIEW = "in_review"
    APPROVED = "approved"
    REFUSED = "refused"
    LICENSED = "licensed"


class ItemState(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    UNDER_REVIEW = "under_review"
    APPROVED = "approved"
    REFUSED = "refused"
    DROPPED = "dropped"
    CLOSED = "closed"  # the application ended before a decision (withdrawn, not accepted)
    REVOKED = "revoked"  # approved by commitment, the post-check found the commitment false


class InspectionState(StrEnum):
    TO_SCHEDULE = "to_schedule"
    SCHEDULED = "scheduled"
    RESCHEDULE_REQUESTED = "reschedule_requested"
    RECTIFYING = "rectifying"
    RECHECK = "recheck"
    PASSED = "passed"
    FAILED = "failed"


class PostCheckState(StrEnum):
    """事后核查 of an item approved by commitment (告知承诺制, 国办发〔2020〕42号): an
    inspection of kind ``post_check``, scheduled, recorded and concluded like the joint one
    (same values), without rectification: the commitment was true, or it was false."""

    TO_SCHEDULE = "to_schedule"
    SCHEDULED = "scheduled"
    PASSED = "passed"
    FAILED = "failed"


class RectificationState(StrEnum):
    """A bad rating's rectification task (整改任务, 国办发〔2019〕51号): verified, the applicant
    followed up (回访, again after further work if need be), then closed."""

    OPEN = "open"
    VERIFIED = "verified"
    FOLLOWED_UP = "followed_up"
    CLOSED = "closed"


LABELS: dict[type[StrEnum], dict[str, str]] = {
    State: {
        State.DRAFT: "草稿", State.SUBMITTED: "已提交，待受理",
        State.SUPPLEMENT_REQUESTED: "待补正材料", State.NOT_ACCEPTED: "不予受理",
        State.WITHDRAWN: "已撤回", State.IN_REVIEW: "已受理，并联审批中",
        State.APPROVED: "审批通过，待发证", State.REFUSED: "不予许可",
        State.LICENSED: "已发证",
    },
    ItemState: {
        ItemState.DRAFT: "草稿", ItemState.SUBMITTED: "已提交",
        ItemState.UNDER_REVIEW: "审查中", ItemState.APPROVED: "准予许可",
        ItemState.REFUSED: "不予许可", ItemState.DROPPED: "经申请人同意不再办理",
        ItemState.CLOSED: "已终止", ItemState.REVOKED: "承诺不实，已撤销许可",
    },
    PostCheckState: {
        PostCheckState.TO_SCHEDULE: "待安排事后核查", PostCheckState.SCHEDULED: "已安排事后核查",
        PostCheckState.PASSED: "事后核查通过", PostCheckState.FAILED: "事后核查未通过",
    },
    InspectionState: {
        InspectionState.TO_SCHEDULE: "待安排核查", InspectionState.SCHEDULED: "已安排现场核查",
        InspectionState.RESCHEDULE_REQUESTED: "申请人申请改期",
        InspectionState.RECTIFYING: "整改中", InspectionState.RECHECK: "待复核",
        InspectionState.PASSED: "核查通过", InspectionState.FAILED: "核查未通过",
    },
    RectificationState: {
        RectificationState.OPEN: "待核实", RectificationState.VERIFIED: "已核实，待回访",
        RectificationState.FOLLOWED_UP: "已回访，待办结", RectificationState.CLOSED: "已办结",
    },
}


def label(value: str, kind: type[StrEnum] = State) -> str:
    """The Chinese name of a state, for timelines and lists."""
    return LABELS[kind][kind(value)]


class Action(StrEnum):
    SUBMIT = "submit"
    WITHDRAW = "withdraw"
    ACCEPT = "accept"
    REQUEST_SUPPLEMENTS = "request_supplements"
    REJECT = "reject"
    APPROVE = "approve"
    APPROVE_BY_COMMITMENT = "approve_by_commitment"
    REVOKE = "revoke"
    REFUSE = "refuse"
    DROP = "drop"
    CLOSE = "close"
    SCHEDULE = "schedule"
    REQUEST_RESCHEDULE = "request_reschedule"
    PASS = "pass"  # noqa: S105 - an inspection outcome, not a password
    REQUIRE_RECTIFICATION = "require_rectification"
    SUBMIT_RECTIFICATION = "submit_rectification"
    FAIL = "fail"
    ISSUE = "issue"
    VERIFY = "verify"
    FOLLOW_UP = "follow_up"


APPLICANT = "applicant"
COMMISSIONER = "window_commissioner"
REVIEWER = "unit_reviewer"
COORDINATOR = "inspection_coordinator"
SYSTEM = "system"  # follows from other transitions (e.g. the last approval)


@dataclass(frozen=True)
class Transition:
    source: StrEnum
    action: Action
    target: StrEnum
    roles: frozenset[str]
    event: str  # timeline action; also the outbox event when ``notify``
    label: str  # what the applicant reads on the timeline
    notify: bool = False  # written to the outbox for the applicant / departments


def _t(source, action, target, roles, event, label, notify=False) -> Transition:
    return Transition(source, action, target, frozenset(roles), event, label, notify)


S, It, N, R, P = State, ItemState, InspectionState, RectificationState, PostCheckState
TRANSITIONS: tuple[Transition, ...] = (
    # the application
    _t(S.DRAFT, Action.SUBMIT, S.SUBMITTED, {APPLICANT}, "application.submitted", "提交申请"),
    _t(S.SUPPLEMENT_REQUESTED, Action.SUBMIT, S.SUBMITTED, {APPLICANT},
       "application.resubmitted", "补正后重新提交"),
    _t(S.DRAFT, Action.WITHDRAW, S.WITHDRAWN, {APPLICANT}, "application.withdrawn", "撤回草稿"),
    _t(S.SUBMITTED, Action.WITHDRAW, S.WITHDRAWN, {APPLICANT}, "application.withdrawn",
       "撤回申请（受理前）"),
    _t(S.SUPPLEMENT_REQUESTED, Action.WITHDRAW, S.WITHDRAWN, {APPLICANT},
       "application.withdrawn", "撤回申请（补正期间）"),
    _t(S.SUBMITTED, Action.ACCEPT, S.IN_REVIEW, {COMMISSIONER}, "application.accepted",
       "窗口受理", notify=True),
    _t(S.SUBMITTED, Action.REQUEST_SUPPLEMENTS, S.SUPPLEMENT_REQUESTED, {COMMISSIONER},
       "application.supplement_requested", "一次性告知需补正的内容", notify=True),
    _t(S.SUBMITTED, Action.REJECT, S.NOT_ACCEPTED, {COMMISSIONER}, "application.not_accepted",
       "不予受理", notify=True),
    _t(S.IN_REVIEW, Action.APPROVE, S.APPROVED, {SYSTEM}, "application.approved",
       "全部事项准予许可且现场核查通过，待发证", notify=True),
    _t(S.IN_REVIEW, Action.REFUSE, S.REFUSED, {COMMISSIONER}, "application.refused",
       "不予许可", notify=True),
    _t(S.APPROVED, Action.ISSUE, S.LICENSED, {COMMISSIONER}, "license.issued",
       "核发行业综合许可证", notify=True),
    # 告知承诺 found false while the license waits: no license with a revoked item in it —
    # back to review, where the item is dropped with consent or the case refused
    _t(S.APPROVED, Action.REVOKE, S.IN_REVIEW, {SYSTEM}, "application.reopened",
       "事项因告知承诺不实被撤销，退回审查"),
    # each permit item
    _t(It.DRAFT, Action.SUBMIT, It.SUBMITTED, {APPLICANT}, "item.submitted", "事项已提交"),
    _t(It.SUBMITTED, Action.ACCEPT, It.UNDER_REVIEW, {COMMISSIONER}, "item.review_opened",
       "事项分送审批单位"),
    _t(It.UNDER_REVIEW, Action.APPROVE, It.APPROVED, {REVIEWER}, "item.approved", "准予许可",
       notify=True),
    _t(It.UNDER_REVIEW, Action.REFUSE, It.REFUSED, {REVIEWER}, "item.refused", "不予许可",
       notify=True),
    # 告知承诺: approved at once on the signed commitment, checked afterwards
    _t(It.UNDER_REVIEW, Action.APPROVE_BY_COMMITMENT, It.APPROVED, {REVIEWER},
       "item.approved_by_commitment", "告知承诺，当场准予许可", notify=True),
    _t(It.APPROVED, Action.REVOKE, It.REVOKED, {SYSTEM}, "item.revoked",
       "事后核查发现承诺不实，撤销许可", notify=True),
    _t(It.UNDER_REVIEW, Action.FAIL, It.REFUSED, {SYSTEM}, "item.refused",
       "现场核查未通过，不予许可", notify=True),
    _t(It.REFUSED, Action.DROP, It.DROPPED, {COMMISSIONER}, "item.dropped",
       "经申请人同意，不再办理该事项"),
    _t(It.REVOKED, Action.DROP, It.DROPPED, {COMMISSIONER}, "item.dropped",
       "经申请人同意，不再办理该事项"),
    *(_t(src, Action.CLOSE, It.CLOSED, {SYSTEM}, "item.closed", "事项终止")
      for src in (It.DRAFT, It.SUBMITTED, It.UNDER_REVIEW)),
    # the joint inspection
    _t(N.TO_SCHEDULE, Action.SCHEDULE, N.SCHEDULED, {COORDINATOR}, "inspection.scheduled",
       "安排联合现场核查", notify=True),
    # the coordinator moves a visit nobody has recorded anything on yet; the applicant is told
    # exactly as when it was first scheduled
    _t(N.SCHEDULED, Action.SCHEDULE, N.SCHEDULED, {COORDINATOR}, "inspection.scheduled",
       "调整联合现场核查时间", notify=True),
    _t(N.SCHEDULED, Action.REQUEST_RESCHEDULE, N.RESCHEDULE_REQUESTED, {APPLICANT},
       "inspection.reschedule_requested", "申请人申请调整核查时间"),
    _t(N.RESCHEDULE_REQUESTED, Action.SCHEDULE, N.SCHEDULED, {COORDINATOR},
       "inspection.rescheduled", "重新安排联合现场核查", notify=True),
    _t(N.SCHEDULED, Action.PASS, N.PASSED, {COORDINATOR}, "inspection.passed", "现场核查通过",
       notify=True),
    _t(N.SCHEDULED, Action.REQUIRE_RECTIFICATION, N.RECTIFYING, {COORDINATOR},
       "inspection.rectification_requested", "一次性告知整改意见", notify=True),
    _t(N.SCHEDULED, Action.FAIL, N.FAILED, {COORDINATOR}, "inspection.failed",
       "现场核查未通过", notify=True),
    _t(N.RECTIFYING, Action.SUBMIT_RECTIFICATION, N.RECHECK, {APPLICANT},
       "inspection.rectification_submitted", "提交整改情况"),
    _t(N.RECHECK, Action.PASS, N.PASSED, {COORDINATOR}, "inspection.passed", "复核通过",
       notify=True),
    _t(N.RECHECK, Action.FAIL, N.FAILED, {COORDINATOR}, "inspection.failed", "复核未通过",
       notify=True),
    # the post-check (事后核查) of an item approved by commitment
    _t(P.TO_SCHEDULE, Action.SCHEDULE, P.SCHEDULED, {COORDINATOR}, "post_check.scheduled",
       "安排事后核查", notify=True),
    _t(P.SCHEDULED, Action.SCHEDULE, P.SCHEDULED, {COORDINATOR}, "post_check.scheduled",
       "调整事后核查时间", notify=True),
    _t(P.SCHEDULED, Action.PASS, P.PASSED, {COORDINATOR}, "post_check.passed",
       "事后核查通过，承诺属实", notify=True),
    _t(P.SCHEDULED, Action.FAIL, P.FAILED, {COORDINATOR}, "post_check.failed",
       "事后核查发现承诺不实", notify=True),
    # a bad rating's rectification task, worked by the unit it concerns
    _t(R.OPEN, Action.VERIFY, R.VERIFIED, {REVIEWER}, "rectification.verified",
       "差评核实完毕"),
    _t(R.VERIFIED, Action.FOLLOW_UP, R.FOLLOWED_UP, {REVIEWER}, "rectification.followed_up",
       "已回访申请人"),
    _t(R.FOLLOWED_UP, Action.FOLLOW_UP, R.FOLLOWED_UP, {REVIEWER}, "rectification.followed_up",
       "再次回访申请人"),
    _t(R.FOLLOWED_UP, Action.CLOSE, R.CLOSED, {REVIEWER}, "rectification.closed",
       "差评整改办结"),
)

EDITABLE = frozenset({State.DRAFT, State.SUPPLEMENT_REQUESTED})
# An item reaches its unit at acceptance (受理后分送): before that the window has not checked
# the application, and one it refused was never the unit's business. These are the states an
# item can be in once sent (closed: the application was withdrawn during review); the unit
# sees an item, and the application it belongs to, only when it was accepted and the item is
# in one of them (services/review.py lists, services/window.py opens).
SENT_TO_UNIT = frozenset({ItemState.UNDER_REVIEW, ItemState.APPROVED, ItemState.REFUSED,
                          ItemState.DROPPED, ItemState.CLOSED, ItemState.REVOKED})
# items the units did not grant: refused, or revoked after approval by commitment (a false
# commitment found before the license): dropped with the applicant's consent, or the whole
# application refused (services/window.py)
NOT_GRANTED = frozenset({ItemState.REFUSED, ItemState.REVOKED})
# keyed by kind too: StrEnum members of different kinds with one value compare equal
_BY_KEY = {(type(t.source), t.source, t.action): t for t in TRANSITIONS}
ITEM_MOVES = frozenset((s, a) for kind, s, a in _BY_KEY if kind is ItemState)


def transition(current: str, action: Action, *, role: str, kind: type[StrEnum] = State,
               ) -> Transition:
    """The allowed transition, or 409 naming the current state — never a silent no-op."""
    state = kind(current)
    found = _BY_KEY.get((kind, state, action))
    if found is None or role not in found.roles:
        raise Conflict("STATE_CONFLICT", f"当前状态为“{label(state, kind)}”，不能执行此操作",
                       {"status": current, "action": action.value})
    return found


def allowed_actions(current: str, *, role: str, kind: type[StrEnum] = State) -> list[Action]:
    """What ``role`` may do to a subject in state ``current``, in the table's order: the
    console offers these and no others (the services still check each call)."""
    state = kind(current)
    return [t.action for t in TRANSITIONS
            if type(t.source) is kind and t.source == state and role in t.roles]


def ensure_editable(current: str) -> None:
    if State(current) not in EDITABLE:
        raise Conflict("APPLICATION_NOT_EDITABLE",
                       f"申请当前为“{label(current)}”，不能再修改", {"status": current})
