"""Business-time SLA clocks: start, pause, resume, stop, and what falls due next. Pure."""

from __future__ import annotations

import math
from datetime import datetime

from schemas.domain import ClockKind, SlaStatus, Tier
from schemas.lifecycle import SlaClock
from schemas.policy import CalendarData, PinnedPolicy
from workflows.business_time import add_business_seconds, business_seconds_between


def start_clocks(
    policy: PinnedPolicy, tier: Tier, now: datetime, *, response: bool = True
) -> list[SlaClock]:
    """Return a fresh resolution clock for ``tier``, after a response clock unless told not to
    (a policy whose response clock starts at sign-for)."""
    target = policy.targets[tier]
    started = [
        start_clock(ClockKind.RESOLUTION, tier, target.resolution_seconds, now, policy.calendar)
    ]
    if response:
        started.insert(
            0, start_clock(ClockKind.RESPONSE, tier, target.response_seconds, now, policy.calendar)
        )
    return started


def start_clock(
    kind: ClockKind, tier: Tier, target_seconds: int, now: datetime, cal: CalendarData
) -> SlaClock:
    """Return a running clock with its absolute deadline."""
    return SlaClock(
        kind=kind,
        tier=tier,
        target_seconds=target_seconds,
        running_since=now,
        started_at=now,
        deadline=add_business_seconds(now, target_seconds, cal),
    )


def is_running(clock: SlaClock) -> bool:
    return clock.running_since is not None and clock.stopped_at is None


def consumed(clock: SlaClock, now: datetime, cal: CalendarData) -> int:
    """Return business seconds used so far, including the running stretch."""
    used = clock.consumed_seconds
    if clock.running_since is not None:
        used += business_seconds_between(clock.running_since, now, cal)
    return used


def pause(clock: SlaClock, now: datetime, cal: CalendarData) -> None:
    """Stop the clock running but keep what it used, so resume gives the exact remainder."""
    if not is_running(clock):
        return
    clock.consumed_seconds = consumed(clock, now, cal)
    clock.running_since = None
    clock.deadline = None


def resume(clock: SlaClock, now: datetime, cal: CalendarData) -> None:
    """Restart a paused clock with exactly its remaining business time."""
    if clock.stopped_at is not None or clock.running_since is not None:
        return
    clock.running_since = now
    remaining = max(clock.target_seconds - clock.consumed_seconds, 0)
    clock.deadline = add_business_seconds(now, remaining, cal)


def stop(clock: SlaClock, now: datetime, cal: CalendarData) -> None:
    """Stop the clock for good (answered, resolved, or moved off its tier)."""
    if clock.stopped_at is not None:
        return
    clock.consumed_seconds = consumed(clock, now, cal)
    clock.running_since = None
    clock.stopped_at = now


def warning_at(clock: SlaClock, threshold: float, cal: CalendarData) -> datetime | None:
    """Return when the clock crosses ``threshold`` of its target, or None if not pending."""
    if not is_running(clock) or threshold in clock.warnings_sent or clock.breached:
        return None
    assert clock.running_since is not None
    mark = math.ceil(clock.target_seconds * threshold)
    if mark <= clock.consumed_seconds:
        return clock.running_since
    return add_business_seconds(clock.running_since, mark - clock.consumed_seconds, cal)


def next_due(clock: SlaClock, thresholds: list[float], cal: CalendarData) -> datetime | None:
    """Return the earliest pending warning or breach instant of the clock."""
    if not is_running(clock) or clock.breached:
        return None
    candidates = [
        at for threshold in thresholds if (at := warning_at(clock, threshold, cal)) is not None
    ]
    if clock.deadline is not None:
        candidates.append(clock.deadline)
    return min(candidates) if candidates else None


def worst_status(clocks: list[SlaClock]) -> SlaStatus:
    """Return the status that matters most among a tier's clocks, for queues and search."""
    statuses = {clock.status for clock in clocks}
    for status in (SlaStatus.BREACHED, SlaStatus.PAUSED, SlaStatus.WARNING, SlaStatus.ON_TRACK):
        if status in statuses:
            return status
    return SlaStatus.STOPPED
