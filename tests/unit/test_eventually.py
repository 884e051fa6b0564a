"""The tests' one waiting helper: returns the probe's value, fails naming what and what it saw."""

from __future__ import annotations

import asyncio
from itertools import count

import pytest

from tests.utils.eventually import NotReached, eventually, eventually_sync


def test_returns_the_first_truthy_value() -> None:
    calls = count(1)
    assert eventually_sync(lambda: next(calls) >= 3 and "third", interval=0) == "third"


def test_an_async_probe_is_awaited() -> None:
    calls = count(1)

    async def probe() -> int | None:
        n = next(calls)
        return n if n >= 2 else None

    assert asyncio.run(eventually(probe, interval=0)) == 2


def test_a_timeout_names_what_and_the_last_state_seen() -> None:
    with pytest.raises(NotReached, match=r"lag 0 not reached within 0 s; last seen: \{'0': 4\}"):
        eventually_sync(lambda: False, 0, "lag 0", detail=lambda: {"0": 4})
    with pytest.raises(AssertionError, match="ready not reached"):
        asyncio.run(eventually(lambda: None, 0, "ready"))


def test_an_assertion_inside_the_probe_is_not_a_timeout() -> None:
    def probe() -> bool:
        raise AssertionError("topic has no partitions")

    with pytest.raises(AssertionError, match="no partitions") as err:
        eventually_sync(probe)
    assert not isinstance(err.value, NotReached)


def test_ignored_errors_mean_not_yet_and_the_last_one_is_reported() -> None:
    calls = count(1)

    def probe() -> bool:
        if next(calls) < 3:
            raise ConnectionError("restarting")
        return True

    assert eventually_sync(probe, interval=0, ignoring=(ConnectionError,)) is True

    def never() -> bool:
        raise ConnectionError("still down")

    with pytest.raises(NotReached, match="last error: ConnectionError"):
        eventually_sync(never, 0, "up", ignoring=(ConnectionError,))
