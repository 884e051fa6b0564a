"""Which action is allowed in which state, by whom, and where it leads. Pure functions."""

from __future__ import annotations

from schemas.domain import OPEN_STATES, TERMINAL_STATES, State, Tier
from schemas.lifecycle import ActionKind, ActionRequest, EventType, RatingStage
from schemas.messages import N_, Said
from schemas.permissions import action_refusal

HELD_STATES = frozenset({State.ASSIGNED, State.ACKNOWLEDGED, State.IN_PROGRESS})
WORKING_STATES = frozenset({State.ACKNOWLEDGED, State.IN_PROGRESS})
NOT_TERMINAL = frozenset(set(State) - TERMINAL_STATES)
# 受理评价: the intake is rated (stage intake) while the request is open, before its conclusion
INTAKE_RATING_STATES = OPEN_STATES

# action -> (states it is allowed from, state it leads to; None keeps the state)
TRANSITIONS: dict[ActionKind, tuple[frozenset[State], State | None]] = {
    ActionKind.SIGN_FOR: (frozenset({State.ASSIGNED}), None),  # once per holder: the workflow
    ActionKind.ACKNOWLEDGE: (frozenset({State.ASSIGNED}), State.ACKNOWLEDGED),
    ActionKind.START: (frozenset({State.ACKNOWLEDGED}), State.IN_PROGRESS),
    ActionKind.REQUEST_INFO: (
        frozenset({State.ACKNOWLEDGED, State.IN_PROGRESS}),
        State.AWAITING_ENTERPRISE,
    ),
    ActionKind.PROVIDE_INFO: (OPEN_STATES, None),  # resumes from awaiting_enterprise
    ActionKind.RESOLVE: (frozenset({State.ACKNOWLEDGED, State.IN_PROGRESS}), State.RESOLVED),
    ActionKind.REOPEN: (frozenset({State.RESOLVED}), State.IN_PROGRESS),
    ActionKind.ESCALATE: (HELD_STATES, State.ASSIGNED),
    ActionKind.HAND_BACK: (HELD_STATES, State.ASSIGNED),
    ActionKind.REASSIGN: (HELD_STATES, State.ASSIGNED),
    ActionKind.REJECT: (HELD_STATES, State.REJECTED),
    ActionKind.COMMENT: (NOT_TERMINAL, None),
    ActionKind.WITHDRAW: (OPEN_STATES, State.WITHDRAWN),
    # closed: only within the rating window after an automatic close (the workflow checks);
    # the intake's rating (stage intake) goes by INTAKE_RATING_STATES instead
    ActionKind.RATE: (frozenset({State.RESOLVED, State.CLOSED}), None),
    ActionKind.EXTERNAL_STATUS: (NOT_TERMINAL, None),
    # one open application of each kind at a time, decided by a tier above: the workflow checks
    ActionKind.RETURN: (HELD_STATES, None),
    ActionKind.APPROVE_RETURN: (HELD_STATES, State.ASSIGNED),
    ActionKind.REFUSE_RETURN: (HELD_STATES, None),
    ActionKind.REQUEST_EXTENSION: (OPEN_STATES, None),
    ActionKind.APPROVE_EXTENSION: (OPEN_STATES, None),
    ActionKind.REFUSE_EXTENSION: (OPEN_STATES, None),
    ActionKind.SUSPEND: (WORKING_STATES, None),
    ActionKind.APPROVE_SUSPENSION: (WORKING_STATES, State.SUSPENDED),
    ActionKind.REFUSE_SUSPENSION: (WORKING_STATES, None),
    ActionKind.RESUME: (frozenset({State.SUSPENDED}), State.IN_PROGRESS),
    ActionKind.CLAIM: (OPEN_STATES, None),
    ActionKind.ASSIGN_HANDLER: (OPEN_STATES, None),
    ActionKind.TRANSFER: (OPEN_STATES, None),
    ActionKind.ADD_CO_HANDLER: (OPEN_STATES, None),
    ActionKind.SIGN_FOR_PART: (OPEN_STATES, None),
    ActionKind.CONCLUDE_PART: (OPEN_STATES, None),
    ActionKind.WAIVE_PART: (OPEN_STATES, None),
    ActionKind.SUPERVISE: (OPEN_STATES, None),
    ActionKind.REPLY_SUPERVISION: (frozenset(State), None),  # while one waits: even closed
    # closed: a bad rating's call back after the close (差评回访; the workflow checks)
    ActionKind.FOLLOW_UP: (frozenset({State.RESOLVED, State.CLOSED}), None),
    # after a bad rating, while its rectification or appeal is open (the workflow checks):
    # resolved, closed, or handled again meanwhile (重办), as its deadlines keep running
    ActionKind.CONCLUDE_RECTIFICATION: (frozenset(State), None),
    ActionKind.APPEAL_RATING: (frozenset(State), None),
    ActionKind.UPHOLD_APPEAL: (frozenset(State), None),
    ActionKind.REJECT_APPEAL: (frozenset(State), None),
    # only while a step waits for an operator (the workflow checks that), in any state
    ActionKind.OPERATOR_RETRY: (frozenset(State), None),
    ActionKind.OPERATOR_RESOLVE: (frozenset(State), None),
}

