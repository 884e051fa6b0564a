"""The one way tests wait for something: poll a probe until it holds, or fail naming it.

Tests never sleep for a fixed time to let something happen; they poll a probe that says
whether it has happened, with a timeout that is only a safety net.

``detail`` (optional) is called once on timeout and its result appended to the failure, so
the message can show the last state seen. ``interval`` is the first pause between probes;
pauses double up to ``max_interval``. A probe that blocks by itself (a Kafka ``poll``) can
pass ``interval=0`` to run back to back; a probe whose progress must not be overshot (a
test that acts at a milestone) keeps ``max_interval`` short.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

POLL_SECONDS = 0.05
MAX_POLL_SECONDS = 0.5


class NotReached(AssertionError):
    """The probe did not hold within the timeout (an assertion the probe raised passes as is)."""


def _failure(what: str, timeout: float, detail: Callable[[], Any] | None) -> NotReached:
    message = f"{what} not reached within {timeout} s"
    if detail is not None:
        message += f"; last seen: {detail()}"
    return NotReached(message)


async def eventually(
    probe: Callable[[], Any],
    timeout: float = 30.0,
    what: str = "condition",
    *,
    detail: Callable[[], Any] | None = None,
    interval: float = POLL_SECONDS,
    max_interval: float = MAX_POLL_SECONDS,
) -> Any:
    """Poll ``probe`` (sync or async) until it returns a truthy value; return that value."""
    deadline = time.monotonic() + timeout
    delay = min(interval, max_interval)
    while True:
        value = probe()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise _failure(what, timeout, detail)
        await asyncio.sleep(delay)
        delay = min(max_interval, delay * 2)


def eventually_sync(
    probe: Callable[[], Any],
    timeout: float = 30.0,
    what: str = "condition",
    *,
    detail: Callable[[], Any] | None = None,
    interval: float = POLL_SECONDS,
    max_interval: float = MAX_POLL_SECONDS,
) -> Any:
    """Blocking form of :func:`eventually`, for tests and fixtures without an event loop."""
    deadline = time.monotonic() + timeout
    delay = min(interval, max_interval)
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise _failure(what, timeout, detail)
        time.sleep(delay)
        delay = min(max_interval, delay * 2)
