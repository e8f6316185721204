"""The application state machine: one table of states, transitions, who may fire each, and the
timeline event each writes. Nothing else changes an application's status.

Grows with the staff side (受理, 并联审批, 一同核查, 办结); the applicant's part is here now.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from backend.errors import Conflict


class State(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    WITHDRAWN = "withdrawn"


STATE_LABELS = {
    State.DRAFT: "草稿",
    State.SUBMITTED: "已提交，待受理",
    State.WITHDRAWN: "已撤回",
}


class Action(StrEnum):
    SUBMIT = "submit"
    WITHDRAW = "withdraw"


@dataclass(frozen=True)
class Transition:
    source: State
    action: Action
    target: State
    roles: frozenset[str]
    event: str  # the timeline / outbox event name
    label: str  # what the applicant reads on the timeline


TRANSITIONS: tuple[Transition, ...] = (
    Transition(State.DRAFT, Action.SUBMIT, State.SUBMITTED, frozenset({"applicant"}),
               "application.submitted", "提交申请"),
    Transition(State.DRAFT, Action.WITHDRAW, State.WITHDRAWN, frozenset({"applicant"}),
               "application.withdrawn", "撤回草稿"),
    Transition(State.SUBMITTED, Action.WITHDRAW, State.WITHDRAWN, frozenset({"applicant"}),
               "application.withdrawn", "撤回申请（受理前）"),
)

EDITABLE = frozenset({State.DRAFT})
_BY_KEY = {(t.source, t.action): t for t in TRANSITIONS}


def transition(current: str, action: Action, *, role: str) -> Transition:
    """The allowed transition, or 409 saying the current state — never a silent no-op."""
    found = _BY_KEY.get((State(current), action))
    if found is None or role not in found.roles:
        raise Conflict("APPLICATION_STATE_CONFLICT",
                       f"申请当前为“{STATE_LABELS[State(current)]}”，不能执行此操作",
                       {"status": current, "action": action.value})
    return found


def ensure_editable(current: str) -> None:
    if State(current) not in EDITABLE:
        raise Conflict("APPLICATION_NOT_EDITABLE",
                       f"申请当前为“{STATE_LABELS[State(current)]}”，不能再修改",
                       {"status": current})