EVENT_OF_ACTION: dict[ActionKind, EventType] = {
    ActionKind.SIGN_FOR: EventType.SIGNED_FOR,
    ActionKind.ACKNOWLEDGE: EventType.ACKNOWLEDGED,
    ActionKind.START: EventType.STARTED,
    ActionKind.REQUEST_INFO: EventType.INFO_REQUESTED,
    ActionKind.PROVIDE_INFO: EventType.INFO_PROVIDED,
    ActionKind.RESOLVE: EventType.RESOLVED,
    ActionKind.REOPEN: EventType.REOPENED,
    ActionKind.ESCALATE: EventType.ESCALATED,
    ActionKind.HAND_BACK: EventType.HANDED_BACK,
    ActionKind.REASSIGN: EventType.REASSIGNED,
    ActionKind.REJECT: EventType.REJECTED,
    ActionKind.COMMENT: EventType.COMMENTED,
    ActionKind.WITHDRAW: EventType.WITHDRAWN,
    ActionKind.RATE: EventType.RATED,
    ActionKind.EXTERNAL_STATUS: EventType.EXTERNAL_STATUS,
    ActionKind.RETURN: EventType.RETURN_REQUESTED,
    ActionKind.APPROVE_RETURN: EventType.RETURN_APPROVED,
    ActionKind.REFUSE_RETURN: EventType.RETURN_REFUSED,
    ActionKind.REQUEST_EXTENSION: EventType.EXTENSION_REQUESTED,
    ActionKind.APPROVE_EXTENSION: EventType.EXTENSION_APPROVED,
    ActionKind.REFUSE_EXTENSION: EventType.EXTENSION_REFUSED,
    ActionKind.SUSPEND: EventType.SUSPENSION_REQUESTED,
    ActionKind.APPROVE_SUSPENSION: EventType.SUSPENSION_APPROVED,
    ActionKind.REFUSE_SUSPENSION: EventType.SUSPENSION_REFUSED,
    ActionKind.RESUME: EventType.RESUMED,
    ActionKind.CLAIM: EventType.HANDLER_CHANGED,
    ActionKind.ASSIGN_HANDLER: EventType.HANDLER_CHANGED,
    ActionKind.TRANSFER: EventType.HANDLER_CHANGED,
    ActionKind.ADD_CO_HANDLER: EventType.CO_HANDLER_ADDED,
    ActionKind.SIGN_FOR_PART: EventType.PART_SIGNED_FOR,
    ActionKind.CONCLUDE_PART: EventType.PART_CONCLUDED,
    ActionKind.WAIVE_PART: EventType.PART_WAIVED,
    ActionKind.SUPERVISE: EventType.SUPERVISION_OPENED,
    ActionKind.REPLY_SUPERVISION: EventType.SUPERVISION_REPLIED,
    ActionKind.FOLLOW_UP: EventType.FOLLOWED_UP,
    ActionKind.CONCLUDE_RECTIFICATION: EventType.RECTIFICATION_CONCLUDED,
    ActionKind.APPEAL_RATING: EventType.RATING_APPEALED,
    ActionKind.UPHOLD_APPEAL: EventType.APPEAL_UPHELD,
    ActionKind.REJECT_APPEAL: EventType.APPEAL_REJECTED,
    ActionKind.OPERATOR_RETRY: EventType.OPERATOR_RETRIED,
    ActionKind.OPERATOR_RESOLVE: EventType.OPERATOR_RESOLVED,
}


