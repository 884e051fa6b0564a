"""The ingress bench stops waiting as soon as the consumer it measures has died."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest

from tierflow_dev.bench.ingress import ConsumerStopped, _wait_count


def _counting(value: int, waiting: asyncio.Event) -> Callable[[], int]:
    """A count probe that tells the consumer the wait is under way."""

    def probe() -> int:
        waiting.set()
        return value

    return probe


async def _crash(waiting: asyncio.Event) -> None:
    await waiting.wait()  # dies once the wait is under way, not before it began
    raise ValueError("commit refused")


async def _finish(waiting: asyncio.Event) -> None:
    await waiting.wait()


async def _wait_beside(consumer: Callable[[asyncio.Event], Awaitable[None]], count: int) -> int:
    """Wait for 5 with a probe stuck at ``count``, beside ``consumer`` (told once it began)."""
    waiting = asyncio.Event()
    task = asyncio.create_task(consumer(waiting))
    return await _wait_count(_counting(count, waiting), 5, stall=60, what="started", consumer=task)


def test_a_crashed_consumer_fails_the_wait_with_its_own_error() -> None:
    began = time.monotonic()
    with pytest.raises(ValueError, match="commit refused"):
        asyncio.run(_wait_beside(_crash, 0))
    assert time.monotonic() - began < 5  # not the 60 s stall


def test_a_consumer_that_ends_early_is_reported_with_the_count_reached() -> None:
    with pytest.raises(ConsumerStopped, match="stopped at 2 of 5"):
        asyncio.run(_wait_beside(_finish, 2))


def test_the_wait_returns_the_count_while_the_consumer_runs() -> None:
    async def scenario() -> int:
        consumer = asyncio.create_task(asyncio.Event().wait())  # runs until cancelled
        try:
            return await _wait_count(lambda: 5, 5, stall=60, what="started", consumer=consumer)
        finally:
            consumer.cancel()

    assert asyncio.run(scenario()) == 5
