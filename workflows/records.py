"""What a workflow records about itself: tier holds, summaries and transition records. Pure.

``case`` is the workflow's ``WorkflowState``: the request as the workflow knows it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from schemas.domain import ClockKind, SlaStatus, State, Tier
from schemas.lifecycle import (
    EventType,
    RequestSummary,
    SlaClock,
    TierHold,
    TimelineEntry,
    TransitionRecord,
    WorkflowState,
)
from schemas.request import Actor
from workflows import clocks


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
        else:
            case.holds[-1].resolution_breached = True


def summary(case: WorkflowState, now: datetime) -> RequestSummary:
    """Return the request's current summary, as the read model stores it."""
    req = case.request
    held = tier_clocks(case)
    due = {clock.kind: clock.deadline for clock in held if clocks.is_running(clock)}
    return RequestSummary(
        request_id=req.request_id,
        state=case.state,
        tier=case.tier,
        institution_id=case.institution.id if case.institution else None,
        category=req.category,
        priority=req.priority,
        grade=req.enterprise.grade,
        division_code=req.enterprise.division_code,
        enterprise_uscc=req.enterprise.uscc,
        enterprise_name=req.enterprise.name,
        subject=req.subject,
        policy_version=case.policy.version if case.policy else "",
        sla_status=clocks.worst_status(held) if held else SlaStatus.STOPPED,
        response_due_at=due.get(ClockKind.RESPONSE),
        resolution_due_at=due.get(ClockKind.RESOLUTION),
        submitted_at=case.submitted_at or now,
        updated_at=now,
        resolved_at=case.resolved_at,
        closed_at=case.closed_at,
        escalation_count=case.escalation_count,
    )


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
    case.state = to_state
    if to_state is State.CLOSED:
        case.closed_at = now
    case.sequence += 1
    institution_id = case.institution.id if case.institution else None
    case.timeline.append(
        TimelineEntry(
            sequence=case.sequence,
            event_type=event,
            occurred_at=now,
            actor_id=actor.id,
            from_state=from_state,
            to_state=to_state,
            tier=case.tier,
            institution_id=institution_id,
            reason=reason,
        )
    )
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
