"""What a workflow records about itself: tier holds, summaries and transition records. Pure.

``case`` is the workflow's ``WorkflowState``: the request as the workflow knows it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from schemas import permissions
from schemas.chased import part_unit
from schemas.domain import ClockKind, SlaStatus, State, Tier
from schemas.lifecycle import (
    ActionKind,
    ActionRequest,
    ActionResult,
    Awaiting,
    EventType,
    RequestSummary,
    SlaClock,
    TierHold,
    TimelineEntry,
    TransitionRecord,
    WorkflowState,
    timeline_facts,
)
from schemas.request import Actor
from workflows import clocks, follow_up, pauses, rectification

# Bounds on what the workflow keeps (its state is one payload, limit 2 MB; the query answer
# travels in one gRPC message, limit 4 MiB). The read model keeps everything.
MAX_TIMELINE = 100  # newest timeline entries kept; ``timeline_truncated`` counts the rest
MAX_TIMELINE_TEXT = 500  # characters of an entry's reason kept (the audit trail has it all)
MAX_HOLDS = 50  # newest tier holds kept
MAX_CLOCKS = 40  # newest SLA clocks kept (the current tier's are always the newest)
MAX_ACTION_IDS = 1000  # newest action ids remembered to answer a repeated action_id


def remember_result(case: WorkflowState, action: ActionRequest, result: ActionResult) -> None:
    """Keep ``result`` as the answer to ``action``'s id, with the digest that tells a repeat
    of it from another action reusing the id."""
    case.results[action.action_id] = result
    case.action_digests[action.action_id] = action.content_digest()
    forget_old_results(case)


def reused_for_another(case: WorkflowState, action: ActionRequest) -> bool:
    """Whether ``action``'s id answered another action (unknown for results kept before
    digests were: those count as repeats, as they did)."""
    known = case.action_digests.get(action.action_id)
    return known is not None and known != action.content_digest()


def forget_old_results(case: WorkflowState) -> None:
    """Keep the answers of the newest MAX_ACTION_IDS action ids (``results`` is oldest first).

    An action id older than that is no longer recognised as a repeat; callers redeliver within
    minutes (Kafka redelivery, client retries), far inside a thousand actions on one request.
    """
    extra = len(case.results) - MAX_ACTION_IDS
    for action_id in list(case.results)[: max(extra, 0)]:
        del case.results[action_id]
        case.action_digests.pop(action_id, None)


def bound_state(case: WorkflowState) -> None:
    """Drop the oldest timeline entries, holds and clocks beyond their bounds."""
    extra = len(case.timeline) - MAX_TIMELINE
    if extra > 0:
        del case.timeline[:extra]
        case.timeline_truncated += extra
    if len(case.holds) > MAX_HOLDS:
        del case.holds[: len(case.holds) - MAX_HOLDS]
    if len(case.clocks) > MAX_CLOCKS:
        del case.clocks[: len(case.clocks) - MAX_CLOCKS]


def tier_clocks(case: WorkflowState) -> list[SlaClock]:
    """Return the clocks of the current stay at this tier, stopped ones included."""
    since = case.clocks_since
    return [
        clock
        for clock in case.clocks
        if clock.tier is case.tier and (since is None or clock.started_at >= since)
    ]


def current_clocks(case: WorkflowState) -> list[SlaClock]:
    """Return the clocks of this tier that still run or are paused."""
    return [clock for clock in tier_clocks(case) if clock.stopped_at is None]


def open_hold(case: WorkflowState, tier: Tier, institution_id: str, now: datetime) -> None:
    case.holds.append(TierHold(tier=tier, institution_id=institution_id, since=now))


def close_hold(case: WorkflowState, now: datetime, left_by: str) -> None:
    if case.holds and case.holds[-1].until is None:
        case.holds[-1].until = now
        case.holds[-1].left_by = left_by


def mark_hold_breach(case: WorkflowState, kind: ClockKind) -> None:
    if case.holds:
        if kind is ClockKind.RESPONSE:
            case.holds[-1].response_breached = True
        elif kind is ClockKind.SIGN_FOR:
            case.holds[-1].sign_for_breached = True
        else:
            case.holds[-1].resolution_breached = True


def signed_for_at(case: WorkflowState) -> datetime | None:
    """When the institution holding the request signed for it (None: not yet)."""
    return case.holds[-1].signed_for_at if case.holds else None


def summary(case: WorkflowState, now: datetime) -> RequestSummary:
    """Return the request's current summary, as the read model stores it."""
    req = case.request
    held = tier_clocks(case)
    due = {clock.kind: clock.deadline for clock in held if clocks.is_running(clock)}
    waits_for = awaiting(case)
    return RequestSummary.of_request(
        req,
        state=case.state,
        tier=case.tier,
        institution_id=case.institution.id if case.institution else None,
        policy_version=case.policy.version if case.policy else "",
        sla_status=clocks.worst_status(held) if held else SlaStatus.STOPPED,
        response_due_at=due.get(ClockKind.RESPONSE),
        resolution_due_at=due.get(ClockKind.RESOLUTION),
        submitted_at=case.submitted_at or now,
        updated_at=now,
        resolved_at=case.resolved_at,
        closed_at=case.closed_at,
        escalation_count=case.escalation_count,
        needs_operator=case.operator is not None,
        sign_for_due_at=due.get(ClockKind.SIGN_FOR),
        signed_for_at=signed_for_at(case),
        handler_id=case.holds[-1].handler if case.holds else None,
        co_handlers=[p.institution_id for p in case.parts if p.open],
        awaiting=waits_for,
        follow_up_due_at=case.follow_up_due_at if Awaiting.FOLLOW_UP in waits_for else None,
        paused_until=pauses.pause_ends(case),
        rating=case.rating,
        scope_division=scope_division(case),
        rectifying_unit=rectification.owing_unit(case, now),
    )


