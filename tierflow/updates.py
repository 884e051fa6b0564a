"""Send an Update to a request's workflow, riding out its continue-as-new.

While a run hands over to its next run, the server refuses new Updates with a retryable
"workflow is closing" (RESOURCE_EXHAUSTED, busy workflow); a later attempt lands on the new
run. temporalio retries it within its client's budget, which a busy host can outlast (a run
whose continue-as-new keeps meeting newly arrived Updates stays closing for a while), so the
caller keeps trying for a bounded time. Every attempt carries the same update id: the server
applies it once.

An Update answers only once the workflow has done the work it stands for (a request's action:
its records written and published), so during an outage it may not answer at all; callers
give it ``wait`` and get ``NoAnswer`` after that. Sending it again with the same id later
brings its one result.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

from temporalio.client import WorkflowHandle, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.service import RPCError, RPCStatusCode

T = TypeVar("T")

PATIENCE = timedelta(seconds=60)
FIRST_PAUSE = 0.1  # seconds; doubled after each refusal up to LONGEST_PAUSE
LONGEST_PAUSE = 2.0


class NoAnswer(Exception):
    """The Update gave no answer within the caller's wait; it may still apply."""


def is_busy(exc: BaseException) -> bool:
    """Whether the server refused because the workflow is busy (e.g. closing to continue)."""
    return isinstance(exc, RPCError) and exc.status is RPCStatusCode.RESOURCE_EXHAUSTED


async def patiently(
    call: Callable[[], Awaitable[T]],
    patience: timedelta = PATIENCE,
    pause: Callable[[float], Awaitable[Any]] = asyncio.sleep,
) -> T:
    """Await ``call()`` again while the server answers "busy", for at most ``patience``.

    The last refusal is raised when patience runs out; any other error at once.
    """
    loop = asyncio.get_running_loop()
    give_up = loop.time() + patience.total_seconds()
    wait = FIRST_PAUSE
    while True:
        try:
            return await call()
        except RPCError as exc:
            if not is_busy(exc) or loop.time() + wait > give_up:
                raise
        await pause(wait)
        wait = min(wait * 2, LONGEST_PAUSE)


async def execute_update(
    handle: WorkflowHandle[Any, Any],
    update: Any,
    arg: Any,
    *,
    id: str,
    result_type: type[T],
    wait: timedelta | None = None,
    patience: timedelta = PATIENCE,
) -> T:
    """``handle.execute_update`` that waits out a continue-as-new (see the module doc), and
    raises ``NoAnswer`` once ``wait`` (None: no limit) has passed without an answer."""

    async def attempt() -> T:
        result: T = await handle.execute_update(update, arg, id=id, result_type=result_type)
        return result

    try:
        async with asyncio.timeout(wait.total_seconds() if wait is not None else None):
            return await patiently(attempt, patience)
    except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
        # the SDK turns the timeout's cancellation into its own error
        raise NoAnswer(f"no answer within {wait}") from None
