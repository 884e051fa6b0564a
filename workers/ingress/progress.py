"""Which offset of a partition may be committed while its messages finish out of order.

The ingress works on many messages of a partition at once (one lane per request), so they
finish in any order. Kafka commits one number per partition, meaning "everything before this
is done"; ``OffsetTracker`` turns the finished set into that number.
"""

from __future__ import annotations

from collections import deque


class OffsetTracker:
    """Offsets handed out in fetch order; ``finish`` returns the next offset to commit."""

    def __init__(self) -> None:
        self._open: deque[int] = deque()  # dispatched, in order, up to the first unfinished
        self._finished: set[int] = set()
        self.epoch = 0  # bumped on rewind: work of an older epoch no longer counts
        self._resume_at: int | None = None  # after a rewind: skip records until this one

    def add(self, offset: int) -> bool:
        """Take ``offset`` on; False for a record fetched before a rewind took effect."""
        if self._resume_at is not None:
            if offset != self._resume_at:
                return False
            self._resume_at = None
        self._open.append(offset)
        return True

    def finish(self, offset: int) -> int | None:
        """Mark ``offset`` done; return the new commit position, or None if it did not move."""
        self._finished.add(offset)
        last = None
        while self._open and self._open[0] in self._finished:
            last = self._open.popleft()
            self._finished.discard(last)
        return None if last is None else last + 1

    @property
    def first_open(self) -> int | None:
        """The first offset taken on and not finished (where a refetch must start)."""
        return self._open[0] if self._open else None

    def rewind(self) -> int | None:
        """Forget the unfinished work; return the offset to fetch the partition again from.

        That is the first unfinished offset, so nothing before a failed record is committed
        while it may still be running; None if nothing is open.
        """
        offset = self.first_open
        if offset is None:
            return None
        self._open.clear()
        self._finished.clear()
        self.epoch += 1
        self._resume_at = offset
        return offset

    def __len__(self) -> int:
        return len(self._open)
