"""PartitionProgress: the commit position while records finish out of order, with gaps."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tests.utils.clock import ManualClock
from workers.ingress.progress import PartitionProgress


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
