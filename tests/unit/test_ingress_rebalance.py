"""What the ingress keeps across a rebalance: refetch points and pending commits.

The rebalance listener's two halves are called directly here; tests/integration/
test_ingress.py drives a real rebalance against the broker.
"""

from collections.abc import Iterator

import pytest
from kafka import TopicPartition

from workers.ingress import Ingress
from workers.ingress_offsets import OffsetTracker

MINE, MOVED = TopicPartition("commands", 0), TopicPartition("commands", 1)


@pytest.fixture
def ingress() -> Iterator[Ingress]:
    ingress = Ingress(client=None, bootstrap="unused:9092")  # type: ignore[arg-type]
    yield ingress
    ingress._kafka_thread.shutdown()
    ingress._send_threads.shutdown()


def test_finished_work_is_committed_when_the_partition_comes_straight_back(
    ingress: Ingress,
) -> None:
    ingress._done = {MINE: 42, MOVED: 7}
    ingress._on_revoked({MINE, MOVED})
    assert ingress._done == {}  # nothing is committed while the group rebalances
    ingress._on_assigned({MINE})
    assert ingress._done == {MINE: 42}  # MOVED's new owner starts from the old commit


def test_unfinished_work_is_refetched_when_the_partition_comes_straight_back(
    ingress: Ingress,
) -> None:
    tracker = OffsetTracker()
    for offset in (10, 11, 12):
        tracker.add(offset)
    tracker.finish(10)
    ingress._trackers = {MINE: tracker}
    ingress._done = {MINE: 11}
    generation = ingress._generation
    ingress._on_revoked({MINE})
    assert ingress._generation == generation + 1  # work still running no longer counts
    ingress._on_assigned({MINE})
    assert ingress._handed_back == {MINE: 11}  # the next poll seeks back to offset 11
    assert ingress._done == {}
