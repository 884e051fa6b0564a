"""The one way tests wait for something: poll a probe until it holds, or fail naming it.

Tests never sleep for a fixed time to let something happen; they poll a probe that says
whether it has happened, with a timeout that is only a safety net.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

POLL_SECONDS = 0.05


async def eventually(
    probe: Callable[[], Any], timeout: float = 30.0, what: str = "condition"
) -> Any:
    """Poll ``probe`` (sync or async) until it returns a truthy value; return that value."""
    deadline = time.monotonic() + timeout
    delay = POLL_SECONDS
    while True:
        value = probe()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout} s")
        await asyncio.sleep(delay)
        delay = min(0.5, delay * 2)


def eventually_sync(
    probe: Callable[[], Any], timeout: float = 30.0, what: str = "condition"
) -> Any:
    """Blocking form of :func:`eventually`, for tests and fixtures without an event loop."""
    deadline = time.monotonic() + timeout
    delay = POLL_SECONDS
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout} s")
        time.sleep(delay)
        delay = min(0.5, delay * 2)
