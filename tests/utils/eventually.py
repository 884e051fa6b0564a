"""The one way tests wait for something: poll a probe until it holds, or fail naming it.

Tests never sleep for a fixed time to let something happen; they poll a probe that says
whether it has happened, with a timeout that is only a safety net.

``detail`` (optional) is called once on timeout and its result appended to the failure, so
the message can show the last state seen. ``ignoring`` lists exception types that mean "not
yet" (a database that is briefly locked, a process that is restarting); any other exception
from the probe fails at once. ``interval`` is the first pause between probes; pauses double
up to ``max_interval``. A probe that blocks by itself (a Kafka ``poll``) can pass
``interval=0`` to run back to back; a probe whose progress must not be overshot (a test that
acts at a milestone) keeps ``max_interval`` short.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

POLL_SECONDS = 0.05
MAX_POLL_SECONDS = 0.5


class NotReached(AssertionError):
    """The probe did not hold within the timeout (an assertion the probe raised passes as is)."""


class _Poll:
    """The shared bookkeeping of both forms: deadline, pause, failure message."""

    def __init__(
        self,
        timeout: float,
        what: str,
        detail: Callable[[], Any] | None,
        ignoring: tuple[type[Exception], ...],
        interval: float,
        max_interval: float,
    ) -> None:
        self.timeout, self.what, self.detail, self.ignoring = timeout, what, detail, ignoring
        self.deadline = time.monotonic() + timeout
        self.delay = min(interval, max_interval)
        self.max_interval = max_interval
        self.error: Exception | None = None

    def pause(self) -> float:
        """Return the next pause, or raise NotReached when time is up."""
        if time.monotonic() > self.deadline:
            message = f"{self.what} not reached within {self.timeout} s"
            if self.detail is not None:
                message += f"; last seen: {self.detail()}"
            if self.error is not None:
                message += f"; last error: {self.error!r}"
            raise NotReached(message)
        delay, self.delay = self.delay, min(self.max_interval, self.delay * 2)
        return delay


async def eventually(
    probe: Callable[[], Any | Awaitable[Any]],
    timeout: float = 30.0,
    what: str = "condition",
    *,
    detail: Callable[[], Any] | None = None,
    ignoring: tuple[type[Exception], ...] = (),
    interval: float = POLL_SECONDS,
    max_interval: float = MAX_POLL_SECONDS,
) -> Any:
    """Poll ``probe`` (sync or async) until it returns a truthy value; return that value."""
    poll = _Poll(timeout, what, detail, ignoring, interval, max_interval)
    while True:
        try:
            value = probe()
            if asyncio.iscoroutine(value):
                value = await value
        except ignoring as exc:
            poll.error, value = exc, None
        if value:
            return value
        await asyncio.sleep(poll.pause())


def eventually_sync(
    probe: Callable[[], Any],
    timeout: float = 30.0,
    what: str = "condition",
    *,
    detail: Callable[[], Any] | None = None,
    ignoring: tuple[type[Exception], ...] = (),
    interval: float = POLL_SECONDS,
    max_interval: float = MAX_POLL_SECONDS,
) -> Any:
    """Blocking form of :func:`eventually`, for tests and fixtures without an event loop."""
    poll = _Poll(timeout, what, detail, ignoring, interval, max_interval)
    while True:
        try:
            value = probe()
        except ignoring as exc:
            poll.error, value = exc, None
        if value:
            return value
        time.sleep(poll.pause())
