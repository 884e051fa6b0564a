"""How far one partition is done: the offset to commit while records finish out of order.

The ingress works on many records of a partition at once (one lane per request), so they
finish in any order. Kafka commits one number per partition, meaning "everything before this
is done". ``PartitionProgress`` turns the set of records taken on into that number. Offsets
need not be consecutive: compaction and retention leave gaps, and a gap is simply never
taken on, so it never holds the position back.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class PartitionProgress:
    """Records taken on, in fetch order; ``position`` is the next offset safe to commit.

    Also remembers what was committed and when the position last moved, for the lag metric
    and the stall check of ``/healthz``. One object per assignment: when the partition is
    revoked the object is dropped, and work still finishing on it changes nothing.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._open: set[int] = set()  # taken on, not finished
        self._next: int | None = None  # one past the highest offset taken on
        self.committed: int | None = None  # the last position committed to the group
        self.highwater: int | None = None  # the partition's end offset, as last fetched
        self.moved_at = clock()  # when the position last moved (or tracking began)
        self.revoked = False

    def take(self, offset: int) -> bool:
        """Take a fetched record on; False if it was taken on already (a refetch)."""
        if self._next is not None and offset < self._next:
            return False
        if self._next is None and self.committed is None:
            self.committed = offset  # where this assignment started
        self._open.add(offset)
        self._next = offset + 1
        return True

    def finish(self, offset: int) -> None:
        """Mark a record taken on as done."""
        if offset in self._open:
            self._open.discard(offset)
            self.moved_at = self._clock()

    @property
    def position(self) -> int | None:
        """The offset to commit: the first unfinished record, or one past the last taken on."""
        if self._open:
            return min(self._open)
        return self._next

    @property
    def unfinished(self) -> int:
        return len(self._open)

    def set_highwater(self, highwater: int) -> None:
        """Note the partition's end offset; records arriving on an idle partition start the
        stall clock afresh."""
        if not self.lag:
            self.moved_at = self._clock()
        self.highwater = highwater

    def mark_committed(self, position: int) -> None:
        if self.committed is None or position > self.committed:
            self.committed = position
            self.moved_at = self._clock()

    @property
    def lag(self) -> int | None:
        """Records on the partition after its committed position (None until both are known)."""
        if self.highwater is None or self.committed is None:
            return None
        return max(0, self.highwater - self.committed)

    def stalled_for(self) -> float:
        """Seconds records have waited while the committed position stood still (0 if none)."""
        if not self.lag:
            return 0.0
        return max(0.0, self._clock() - self.moved_at)
