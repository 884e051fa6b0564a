"""Bounded waits for a process's dependencies at start (tenacity).

A process that starts before Temporal or Kafka is up should wait, saying what it waits for,
and give up with a clear error after a while rather than crash at once or hang forever.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    RetryError,
    Retrying,
    stop_after_delay,
    wait_fixed,
)

log = logging.getLogger("tierflow")
STARTUP_WAIT_SECONDS = 120.0
RETRY_INTERVAL_SECONDS = 2.0

T = TypeVar("T")


class DependencyUnavailable(RuntimeError):
    """A dependency stayed unreachable for the whole startup wait."""


def _policy(what: str, wait: float) -> dict[str, Any]:
    """Return tenacity arguments: retry any error every 2 s for ``wait`` s, logging each wait."""

    def say(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        log.warning("waiting for %s: %s", what, error)

    return {
        "stop": stop_after_delay(wait),
        "wait": wait_fixed(RETRY_INTERVAL_SECONDS),
        "before_sleep": say,
    }


def _gave_up(what: str, wait: float, error: RetryError) -> DependencyUnavailable:
    last = error.last_attempt.exception()
    return DependencyUnavailable(f"{what} not reachable after {wait:.0f} s: {last}")


async def wait_for_async(what: str, wait: float, attempt: Callable[[], Awaitable[T]]) -> T:
    """Return ``await attempt()``, retried while it fails for up to ``wait`` seconds."""
    try:
        return await AsyncRetrying(**_policy(what, wait))(attempt)
    except RetryError as exc:
        raise _gave_up(what, wait, exc) from exc.last_attempt.exception()


def wait_for(what: str, wait: float, attempt: Callable[[], T]) -> T:
    """Return ``attempt()``, retried while it fails for up to ``wait`` seconds (blocking)."""
    try:
        return Retrying(**_policy(what, wait))(attempt)
    except RetryError as exc:
        raise _gave_up(what, wait, exc) from exc.last_attempt.exception()