def forbidden_reason(
    action: ActionRequest,
    tier: Tier,
    institution_id: str | None,
    division_code: str,
    scope_division: str | None = None,
) -> str | None:
    """Why the actor may not take this action on the request: role, grants and scope."""
    return action_refusal(
        action.actor, action.kind, tier, institution_id, division_code, scope_division
    )


def rates_intake(action: ActionRequest) -> bool:
    """Whether the action is the intake's rating (受理评价), not the conclusion's."""
    return action.kind is ActionKind.RATE and action.stage is RatingStage.INTAKE


def transition_refusal(
    action: ActionRequest,
    state: State,
    tier: Tier,
    institution_id: str | None,
    rated: bool,
    intake_rated: bool = False,
) -> str | None:
    """Return why the action is not allowed in this state, or None if it is.

    ``rated``: the conclusion was rated; ``intake_rated``: the intake was.
    """
    if rates_intake(action):
        if state not in INTAKE_RATING_STATES:
            return Said(
                N_(
                    "cannot rate with stage intake: the request is %(state)s; the intake is "
                    "rated while the request is open, before its conclusion"
                ),
                state=state.value,
            )
        if intake_rated:
            return Said(N_("cannot rate with stage intake: the intake has already been rated"))
        return None
    allowed_from, _ = TRANSITIONS[action.kind]
    if action.kind is ActionKind.RATE and state in INTAKE_RATING_STATES:
        return Said(
            N_(
                "cannot rate the conclusion of a request in state %(state)s: it is not "
                "concluded yet (rate its intake with stage intake)"
            ),
            state=state.value,
        )
    if state not in allowed_from:
        return Said(
            N_("cannot %(kind)s a request in state %(state)s (allowed in: %(states)s)"),
            kind=action.kind.value,
            state=state.value,
            states=", ".join(sorted(option.value for option in allowed_from)),
        )
    if action.kind is ActionKind.ESCALATE and tier.next_up() is None:
        return Said(N_("cannot escalate: the request is already at the national tier"))
    if action.kind is ActionKind.HAND_BACK and tier.next_down() is None:
        return Said(N_("cannot hand back: the request is already at the county tier"))
    if action.kind is ActionKind.REASSIGN and action.institution_id == institution_id:
        return Said(
            N_("cannot reassign: the request is already held by %(holder)s"),
            holder=str(institution_id),
        )
    if action.kind is ActionKind.RATE and rated:
        return Said(N_("cannot rate: the request has already been rated"))
    return None


def target_state(action: ActionRequest, state: State) -> State:
    """Return the state the action leads to from ``state``."""
    _, to_state = TRANSITIONS[action.kind]
    if action.kind is ActionKind.PROVIDE_INFO and state is State.AWAITING_ENTERPRISE:
        return State.IN_PROGRESS
    return to_state if to_state is not None else state


def allowed_actions(
    state: State, tier: Tier, rated: bool, intake_rated: bool = False
) -> list[ActionKind]:
    """Return the actions the state allows (ignoring who asks), for consoles and APIs.

    ``rate`` is offered for the conclusion's rating, or for the intake's while it is open.
    """
    result: list[ActionKind] = []
    for kind, (allowed_from, _) in TRANSITIONS.items():
        if kind is ActionKind.RATE and state in INTAKE_RATING_STATES and not intake_rated:
            result.append(kind)
            continue
        if state not in allowed_from:
            continue
        if kind is ActionKind.ESCALATE and tier.next_up() is None:
            continue
        if kind is ActionKind.HAND_BACK and tier.next_down() is None:
            continue
        if kind is ActionKind.RATE and rated:
            continue
        result.append(kind)
    return result
