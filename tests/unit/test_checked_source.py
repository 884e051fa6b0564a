"""The thread behind the directory and policy sources: it checks at start and then every
``interval`` seconds without anyone asking, stops on ``close``, and ends once nothing holds the
source (the worker that built it is gone)."""

from __future__ import annotations

import gc

from sqlalchemy import Engine

from tests.utils.eventually import eventually_sync
from tierflow.checked_source import CheckedSource


class Counting(CheckedSource):
    """Counts its checks."""

    what = "counting"

    def __init__(self, engine: Engine, interval: float) -> None:
        self.checks = 0
        super().__init__(engine, interval=interval)

    def check(self) -> None:
        self.checks += 1


def test_the_background_check_runs_until_closed(sqlite_engine: Engine) -> None:
    source = Counting(sqlite_engine, interval=0.01)
    thread = source._thread
    try:
        assert source.checks >= 1  # at start, before the first request reads it
        eventually_sync(lambda: source.checks >= 3, 10, "checks on the thread")
    finally:
        source.close()
    assert thread is not None and not thread.is_alive()


def test_no_thread_without_an_interval(sqlite_engine: Engine) -> None:
    source = Counting(sqlite_engine, interval=0)
    assert source._thread is None and source.checks == 1
    assert source.refresh() and source.checks == 2


def test_the_check_stops_with_its_worker(sqlite_engine: Engine) -> None:
    """Nothing holds the source any more (the worker that built it is gone): its thread ends."""
    source = Counting(sqlite_engine, interval=0.01)
    thread = source._thread
    assert thread is not None and thread.is_alive()
    del source
    gc.collect()
    eventually_sync(lambda: not thread.is_alive(), 10, "the check's thread ended")
