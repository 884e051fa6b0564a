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
from typing import Any, TypedDict, Unpack

POLL_SECONDS = 0.05
MAX_POLL_SECONDS = 0.5


class NotReached(AssertionError):
    """The probe did not hold within the timeout (an assertion the probe raised passes as is)."""


class PollOptions(TypedDict, total=False):
    """The keyword options of both forms (see the module docstring)."""

    detail: Callable[[], Any] | None
    ignoring: tuple[type[Exception], ...]
    interval: float
    max_interval: float


class _Poll:
    """The shared bookkeeping of both forms: deadline, pause, ignored errors, failure message."""

    def __init__(
        self,
        timeout: float,
        what: str,
        *,
        detail: Callable[[], Any] | None = None,
        ignoring: tuple[type[Exception], ...] = (),
        interval: float = POLL_SECONDS,
        max_interval: float = MAX_POLL_SECONDS,
    ) -> None:
        self.timeout, self.what, self.detail, self.ignoring = timeout, what, detail, ignoring
        self.deadline = time.monotonic() + timeout
        self.delay = min(interval, max_interval)
        self.max_interval = max_interval
        self.error: Exception | None = None

    def attempt(self, probe: Callable[[], Any]) -> Any:
        """Return what ``probe`` returns, or None after an error it was told to ignore."""
        try:
            return probe()
        except self.ignoring as exc:
            self.error = exc
            return None

    async def attempt_async(self, probe: Callable[[], Any | Awaitable[Any]]) -> Any:
        """:meth:`attempt` for a probe that may return an awaitable."""
        try:
            value = probe()
            return await value if asyncio.iscoroutine(value) else value
        except self.ignoring as exc:
            self.error = exc
            return None

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
    **options: Unpack[PollOptions],
) -> Any:
    """Poll ``probe`` (sync or async) until it returns a truthy value; return that value."""
    poll = _Poll(timeout, what, **options)
    while not (value := await poll.attempt_async(probe)):
        await asyncio.sleep(poll.pause())
    return value


def eventually_sync(
    probe: Callable[[], Any],
    timeout: float = 30.0,
    what: str = "condition",
    **options: Unpack[PollOptions],
) -> Any:
    """Blocking form of :func:`eventually`, for tests and fixtures without an event loop."""
    poll = _Poll(timeout, what, **options)
    while not (value := poll.attempt(probe)):
        time.sleep(poll.pause())
    return value
