"""OffsetTracker: the commit position only moves over a contiguous run of finished offsets."""

from workers.ingress_offsets import OffsetTracker


def _tracker(*offsets: int) -> OffsetTracker:
    tracker = OffsetTracker()
    for offset in offsets:
        assert tracker.add(offset)
    return tracker


def test_position_waits_for_the_first_unfinished_offset() -> None:
    tracker = _tracker(10, 11, 12)
    assert tracker.finish(11) is None
    assert tracker.finish(12) is None
    assert tracker.finish(10) == 13
    assert len(tracker) == 0


def test_gaps_in_offsets_are_fine() -> None:
    tracker = _tracker(3, 7, 20)  # compacted topics and transaction markers leave gaps
    assert tracker.finish(3) == 4
    assert tracker.finish(7) == 8
    assert tracker.finish(20) == 21


def test_rewind_restarts_from_the_first_unfinished_offset() -> None:
    tracker = _tracker(5, 6, 7, 8)
    assert tracker.finish(5) == 6
    assert tracker.finish(8) is None
    epoch = tracker.epoch
    # 7 failed while 6 still runs: refetch from 6, not 7, so 6 is never committed unfinished
    assert tracker.rewind() == 6
    assert tracker.epoch == epoch + 1
    assert len(tracker) == 0


def test_after_a_rewind_records_fetched_earlier_are_refused_until_the_refetch() -> None:
    tracker = _tracker(5, 6)
    assert tracker.rewind() == 5
    assert not tracker.add(7)  # already in the client's buffer before the seek took effect
    assert tracker.add(5)
    assert tracker.add(6)
    assert tracker.finish(5) == 6
    assert tracker.finish(6) == 7


def test_rewind_with_nothing_open_changes_nothing() -> None:
    tracker = _tracker(1)
    assert tracker.finish(1) == 2
    epoch = tracker.epoch
    assert tracker.rewind() is None
    assert tracker.epoch == epoch
    assert tracker.add(2)


def test_first_open_is_where_a_refetch_starts() -> None:
    tracker = _tracker(4, 5, 6)
    assert tracker.first_open == 4
    assert tracker.finish(4) == 5
    assert tracker.finish(6) is None
    assert tracker.first_open == 5
    assert tracker.finish(5) == 7
    assert tracker.first_open is None
