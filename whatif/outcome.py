"""What a request's lifecycle came to, from its events: the figures a what-if compares.

The same functions read the recorded audit rows and the simulated records, so "before" and
"after" (and production and its replay) are measured the same way.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Protocol

from schemas.domain import State, Tier
from schemas.lifecycle import EventType
from schemas.policy import CalendarData
from workflows.business_time import business_seconds_between

RESOLVED_STATES = (State.RESOLVED.value, State.CLOSED.value)


class EventLike(Protocol):
    """A recorded row (``Transition``) or a simulated record (``TransitionRecord``)."""

    @property
    def event_type(self) -> EventType: ...
    @property
    def occurred_at(self) -> datetime: ...
    @property
    def to_state(self) -> Any: ...
    @property
    def to_tier(self) -> Tier: ...
    @property
    def institution_id(self) -> str | None: ...
    @property
    def action_id(self) -> str | None: ...
    @property
    def details(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Step:
    """One event as a replay must reproduce it: what, when, where, and for which clock."""

    event_type: str
    at: datetime
    to_state: str
    to_tier: str
    institution_id: str | None
    clock: str | None
    action_id: str | None

    @classmethod
    def of(cls, event: EventLike) -> Step:
        return cls(
            event_type=event.event_type.value,
            at=event.occurred_at,
            to_state=str(getattr(event.to_state, "value", event.to_state)),
            to_tier=event.to_tier.value,
            institution_id=event.institution_id,
            clock=(event.details or {}).get("clock"),
            action_id=event.action_id,
        )

    def same_as(self, other: Step) -> bool:
        """Equal in everything but the instant."""
        return (self.event_type, self.to_state, self.to_tier, self.institution_id, self.clock) == (
            other.event_type,
            other.to_state,
            other.to_tier,
            other.institution_id,
            other.clock,
        )


@dataclass(frozen=True)
class Outcome:
    """One request's figures: what reports group and what a changed request lists."""

    request_id: str
    category: str
    priority: str
    institution_id: str | None  # where it landed (the first tier's holder)
    tier: str  # where it ended
    state: str
    breaches: int
    escalations: int  # for a breach (the engine's own)
    reminders: int
    supervisions: int  # opened by the engine
    warnings: int
    resolved: bool  # resolved in the end (resolved or closed after its last resolution)
    on_time: bool  # resolved with no resolution deadline missed (as 考核's 按时办结)
    resolution_business_seconds: int | None  # to its last resolution

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def differs(self, other: Outcome) -> list[str]:
        """The fields in which two outcomes of one request differ."""
        mine, theirs = self.as_dict(), other.as_dict()
        return [name for name in mine if mine[name] != theirs[name]]


def _state(event: EventLike) -> str:
    return str(getattr(event.to_state, "value", event.to_state))


def outcome_of(
    request_id: str,
    category: str,
    priority: str,
    events: list[EventLike],
    calendar: CalendarData | None,
) -> Outcome:
    """Count the request's events; business time by its pinned calendar."""
    types = [e.event_type for e in events]
    first_holder = next(
        (e.institution_id for e in events if e.event_type is EventType.ASSIGNED), None
    )
    last = events[-1] if events else None
    state = _state(last) if last else "submitted"
    resolutions = [i for i, e in enumerate(events) if e.event_type is EventType.RESOLVED]
    # resolved for good: no event after its last resolution took it back (reopened, 重办)
    stayed = bool(resolutions) and all(
        _state(e) in RESOLVED_STATES for e in events[resolutions[-1] :]
    )
    resolved_at = events[resolutions[-1]].occurred_at if stayed else None
    breaches = types.count(EventType.SLA_BREACHED)
    late = any(
        e.event_type is EventType.SLA_BREACHED and (e.details or {}).get("clock") == "resolution"
        for e in events
    )
    seconds = None
    if resolved_at is not None and calendar is not None and events:
        seconds = business_seconds_between(events[0].occurred_at, resolved_at, calendar)
    return Outcome(
        request_id=request_id,
        category=category,
        priority=priority,
        institution_id=first_holder,
        tier=last.to_tier.value if last else Tier.COUNTY.value,
        state=state,
        breaches=breaches,
        escalations=sum(
            1
            for e in events
            if e.event_type is EventType.ESCALATED
            and (e.details or {}).get("cause") == "sla_breach"
        ),
        reminders=types.count(EventType.REMINDED),
        supervisions=sum(
            1
            for e in events
            if e.event_type is EventType.SUPERVISION_OPENED and e.action_id is None
        ),
        warnings=types.count(EventType.SLA_WARNING),
        resolved=resolved_at is not None,
        on_time=resolved_at is not None and not late,
        resolution_business_seconds=seconds,
    )
