"""Bounded startup waits: retry until the dependency answers, then give up naming it."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

from tierflow import startup
from tierflow.startup import DependencyUnavailable, wait_for, wait_for_async


@pytest.fixture(autouse=True)
def _no_pause(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retry at once: these tests check the policy, not the clock."""
    monkeypatch.setattr(startup, "RETRY_INTERVAL_SECONDS", 0.0)


def _flaky(failures: int) -> tuple[list[int], Callable[[], str]]:
    """Return (calls, attempt): an attempt that fails ``failures`` times, then connects."""
    calls: list[int] = []

    def attempt() -> str:
        calls.append(1)
        if len(calls) <= failures:
            raise ConnectionError("connection refused")
        return "connected"

    return calls, attempt


def test_retries_until_the_dependency_answers(caplog: pytest.LogCaptureFixture) -> None:
    calls, attempt = _flaky(2)
    with caplog.at_level(logging.WARNING, "tierflow"):
        assert wait_for("Kafka at k:9092", 60, attempt) == "connected"
    assert len(calls) == 3
    assert caplog.messages == ["waiting for Kafka at k:9092: connection refused"] * 2


def test_gives_up_after_the_wait_naming_what_it_waited_for() -> None:
    calls, attempt = _flaky(10**6)
    with pytest.raises(DependencyUnavailable, match=r"^Kafka at k:9092 not reachable after 0 s"):
        wait_for("Kafka at k:9092", 0, attempt)
    assert len(calls) == 1


async def test_async_wait_gives_up_with_the_last_error_as_cause() -> None:
    async def attempt() -> str:
        raise ConnectionError("temporal down")

    with pytest.raises(DependencyUnavailable, match="Temporal at t:7233") as info:
        await wait_for_async("Temporal at t:7233", 0, attempt)
    assert isinstance(info.value.__cause__, ConnectionError)
    assert isinstance(info.value, RuntimeError)  # callers that caught RuntimeError still do
