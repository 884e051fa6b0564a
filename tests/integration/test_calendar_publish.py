"""Publishing a newer calendar to running requests, on the dev server with the real worker.

A request pins the calendar of its submission year + 2; years the State Council had not
published are marked estimated. An admin publishes a newer calendar: running clocks keep the
business time they used and count the rest on the new days off; the step is in the audit trail.
"""

from __future__ import annotations

import uuid
from datetime import timedelta, timezone

from sqlmodel import Session
from temporalio.client import WorkflowHandle

from schemas.domain import ClockKind, Role
from schemas.policy import CalendarData
from schemas.request import Actor
from tests.utils.eventually import eventually
from tests.utils.factories import make_request
from tests.utils.stack_helpers import frozen, start_request
from tierflow.calendar_data import build_calendar
from tierflow.calendar_publish import publish_calendar
from tierflow.constants import workflow_id
from tierflow.db import repository
from workflows.service_request import ServiceRequestWorkflow

CST = timezone(timedelta(hours=8))
ADMIN = Actor(id="ops-li", role=Role.ADMIN)


async def test_a_published_calendar_moves_running_deadlines_and_is_recorded(stack) -> None:
    req = make_request()
    handle = await start_request(stack, req)
    before = await handle.query(ServiceRequestWorkflow.view)
    pinned = before.calendar_version
    assert pinned is not None and pinned.startswith("cn-holidays-")
    now_year = before.summary.submitted_at.astimezone(CST).year
    # the library holds no official arrangement for the years after the current one
    assert before.calendar_estimated_years == [now_year + 1, now_year + 2]
    response = next(c for c in before.clocks if c.kind is ClockKind.RESPONSE)
    assert response.deadline is not None

    # the State Council declares the deadline's day a day off, and the next year published
    policy_calendar = await _pinned_calendar(handle)
    assert before.calendar == policy_calendar
    day = response.deadline.astimezone(CST).date()
    newer = policy_calendar.model_copy(
        update={
            "version": f"published-{uuid.uuid4().hex[:8]}",
            "holidays": sorted({*policy_calendar.holidays, day}),
            "estimated_years": [now_year + 2],
        }
    )
    ids = [workflow_id(req.request_id)]
    refused = await publish_calendar(stack.client, newer, Actor(id="cw", role=Role.CASEWORKER), ids)
    assert refused.updated == [] and "may not publish a calendar" in refused.refused[ids[0]]
    short = newer.model_copy(update={"first_year": now_year + 1})
    refused = await publish_calendar(stack.client, short, ADMIN, ids)
    assert "calendar: covers" in refused.refused[ids[0]]

    report = await publish_calendar(stack.client, newer, ADMIN, ids)
    assert report.updated == ids and report.refused == {}
    again = await publish_calendar(stack.client, newer, ADMIN, ids)  # a retry: answered
    assert again.updated == ids

    after = await handle.query(ServiceRequestWorkflow.view)
    assert after.calendar_version == newer.version
    assert after.calendar == newer  # the view carries it: the console counts down on it
    assert after.calendar_estimated_years == [now_year + 2]
    moved = next(c for c in after.clocks if c.kind is ClockKind.RESPONSE)
    assert moved.deadline is not None and moved.deadline.astimezone(CST).date() > day
    assert moved.consumed_seconds >= 0 and moved.target_seconds == response.target_seconds

    def recorded() -> list[tuple[str, str]]:
        with Session(stack.engine) as session:
            return [
                (t.actor_id, t.details["to_version"])
                for t in repository.transitions(session, req.request_id)
                if t.event_type.value == "calendar_updated"
            ]

    rows = await eventually(recorded, what="calendar_updated in the audit trail")
    assert rows == [("ops-li", newer.version)]  # once, though published twice


async def test_a_request_without_an_answer_in_time_is_pending_and_takes_it_later(stack) -> None:
    """Kafka hangs (its broker stopped with SIGSTOP): the request's records wait to be
    published, so its answer does too; publishing reports it pending instead of hanging, and
    publishing again once Kafka is back applies the version once."""
    req = make_request()
    handle = await start_request(stack, req)
    newer = (await _pinned_calendar(handle)).model_copy(
        update={"version": f"published-{uuid.uuid4().hex[:8]}"}
    )
    ids = [workflow_id(req.request_id)]
    with frozen(stack.kafka.pid()):
        waiting = await publish_calendar(stack.client, newer, ADMIN, ids, wait=timedelta(seconds=2))
    assert waiting.pending == ids and waiting.updated == [] and waiting.refused == {}

    async def taken() -> bool:
        report = await publish_calendar(stack.client, newer, ADMIN, ids, wait=timedelta(seconds=5))
        return report.updated == ids

    await eventually(taken, timeout=60, what="the calendar taken once Kafka is back")

    def recorded() -> int:
        with Session(stack.engine) as session:
            return sum(
                1
                for t in repository.transitions(session, req.request_id)
                if t.event_type.value == "calendar_updated"
            )

    assert await eventually(recorded, what="calendar_updated in the audit trail") == 1


async def _pinned_calendar(handle: WorkflowHandle) -> CalendarData:
    """The calendar the request pinned: rebuilt for the years its version names."""
    view = await handle.query(ServiceRequestWorkflow.view)
    assert view.calendar_version is not None
    first, last = (int(y) for y in view.calendar_version.rsplit("-", 2)[-2:])
    return build_calendar(first, last)
