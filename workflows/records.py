"""What a workflow records about itself: tier holds, summaries and transition records. Pure."""

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


def tier_clocks(s: WorkflowState) -> list[SlaClock]:
    """Return the clocks of the current stay at this tier, stopped ones included."""
    since = s.clocks_since
    return [c for c in s.clocks if c.tier is s.tier and (since is None or c.started_at >= since)]


def current_clocks(s: WorkflowState) -> list[SlaClock]:
    """Return the clocks of this tier that still run or are paused."""
    return [c for c in tier_clocks(s) if c.stopped_at is None]


def open_hold(s: WorkflowState, tier: Tier, institution_id: str, now: datetime) -> None:
    s.holds.append(TierHold(tier=tier, institution_id=institution_id, since=now))


def close_hold(s: WorkflowState, now: datetime, left_by: str) -> None:
    if s.holds and s.holds[-1].until is None:
        s.holds[-1].until = now
        s.holds[-1].left_by = left_by


def mark_hold_breach(s: WorkflowState, kind: ClockKind) -> None:
    if s.holds:
        if kind is ClockKind.RESPONSE:
            s.holds[-1].response_breached = True
        else:
            s.holds[-1].resolution_breached = True


def summary(s: WorkflowState, now: datetime) -> RequestSummary:
    """Return the request's current summary, as the read model stores it."""
    req = s.request
    held = tier_clocks(s)
    due = {c.kind: c.deadline for c in held if clocks.is_running(c)}
    return RequestSummary(
        request_id=req.request_id,
        state=s.state,
        tier=s.tier,
        institution_id=s.institution.id if s.institution else None,
        category=req.category,
        priority=req.priority,
        grade=req.enterprise.grade,
        division_code=req.enterprise.division_code,
        enterprise_uscc=req.enterprise.uscc,
        enterprise_name=req.enterprise.name,
        subject=req.subject,
        policy_version=s.policy.version if s.policy else "",
        sla_status=clocks.worst_status(held) if held else SlaStatus.STOPPED,
        response_due_at=due.get(ClockKind.RESPONSE),
        resolution_due_at=due.get(ClockKind.RESOLUTION),
        submitted_at=s.submitted_at or now,
        updated_at=now,
        resolved_at=s.resolved_at,
        closed_at=s.closed_at,
        escalation_count=s.escalation_count,
    )


def record_transition(
    s: WorkflowState,
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
    from_state = s.state if event is not EventType.SUBMITTED else None
    s.state = to_state
    if to_state is State.CLOSED:
        s.closed_at = now
    s.sequence += 1
    institution_id = s.institution.id if s.institution else None
    s.timeline.append(
        TimelineEntry(
            sequence=s.sequence,
            event_type=event,
            occurred_at=now,
            actor_id=actor.id,
            from_state=from_state,
            to_state=to_state,
            tier=s.tier,
            institution_id=institution_id,
            reason=reason,
        )
    )
    return TransitionRecord(
        event_id=f"{s.request.request_id}:{s.sequence}",
        request_id=s.request.request_id,
        sequence=s.sequence,
        event_type=event,
        occurred_at=now,
        actor=actor,
        action_id=action_id,
        from_state=from_state,
        to_state=to_state,
        from_tier=from_tier if from_tier is not None else s.tier,
        to_tier=s.tier,
        institution_id=institution_id,
        reason=reason,
        details=details,
        policy_version=s.policy.version if s.policy else "",
        summary=summary(s, now),
        request=s.request if event is EventType.SUBMITTED else None,
    )
