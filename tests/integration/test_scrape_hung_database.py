"""A database that takes connections but never answers costs a scrape its read budget, not
the scrape: Prometheus gives up on a scrape after 10 s and marks the whole process down (a
misleading ``TierflowWorkerDown``), where ``tierflow_read_model_up 0`` says what is wrong.

The database is a real TCP listener that accepts and never answers; the clients are the real
psycopg connections of the read model's engine (10 s connect timeout).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry

from tests.utils.eventually import eventually
from tierflow.db.engine import make_engine
from tierflow.metrics import AssessmentCollector, ReadModelCollector, ScrapeRead
from workers.notifier.health import BacklogGauges


class BlackHole:
    """Accepts connections and holds them, never saying a word."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.held.append(conn)

    def close(self) -> None:
        self.listener.close()
        for conn in self.held:
            conn.close()


@pytest.fixture
def hole() -> Iterator[BlackHole]:
    found = BlackHole()
    yield found
    found.close()


async def test_a_hung_database_costs_each_scrape_its_budget_and_no_pile_of_reads(
    hole: BlackHole,
) -> None:
    engine = make_engine(f"postgresql://tierflow@127.0.0.1:{hole.port}/tierflow")
    registry = CollectorRegistry()
    read_model = ReadModelCollector(engine, budget=0.2)
    registry.register(read_model)
    registry.register(AssessmentCollector(engine, budget=0.2))
    backlog = BacklogGauges(registry)
    backlog.engine = engine
    backlog._read.budget = 0.2
    try:
        # a scrape answers, the database unreadable and its gauges absent
        assert registry.get_sample_value("tierflow_read_model_up") == 0.0
        assert registry.get_sample_value("tierflow_open_requests", {"tier": "county"}) is None
        await eventually(lambda: len(hole.held) == 3, what="one read of each collector waiting")
        running = read_model._read.start()
        # the next scrapes wait for the reads already waiting rather than start others
        assert registry.get_sample_value("tierflow_read_model_up") == 0.0
        assert registry.get_sample_value("tierflow_notifier_due_messages") is None
        assert read_model._read.start() is running and not running.done()
        assert len(hole.held) == 3
    finally:
        hole.close()
        engine.dispose()


async def test_a_read_that_outlasts_its_scrape_serves_the_next_one() -> None:
    """A slow database (a read of 5 s against a 3 s budget) still shows its figures, a
    scrape late: a read finished after its scrape gave up is the next scrape's answer, not
    thrown away for a new read that would time out in turn."""
    slow = threading.Event()
    reads: list[int] = []

    def read() -> int:
        reads.append(len(reads) + 1)
        slow.wait(timeout=30)
        return len(reads)

    scrape = ScrapeRead(read, budget=0.05)
    with pytest.raises(TimeoutError):
        scrape()
    running = scrape.start()
    slow.set()  # the database answers, after the scrape gave up
    await eventually(running.done, what="the slow read done")
    assert scrape() == 1  # the next scrape takes its answer at once
    assert scrape() == 2 and reads == [1, 2]  # and the one after reads again
