"""One request through the live workflow code: under a policy, and checked against the trail."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from schemas.lifecycle import CalendarUpdate, TransitionRecord, WorkflowState
from schemas.policy import CalendarData
from tierflow.directory import Directory
from whatif.driver import Refusal, run_request
from whatif.lookups import Pinning, TrailLookups
from whatif.outcome import Outcome, Step, outcome_of
from whatif.trail import RecordedRequest
from workflows.business_time import business_seconds_between


@dataclass
class Replayed:
    """A simulated request: its records, the actions it refused, and its figures."""

    records: list[TransitionRecord]
    refused: list[Refusal]
    outcome: Outcome
    calendar: CalendarData | None  # the pinned calendar (None: admission never pinned one)


def replay(
    recorded: RecordedRequest,
    pinning: Pinning,
    directory: Directory,
    horizon: datetime,
    yardstick: CalendarData | None = None,
) -> Replayed:
    """Run the recorded actions at their instants under ``pinning``'s policy until ``horizon``.

    Under a candidate calendar the calendars published to the request are not delivered: the
    candidate stands for the days off of every year it covers. Business time to resolution is
    measured on ``yardstick`` if given (the request's own calendar, so that a candidate of
    other working hours does not change it for a request resolved at the same instant), else
    on the calendar pinned."""
    lookups = TrailLookups.of(recorded.rows, pinning, directory)
    state = WorkflowState(request=recorded.request, search_attributes=False)  # none to upsert
    actions = recorded.actions
    if pinning.calendar is not None:
        actions = [(at, a) for at, a in actions if not isinstance(a, CalendarUpdate)]
    run = run_request(state, recorded.started_at, actions, lookups.answers(), horizon)
    req = recorded.request
    calendar = lookups.pinned.calendar if lookups.pinned else None
    outcome = outcome_of(
        req.request_id,
        req.category.value,
        req.priority.value,
        list(run.records),
        yardstick or calendar,
    )
    return Replayed(run.records, run.refused, outcome, calendar)


@dataclass(frozen=True)
class Disagreement:
    """Where a replay under the request's own policy parts from its recording."""

    request_id: str
    index: int  # the event's position (its sequence - 1)
    recorded: Step | None
    replayed: Step | None

    def describe(self) -> str:
        def said(step: Step | None) -> str:
            if step is None:
                return "nothing"
            where = f"{step.to_tier}/{step.institution_id}"
            return f"{step.event_type} at {step.at.isoformat()} ({step.to_state}, {where})"

        return (
            f"{self.request_id} event {self.index + 1}: recorded {said(self.recorded)}, "
            f"replayed {said(self.replayed)}"
        )


def disagreement(
    recorded: RecordedRequest,
    replayed: Replayed,
    tolerance: timedelta,
    cutoff: datetime,
) -> tuple[Disagreement | None, timedelta]:
    """Compare every event up to ``cutoff``: the same events in the same order, each within
    ``tolerance`` of its recorded instant in business time.

    Business time, because production drifts by milliseconds (a timer fires just after its
    deadline; a step after a local activity reads a later clock), and a deadline pushed a
    millisecond past noon lands after lunch: 90 wall-clock minutes, no business time at all.
    Returns the first difference and the largest drift.
    """
    mine = [Step.of(row) for row in recorded.rows if row.occurred_at <= cutoff]
    theirs = [Step.of(rec) for rec in replayed.records if rec.occurred_at <= cutoff]
    drift = timedelta(0)
    for index in range(max(len(mine), len(theirs))):
        left = mine[index] if index < len(mine) else None
        right = theirs[index] if index < len(theirs) else None
        if left is None or right is None or not left.same_as(right):
            return Disagreement(recorded.request.request_id, index, left, right), drift
        early, late = sorted((left.at, right.at))
        gap = late - early
        if replayed.calendar is not None:
            gap = timedelta(seconds=business_seconds_between(early, late, replayed.calendar))
        drift = max(drift, gap)
        if gap > tolerance:
            return Disagreement(recorded.request.request_id, index, left, right), drift
    return None, drift
