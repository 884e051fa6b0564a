"""A rating after the automatic close, within the policy's rating window (time-skipping server).

The workflow stays open in state ``closed`` until the enterprise rates or the window ends;
policies pinned without a window (``rating_window_seconds`` 0) end at the close as before.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from temporalio.client import WorkflowExecutionStatus, WorkflowUpdateFailedError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from schemas.domain import State
from schemas.lifecycle import ActionKind
from tests.utils.factories import ENTERPRISE, HOUR, action, caseworker, make_request
from tests.workflows.harness import StandIns
from tests.workflows.test_lifecycle import act, sleep_until, submit, view, wait_for_state
from workflows.business_time import business_seconds_between

WINDOW = 15 * 7 * HOUR  # 15 business days of 7 hours


async def _resolved(env: WorkflowEnvironment, queue: str, stand_ins: StandIns, window: int):
    """Submit under a policy with this rating window, acknowledge and resolve."""
    stand_ins.policy = stand_ins.policy.model_copy(update={"rating_window_seconds": window})
    req = make_request()
    handle = await submit(env, queue, req)
    cw = caseworker((await view(handle)).summary.institution_id or "")
    await act(handle, action(ActionKind.ACKNOWLEDGE, cw))
    await act(handle, action(ActionKind.RESOLVE, cw, text="matched with a bank"))
    return req, handle


async def _closed(env: WorkflowEnvironment, queue: str, stand_ins: StandIns):
    """Resolve and let the reopen window pass; return the handle once closed."""
    req, handle = await _resolved(env, queue, stand_ins, WINDOW)
    close_due = (await view(handle)).close_due_at
    assert close_due is not None
    await sleep_until(env, close_due)
    closed = await wait_for_state(handle, {State.CLOSED})
    return req, handle, closed


async def test_a_rating_is_taken_after_the_automatic_close(ts_worker, stand_ins) -> None:
    env, queue = ts_worker
    req, handle, closed = await _closed(env, queue, stand_ins)
    assert closed.rating_due_at is not None
    assert ActionKind.RATE in closed.allowed_actions
    cal = stand_ins.policy.calendar
    assert business_seconds_between(closed.summary.closed_at, closed.rating_due_at, cal) == WINDOW
    assert (await handle.describe()).status is WorkflowExecutionStatus.RUNNING

    closed_at = closed.summary.closed_at
    assert closed_at is not None
    await sleep_until(env, closed_at + (closed.rating_due_at - closed_at) / 2)  # mid-window
    rated = await act(handle, action(ActionKind.RATE, ENTERPRISE, rating=4))
    assert rated.state is State.CLOSED

    summary = await handle.result()  # rated: the workflow ends without waiting for the window
    assert summary.state is State.CLOSED and summary.closed_at == closed_at  # still the close
    assert stand_ins.events(req.request_id)[-2:] == ["closed", "rated"]
    [record] = stand_ins.of_type(req.request_id, "rated")
    assert record.details["rating"] == 4 and record.to_state is State.CLOSED


async def test_the_window_ends_and_the_workflow_completes(ts_worker, stand_ins) -> None:
    env, queue = ts_worker
    req, handle, closed = await _closed(env, queue, stand_ins)
    summary = await handle.result()  # time skips to the end of the rating window
    assert summary.state is State.CLOSED and summary.closed_at == closed.summary.closed_at
    assert await env.get_current_time() >= closed.rating_due_at
    assert stand_ins.events(req.request_id)[-1] == "closed"
    final = await view(handle)  # a completed workflow still answers, without the rate action
    assert ActionKind.RATE not in final.allowed_actions
    with pytest.raises((WorkflowUpdateFailedError, RPCError)):  # the workflow has ended
        await act(handle, action(ActionKind.RATE, ENTERPRISE, rating=5))


async def test_rated_before_the_close_ends_at_the_close(ts_worker, stand_ins) -> None:
    env, queue = ts_worker
    _, handle = await _resolved(env, queue, stand_ins, WINDOW)
    await act(handle, action(ActionKind.RATE, ENTERPRISE, rating=5))
    close_due = (await view(handle)).close_due_at
    summary = await handle.result()
    assert summary.state is State.CLOSED and close_due and summary.closed_at
    assert abs(summary.closed_at - close_due) < timedelta(seconds=1)
    assert (await view(handle)).rating_due_at is None


async def test_without_a_window_the_workflow_ends_at_the_close(ts_worker, stand_ins) -> None:
    """Policies pinned before the rating window existed: no rating after the close."""
    env, queue = ts_worker
    assert stand_ins.policy.rating_window_seconds == 0
    _, handle = await _resolved(env, queue, stand_ins, 0)
    close_due = (await view(handle)).close_due_at
    summary = await handle.result()
    assert close_due and summary.closed_at
    assert abs(summary.closed_at - close_due) < timedelta(seconds=1)
    assert ActionKind.RATE not in (await view(handle)).allowed_actions
