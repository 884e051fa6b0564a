"""PartitionProgress: the commit position while records finish out of order, with gaps; a
consumer's Partitions (what to commit, health) and their gauges."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from kafka import TopicPartition
from prometheus_client import CollectorRegistry

from tests.utils.clock import ManualClock
from tierflow.partition_progress import PartitionGauges, PartitionProgress, Partitions


def test_the_position_stays_at_the_first_unfinished_record() -> None:
    progress = PartitionProgress()
    for offset in (5, 6, 7):
        assert progress.take(offset)
    progress.finish(7)
    progress.finish(6)
    assert progress.position == 5
    progress.finish(5)
    assert progress.position == 8


def test_a_gap_left_by_compaction_never_holds_the_position_back() -> None:
    progress = PartitionProgress()
    for offset in (10, 11, 40, 41):  # 12..39 compacted away
        progress.take(offset)
    for offset in (10, 11, 41):
        progress.finish(offset)
    assert progress.position == 40
    progress.finish(40)
    assert progress.position == 42


def test_a_refetched_record_is_not_taken_twice() -> None:
    progress = PartitionProgress()
    assert progress.take(3) and progress.take(4)
    progress.finish(3)
    assert not progress.take(3) and not progress.take(4)  # fetched again after a rebalance
    assert progress.take(5)
    assert progress.unfinished == 2


@given(st.lists(st.integers(0, 10_000), min_size=1, max_size=60, unique=True), st.randoms())
def test_the_position_is_always_the_smallest_unfinished_offset(offsets, rnd) -> None:
    offsets.sort()
    progress = PartitionProgress()
    for offset in offsets:
        progress.take(offset)
    order = offsets[:]
    rnd.shuffle(order)
    done: set[int] = set()
    for offset in order:
        progress.finish(offset)
        done.add(offset)
        open_ = [o for o in offsets if o not in done]
        assert progress.position == (min(open_) if open_ else offsets[-1] + 1)


def test_lag_counts_from_the_committed_offset_and_a_stall_from_the_last_move() -> None:
    clock = ManualClock()
    progress = PartitionProgress(clock)
    assert progress.lag is None
    progress.take(0)
    progress.set_highwater(10)
    assert progress.lag == 10  # nothing committed yet: from where the assignment began
    clock.now += 30
    assert progress.stalled_for() == 30
    progress.finish(0)
    progress.mark_committed(1)
    assert (progress.lag, progress.stalled_for()) == (9, 0)


def test_an_idle_partition_that_gets_records_starts_its_stall_clock_then() -> None:
    clock = ManualClock()
    progress = PartitionProgress(clock)
    progress.take(0)
    progress.finish(0)
    progress.mark_committed(1)
    progress.set_highwater(1)
    clock.now += 3600  # idle for an hour
    assert progress.stalled_for() == 0
    progress.set_highwater(5)
    clock.now += 2
    assert progress.stalled_for() == 2


def test_partitions_commit_what_moved_and_forget_what_is_revoked() -> None:
    clock = ManualClock()
    partitions = Partitions(stall_seconds=60, clock=clock)
    p0, p1 = TopicPartition("events", 0), TopicPartition("events", 1)
    partitions.follow({p0, p1}, {}, [p0])
    for offset in (5, 6):
        partitions.get(p0).take(offset)
    partitions.get(p0).finish(5)
    assert partitions.due() == {p0: 6}  # p1 has nothing taken on: nothing to commit
    partitions.committed({p0: 6})
    assert partitions.due() == {}
    kept = partitions.get(p0)
    assert set(partitions.report()) == {"events-0"}  # p1: nothing fetched yet, nothing to say
    partitions.follow({p1}, {p1: 3}, [p1])
    assert kept.revoked
    partitions.committed({p0: 7})  # a late commit of a revoked partition changes nothing
    assert set(partitions.report()) == {"events-1"}


def test_partitions_are_degraded_while_waiting_records_stand_still() -> None:
    clock = ManualClock()
    partitions = Partitions(stall_seconds=60, clock=clock)
    p0 = TopicPartition("events", 0)
    partitions.follow({p0}, {p0: 10}, [p0])  # the end is known before the first record is done
    partitions.get(p0).take(0)  # ...and it never finishes (a database outage)
    clock.now += 61
    health = partitions.health()
    assert (health.status, health.partitions) == (
        "degraded",
        {"events-0": {"lag": 10.0, "stalled_seconds": 61.0}},
    )
    partitions.get(p0).finish(0)
    partitions.committed({p0: 1})
    assert partitions.health().ok


def test_partition_gauges_read_the_partitions_at_scrape_time() -> None:
    clock = ManualClock()
    registry = CollectorRegistry()
    gauges = PartitionGauges("tierflow_test", "events", registry)
    p0_of = {"topic": "events", "partition": "0"}
    assert registry.get_sample_value("tierflow_test_consumer_lag", p0_of) is None
    partitions = gauges.partitions = Partitions(stall_seconds=60, clock=clock)
    p0, own = TopicPartition("events", 0), TopicPartition("crm-commands", 0)
    partitions.follow({p0, own}, {p0: 4, own: 2}, [p0, own])
    partitions.get(p0).take(0)
    partitions.get(own).take(0)
    clock.now += 7
    # partition 0 of two topics: each its own series, not added up
    assert registry.get_sample_value("tierflow_test_consumer_lag", p0_of) == 4
    own_of = {"topic": "crm-commands", "partition": "0"}
    assert registry.get_sample_value("tierflow_test_consumer_lag", own_of) == 2
    stalled = registry.get_sample_value("tierflow_test_partition_stalled_seconds", p0_of)
    assert stalled == 7


def test_unfinished_reads_the_partition_as_now_assigned_and_begins_nothing() -> None:
    partitions = Partitions(stall_seconds=60, clock=ManualClock())
    p0 = TopicPartition("events", 0)
    assert partitions.unfinished(p0) == 0
    assert partitions.report() == {}  # reading began nothing
    partitions.follow({p0}, {}, [p0])
    partitions.get(p0).take(0)
    partitions.get(p0).take(1)
    assert partitions.unfinished(p0) == 2
    partitions.follow(set(), {})  # a replaced consumer: revoked...
    partitions.follow({p0}, {}, [p0])  # ...and assigned again, fetching from the commit
    partitions.get(p0).take(0)
    assert partitions.unfinished(p0) == 1
