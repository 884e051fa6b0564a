"""Sending an Update waits out a busy (continuing-as-new) workflow, for a bounded time only.

The real refusal is exercised on the stack by tests/integration/test_bounded_state.py (1,000
comments across continue-as-new); here the pauses are recorded instead of slept.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from temporalio.service import RPCError, RPCStatusCode

from tierflow.updates import LONGEST_PAUSE, is_busy, patiently

CLOSING = "workflow operation can not be applied because workflow is closing"


def refusal(status: RPCStatusCode = RPCStatusCode.RESOURCE_EXHAUSTED) -> RPCError:
    return RPCError(CLOSING, status, b"")


class Server:
    """Refuses the first ``busy`` calls as a closing workflow does, then answers."""

    def __init__(self, busy: int, status: RPCStatusCode = RPCStatusCode.RESOURCE_EXHAUSTED):
        self.busy, self.status, self.calls = busy, status, 0

    async def call(self) -> str:
        self.calls += 1
        if self.calls <= self.busy:
            raise refusal(self.status)
        return "applied"


async def test_a_busy_workflow_is_asked_again_with_growing_pauses() -> None:
    server, pauses = Server(busy=6), []

    async def pause(seconds: float) -> None:
        pauses.append(seconds)

    assert await patiently(server.call, timedelta(minutes=1), pause) == "applied"
    assert server.calls == 7
    assert pauses == [0.1, 0.2, 0.4, 0.8, 1.6, LONGEST_PAUSE]


async def test_other_refusals_are_raised_at_once() -> None:
    server, pauses = Server(busy=1, status=RPCStatusCode.INVALID_ARGUMENT), []

    async def pause(seconds: float) -> None:
        pauses.append(seconds)

    with pytest.raises(RPCError) as caught:
        await patiently(server.call, timedelta(minutes=1), pause)
    assert caught.value.status is RPCStatusCode.INVALID_ARGUMENT
    assert server.calls == 1 and pauses == []


async def test_patience_runs_out_and_the_last_refusal_is_raised() -> None:
    server = Server(busy=10**6)

    async def pause(seconds: float) -> None:
        pass

    with pytest.raises(RPCError) as caught:
        await patiently(server.call, timedelta(0), pause)
    assert is_busy(caught.value) and server.calls == 1
