"""An operator's newer calendar reaches a running request by its ``publish_calendar`` update.

Dev server, stand-in activities, a round-the-clock calendar. The request's resolution clock
runs for one day; the published calendar makes that day a day off, so the deadline moves a day
on; the step is recorded once as ``calendar_updated`` (publishing again is answered, not
recorded again); the request then resolves and closes. The history replays, and with
TIERFLOW_RECORD_HISTORIES=1 it is kept for the replay suite (calendar-published-<run>.json).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone

import pytest
import pytest_asyncio
from temporalio.client import Client, WorkflowUpdateFailedError

from schemas.domain import ClockKind, Role, State, Tier
from schemas.lifecycle import OWN_CALENDAR, ActionKind, CalendarUpdate, RequestView, SuspendReason
from schemas.request import Actor
from tests.utils.factories import ALWAYS_OPEN, action, caseworker, make_policy, supervisor
from tests.workflows.dev_server import SECOND, replay_and_maybe_record, running, started
from tests.workflows.harness import StandIns
from tierflow.calendar_publish import publish_calendar
from workflows.service_request import ServiceRequestWorkflow

ADMIN = Actor(id="ops-li", role=Role.ADMIN)
CST = timezone(timedelta(hours=8))  # the calendar's utc_offset_minutes


@pytest_asyncio.fixture
async def day_long_worker(
    temporal_client: Client, task_queue: str
) -> AsyncIterator[tuple[Client, str, StandIns]]:
    """Response 10 minutes, resolution one day, reopen window 2 s, round the clock."""
    policy = make_policy(600 * SECOND, 24, 2 * SECOND, ALWAYS_OPEN)
    async with running(temporal_client, task_queue, policy) as worker:
        yield worker


def resolution_deadline(view: RequestView) -> datetime:
    clock = next(c for c in view.clocks if c.kind is ClockKind.RESOLUTION)
    assert clock.deadline is not None
    return clock.deadline


async def test_a_published_calendar_moves_the_deadline_is_recorded_and_replays(
    day_long_worker,
) -> None:
    client, queue, stand_ins = day_long_worker
    handle, view = await started(client, queue)
    request_id = view.summary.request_id
    cw = caseworker(view.summary.institution_id or "")
    ack = action(ActionKind.ACKNOWLEDGE, cw)
    await handle.execute_update(ServiceRequestWorkflow.act, ack, id=ack.action_id)
    before: RequestView = await handle.query(ServiceRequestWorkflow.view)
    due = resolution_deadline(before)
    day_off = due.astimezone(CST).date()  # one day from now: the State Council declares it off
    newer = ALWAYS_OPEN.model_copy(
        update={"version": "always-open-2", "holidays": [day_off], "estimated_years": [2030]}
    )

    with pytest.raises(WorkflowUpdateFailedError) as refused:  # only an admin publishes
        await handle.execute_update(
            ServiceRequestWorkflow.publish_calendar, CalendarUpdate(calendar=newer, actor=cw)
        )
    assert refused.value.cause.type == "Forbidden"
    # a calendar of other working days is not this request's: it keeps its own (the same
    # holds for a policy's plain calendar, which observes no public holidays)
    six_days = newer.model_copy(update={"version": "cn-x", "weekend_days": [6]})
    with pytest.raises(WorkflowUpdateFailedError) as kept:
        await handle.execute_update(
            ServiceRequestWorkflow.publish_calendar,
            CalendarUpdate(calendar=six_days, actor=ADMIN),
        )
    assert kept.value.cause.type == OWN_CALENDAR
    assert "keeps its own calendar always-open" in kept.value.cause.message
    report = await publish_calendar(client, six_days, ADMIN, [handle.id])
    assert (report.kept, report.updated, report.refused) == ([handle.id], [], {})
    update = CalendarUpdate(calendar=newer, actor=ADMIN)
    for _ in range(2):  # the second publication is answered, not recorded again
        version = await handle.execute_update(
            ServiceRequestWorkflow.publish_calendar, update, id=f"calendar-{newer.version}"
        )
        assert version == newer.version

    after: RequestView = await handle.query(ServiceRequestWorkflow.view)
    assert after.calendar_version == newer.version and after.calendar_estimated_years == [2030]
    assert resolution_deadline(after) - due >= timedelta(days=1) - timedelta(seconds=5)
    recorded = stand_ins.of_type(request_id, "calendar_updated")
    assert [(r.actor.id, r.details["to_version"]) for r in recorded] == [("ops-li", newer.version)]

    resolve = action(ActionKind.RESOLVE, cw, text="已办结")
    await handle.execute_update(ServiceRequestWorkflow.act, resolve, id=resolve.action_id)
    assert (await handle.result()).state is State.CLOSED  # the 2 s reopen window, today
    await replay_and_maybe_record(client, handle, "calendar-published")


async def test_a_published_calendar_moves_the_requests_other_deadlines_too(
    day_long_worker,
) -> None:
    """A suspension of 3 working days and a supervision's reply deadline of 3, both taken
    before the State Council declared the second of those days off: each keeps the business
    time it had left, counted on the published calendar, as the clocks do. One already past
    stays where it was."""
    client, queue, _ = day_long_worker
    handle, view = await started(client, queue)
    division = view.summary.division_code
    cw = caseworker(view.summary.institution_id or "")
    for step in (
        action(ActionKind.ACKNOWLEDGE, cw),
        action(ActionKind.SUPERVISE, supervisor(Tier.MUNICIPAL, division), text="请说明", days=3),
        action(
            ActionKind.SUSPEND,
            cw,
            text="等待鉴定",
            suspend_reason=SuspendReason.LEGAL_PROCEDURE,
            days=3,
        ),
        action(ActionKind.APPROVE_SUSPENSION, supervisor(Tier.MUNICIPAL, division)),
    ):
        await handle.execute_update(ServiceRequestWorkflow.act, step, id=step.action_id)
    before: RequestView = await handle.query(ServiceRequestWorkflow.view)
    assert before.suspended_until is not None
    (asked,) = before.supervisions
    day_off = (asked.opened_at + timedelta(days=1, hours=12)).astimezone(CST).date()
    newer = ALWAYS_OPEN.model_copy(update={"version": "always-open-3", "holidays": [day_off]})
    await handle.execute_update(
        ServiceRequestWorkflow.publish_calendar, CalendarUpdate(calendar=newer, actor=ADMIN)
    )
    after: RequestView = await handle.query(ServiceRequestWorkflow.view)
    (moved,) = after.supervisions
    second = timedelta(seconds=1)  # business time is counted in whole seconds
    assert abs(after.suspended_until - (before.suspended_until + timedelta(days=1))) < second
    assert abs(moved.reply_due_at - (asked.reply_due_at + timedelta(days=1))) < second
    assert moved.opened_at == asked.opened_at  # what has happened does not move
    await handle.terminate("test over")
    await replay_and_maybe_record(client, handle, "calendar-moves-deadlines")


async def test_a_policy_of_other_working_hours_takes_the_published_days_off(
    day_long_worker,
) -> None:
    """The State Council's days off hold whatever hours a province's desks keep: a request
    whose policy counts round-the-clock hours takes a published calendar of office hours'
    days off and keeps its own hours."""
    client, queue, _ = day_long_worker
    handle, view = await started(client, queue)
    cw = caseworker(view.summary.institution_id or "")
    ack = action(ActionKind.ACKNOWLEDGE, cw)
    await handle.execute_update(ServiceRequestWorkflow.act, ack, id=ack.action_id)
    before: RequestView = await handle.query(ServiceRequestWorkflow.view)
    due = resolution_deadline(before)
    office_hours = ALWAYS_OPEN.model_copy(
        update={
            "version": "cn-published",
            "working_periods": [("09:00", "12:00"), ("13:30", "17:30")],
            "holidays": [due.astimezone(CST).date()],
        }
    )
    version = await handle.execute_update(
        ServiceRequestWorkflow.publish_calendar, CalendarUpdate(calendar=office_hours, actor=ADMIN)
    )
    assert version == "cn-published"
    after: RequestView = await handle.query(ServiceRequestWorkflow.view)
    assert after.calendar is not None
    assert after.calendar.working_periods == ALWAYS_OPEN.working_periods  # its own hours
    assert after.calendar.holidays == office_hours.holidays  # the published days off
    assert resolution_deadline(after) - due >= timedelta(days=1) - timedelta(seconds=5)
    await handle.terminate("test over")
    await replay_and_maybe_record(client, handle, "calendar-own-hours")
