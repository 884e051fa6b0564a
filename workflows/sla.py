"""The SLA clocks of a request as a whole: what falls due next, stopping, resuming. Pure.

``workflows/clocks.py`` handles one clock; these functions work on the clocks of the tier
that holds the request, inside ``case`` (the workflow's ``WorkflowState``).
"""

from __future__ import annotations

from datetime import datetime

from schemas.domain import ClockKind, State
from schemas.lifecycle import WorkflowState
from workflows import applications, chasing, clocks, follow_up, parts, records, rectification
from workflows.business_time import add_business_seconds, business_seconds_between
from workflows.pauses import pause_ends


def next_due(case: WorkflowState) -> datetime | None:
    """Return the next warning, breach or auto-close instant, or None if nothing is pending."""
    policy = case.policy
    if policy is None:
        return None
    late = [d for d in (rectification.next_due(case), chasing.next_due(case)) if d is not None]
    if case.state.is_terminal:  # only a bad rating's rectification (and appeal) still runs
        return min(late) if late else None
    if case.state is State.RESOLVED:
        dues = [d for d in (close_due_now(case), *late) if d is not None]
        return min(dues) if dues else None
    thresholds, cal = policy.warning_thresholds, policy.calendar
    dues = [
        due
        for clock in records.current_clocks(case)
        if (due := clocks.next_due(clock, thresholds, cal))
    ]
    if (pause_end := pause_ends(case)) is not None:  # a suspension's, or the reply's
        dues.append(pause_end)
    if (part_due := parts.next_due(case)) is not None:
        dues.append(part_due)
    if (rung := chasing.next_due(case)) is not None:
        dues.append(rung)
    if (appeal := rectification.appeal_due(case)) is not None:  # reopened while appealed
        dues.append(appeal)
    fixing = rectification.next_due(case) if policy.rectification_chased_in_redo else None
    if fixing is not None:  # 重办 with its 整改 open: the 整改's deadline too (pinned)
        dues.append(fixing)
    if (decision := applications.decision_due(case)) is not None:  # 退单, 延期, 挂起 undecided
        dues.append(decision)
    return min(dues) if dues else None


def close_due_now(case: WorkflowState) -> datetime | None:
    """When a resolved request closes itself; None while a bad rating awaits its follow-up."""
    return None if follow_up.awaited(case) else case.close_due_at


def stop_clock(case: WorkflowState, kind: ClockKind, now: datetime) -> int | None:
    """Stop this tier's clock of ``kind``; return the business seconds it used."""
    assert case.policy is not None
    for clock in records.current_clocks(case):
        if clock.kind is kind:
            clocks.stop(clock, now, case.policy.calendar)
            return clock.consumed_seconds
    return None


def resume_clocks(case: WorkflowState, now: datetime) -> int:
    """Resume paused clocks; return the business seconds the pause lasted."""
    assert case.policy is not None
    cal = case.policy.calendar
    paused, since = 0, case.paused_at
    if since is not None:
        paused = business_seconds_between(since, now, cal)
        if case.holds:
            case.holds[-1].paused_seconds += paused
    case.paused_at = None
    for clock in records.current_clocks(case):
        clocks.resume(clock, now, cal)
    chasing.shift(case, since, now)  # the ladder resumes as much later (a pinned rule)
    return paused


def close_due(case: WorkflowState, now: datetime) -> datetime:
    """Return when a request resolved at ``now`` closes itself (end of the reopen window)."""
    assert case.policy is not None
    return add_business_seconds(now, case.policy.reopen_window_seconds, case.policy.calendar)


def rating_due(case: WorkflowState, now: datetime) -> datetime | None:
    """Return until when a request closed at ``now`` takes a rating (None: no window)."""
    assert case.policy is not None
    window = case.policy.rating_window_seconds
    if not window or case.rating is not None:
        return None
    return add_business_seconds(now, window, case.policy.calendar)