def scope_division(case: WorkflowState) -> str | None:
    """The division the holding unit's overseers act from, when the enterprise's lies
    outside it: a pinned rule (``scope_follows_holder``); None before it, or inside."""
    if case.policy is None or not case.policy.scope_follows_holder or case.institution is None:
        return None
    return permissions.scope_division(
        case.request.enterprise.division_code, case.institution.division_code
    )


# A pending application's kind, and who it waits for
DECISIONS = {
    ActionKind.RETURN: Awaiting.RETURN_DECISION,
    ActionKind.REQUEST_EXTENSION: Awaiting.EXTENSION_DECISION,
    ActionKind.SUSPEND: Awaiting.SUSPENSION_DECISION,
}


def redone(case: WorkflowState) -> bool:
    """Whether the request was concluded once and is being handled again (重办)."""
    return any(h.left_by == "resolved" for h in case.holds)


def awaiting(case: WorkflowState) -> list[Awaiting]:
    """What the request waits for from a desk, a supervisor or the holding unit's written
    reply."""
    found = []
    if follow_up.takes_calls(case) and case.follow_up_due_at and not case.followed_up:
        found.append(Awaiting.FOLLOW_UP)
    pending = {a.kind for a in case.applications if a.pending}
    found += [code for kind, code in DECISIONS.items() if kind in pending]
    if case.rectification is not None and case.rectification.appeal_pending:
        found.append(Awaiting.APPEAL_DECISION)
    # the holding unit's reply, or a rated unit's for its 整改 elsewhere (whose unit is the
    # summary's ``rectifying_unit``); a co-handler's for its part: the read model's request_part
    waiting = [s for s in case.supervisions if s.awaiting_reply and part_unit(s.clock) is None]
    elsewhere = [rectification.replies_elsewhere(case, s) for s in waiting]
    if not all(elsewhere):
        found.append(Awaiting.SUPERVISION_REPLY)
    if any(elsewhere):
        found.append(Awaiting.RECTIFICATION_REPLY)
    return found


def record_transition(
    case: WorkflowState,
    event: EventType,
    actor: Actor,
    now: datetime,
    *,
    to_state: State,
    from_tier: Tier | None,
    reason: str | None,
    action_id: str | None,
    details: dict[str, Any],
) -> TransitionRecord:
    """Apply the state change, add a timeline entry and return the transition record."""
    from_state = case.state if event is not EventType.SUBMITTED else None
    if to_state is State.CLOSED and case.state is not State.CLOSED:  # a rating after keeps it
        case.closed_at = now
    case.state = to_state
    case.sequence += 1
    institution_id = case.institution.id if case.institution else None
    case.timeline.append(
        TimelineEntry(
            sequence=case.sequence,
            event_type=event,
            occurred_at=now,
            actor_id=actor.id,
            actor_role=actor.role,
            from_state=from_state,
            to_state=to_state,
            tier=case.tier,
            institution_id=institution_id,
            reason=reason[:MAX_TIMELINE_TEXT] if reason else reason,
            facts=timeline_facts(details),
        )
    )
    bound_state(case)
    return TransitionRecord(
        event_id=f"{case.request.request_id}:{case.sequence}",
        request_id=case.request.request_id,
        sequence=case.sequence,
        event_type=event,
        occurred_at=now,
        actor=actor,
        action_id=action_id,
        from_state=from_state,
        to_state=to_state,
        from_tier=from_tier if from_tier is not None else case.tier,
        to_tier=case.tier,
        institution_id=institution_id,
        reason=reason,
        details=details,
        policy_version=case.policy.version if case.policy else "",
        summary=summary(case, now),
        request=case.request if event is EventType.SUBMITTED else None,
    )
