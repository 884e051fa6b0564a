"""A ``ServiceRequestV3`` run keeps a timer that an earlier deadline overtook.

A resolve brings the next deadline forward to the end of the reopen window. The timer of the
deadline it overtook is kept: when the run ends first it never fires and costs nothing, where
cancelling it cost a history event. A kept timer that would fire before the run's next wait
ends is cancelled then, so it never wakes the run for nothing. ``ServiceRequestV2`` runs cancel
at once, as their recorded histories do (tests/workflows/test_replay.py).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowHandle

from schemas.domain import State
from schemas.lifecycle import ActionKind
from schemas.policy import CalendarData
from tests.utils.factories import (
    ALWAYS_OPEN,
    HOUR,
    action,
    caseworker,
    make_policy,
    make_request,
    system_client,
)
from tests.workflows.harness import StandIns, replay_and_keep
from tests.workflows.test_lifecycle import act, submit, view
from tierflow.grades import SHANGHAI

ACCEPTED = EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
# a resolve under a 30-minute reopen window: its update, the window's timer, fired, the close
RESOLVED_THEN_CLOSED = ["update", "started", "fired", "completed"]


async def timer_events(handle: WorkflowHandle) -> list[str]:
    """The run's update acceptances and timer events, in order, as short names."""
    history = await handle.fetch_history()
    names = {
        ACCEPTED: "update",
        EventType.EVENT_TYPE_TIMER_STARTED: "started",
        EventType.EVENT_TYPE_TIMER_CANCELED: "canceled",
        EventType.EVENT_TYPE_TIMER_FIRED: "fired",
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED: "completed",
    }
    return [names[e.event_type] for e in history.events if e.event_type in names]


async def keep(handle: WorkflowHandle, name: str) -> None:
    """Replay the run; with TIERFLOW_RECORD_HISTORIES=1 keep it for the replay suite."""
    history = await handle.fetch_history()
    first: HistoryEvent = history.events[0]
    run_id = first.workflow_execution_started_event_attributes.original_execution_run_id
    await replay_and_keep(history, name, run_id)


async def resolved_early(
    ts_worker, stand_ins: StandIns, calendar: CalendarData | None = None, **policy: int
) -> WorkflowHandle:
    """Submit, acknowledge and resolve at once under a 30-minute reopen window.

    The clocks run round the clock: under working hours a run started in a break (the session's
    clock may stand at any hour) counts every clock from the same period start, and a reopen's
    deadline then lands on the kept one, a different (cheaper) path than the one these pin.
    """
    stand_ins.policy = make_policy(4, 16, 0.5, calendar=calendar or ALWAYS_OPEN).model_copy(
        update=policy
    )
    env, queue = ts_worker
    handle = await submit(env, queue, make_request())
    cw = caseworker((await view(handle)).summary.institution_id)
    await act(handle, action(ActionKind.ACKNOWLEDGE, cw))
    await act(handle, action(ActionKind.RESOLVE, cw, text="已办结"))
    return handle


async def reopened_and_resolved(handle: WorkflowHandle) -> list[str]:
    """Reopen the resolved request, resolve it again; the timer events from the reopen on."""
    cw = caseworker((await view(handle)).summary.institution_id)
    await act(handle, action(ActionKind.REOPEN, system_client("crm", "reopen"), text="银行撤回"))
    await act(handle, action(ActionKind.RESOLVE, cw, text="已换一家银行办结"))
    assert (await handle.result()).state is State.CLOSED
    events = await timer_events(handle)
    return events[[i for i, name in enumerate(events) if name == "update"][2] :]


async def test_a_resolve_keeps_the_timer_the_run_outlives_it(ts_worker, stand_ins) -> None:
    handle = await resolved_early(ts_worker, stand_ins)
    assert (await handle.result()).state is State.CLOSED
    # routed: the response clock's timer; the acknowledge moves the deadline later (cancel);
    # the resolve's reopen window ends before the kept warning: only a new timer, which fires
    acknowledged = ["started", "update", "canceled", "started"]
    assert await timer_events(handle) == [*acknowledged, *RESOLVED_THEN_CLOSED]
    await keep(handle, "kept-timer-close")


async def test_a_kept_timer_inside_the_rating_window_is_canceled_at_its_start(
    ts_worker, stand_ins
) -> None:
    """The kept warning (8 h) falls inside the 24 h rating window: cancelled, never fired."""
    handle = await resolved_early(ts_worker, stand_ins, rating_window_seconds=24 * HOUR)
    assert (await handle.result()).state is State.CLOSED
    events = await timer_events(handle)
    after_resolve = events[events.index("update", events.index("update") + 1) + 1 :]
    # the reopen window's timer fires and closes; the rating window waits on its own timer to
    # the window's end and cancels the kept one (its task sends the cancel a tick later)
    assert after_resolve == ["started", "fired", "started", "canceled", "fired", "completed"]
    await keep(handle, "kept-timer-rating-window")


async def test_a_reopen_cancels_the_kept_timer_it_would_be_woken_by(ts_worker, stand_ins) -> None:
    """Reopened, the request's next deadline lies past the kept warning: both timers go."""
    handle = await resolved_early(ts_worker, stand_ins)
    events = await reopened_and_resolved(handle)
    # the same four timer events as a V2 run's resolve and reopen, never a timer fired for nothing
    assert events == ["update", "canceled", "canceled", "started", *RESOLVED_THEN_CLOSED]
    await keep(handle, "kept-timer-reopen")


async def test_a_reopen_before_the_clocks_count_takes_over_the_kept_timer(
    ts_worker, stand_ins
) -> None:
    """Submitted on a day off, every clock counts from the next working morning: the reopen's
    fresh clock warns at the kept timer's instant, so that timer serves it as it is."""
    env, _ = ts_worker
    today = (await env.get_current_time()).astimezone(SHANGHAI).date()  # the session's day
    days_off = CalendarData(
        version="days-off-now",
        holidays=[today, today + timedelta(days=1)],
        first_year=2025,
        last_year=2030,
    )
    handle = await resolved_early(ts_worker, stand_ins, calendar=days_off)
    events = await reopened_and_resolved(handle)
    # the reopen cancels only the window's timer; the kept one, never started again, never fires
    assert events == ["update", "canceled", *RESOLVED_THEN_CLOSED]
