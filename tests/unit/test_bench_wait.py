"""The ingress bench stops waiting as soon as the consumer it measures has died."""

from __future__ import annotations

import asyncio
import time

import pytest

from tierflow_dev.bench.ingress import ConsumerStopped, _wait_count


async def _crash() -> None:
    await asyncio.sleep(0.05)
    raise ValueError("commit refused")


async def _finish() -> None:
    await asyncio.sleep(0.05)


def test_a_crashed_consumer_fails_the_wait_with_its_own_error() -> None:
    async def scenario() -> None:
        consumer = asyncio.create_task(_crash())
        with pytest.raises(ValueError, match="commit refused"):
            await _wait_count(lambda: 0, 5, stall=60, what="started", consumer=consumer)

    began = time.monotonic()
    asyncio.run(scenario())
    assert time.monotonic() - began < 5  # not the 60 s stall


def test_a_consumer_that_ends_early_is_reported_with_the_count_reached() -> None:
    async def scenario() -> None:
        consumer = asyncio.create_task(_finish())
        with pytest.raises(ConsumerStopped, match="stopped at 2 of 5"):
            await _wait_count(lambda: 2, 5, stall=60, what="started", consumer=consumer)

    asyncio.run(scenario())


def test_the_wait_returns_the_count_while_the_consumer_runs() -> None:
    async def scenario() -> int:
        consumer = asyncio.create_task(asyncio.sleep(30))
        try:
            return await _wait_count(lambda: 5, 5, stall=60, what="started", consumer=consumer)
        finally:
            consumer.cancel()

    assert asyncio.run(scenario()) == 5
