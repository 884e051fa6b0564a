"""How far each partition is done: the offsets to commit, the lag and stalls, ``/healthz``.

The ingress works on many records of a partition at once (one lane per request), so they
finish in any order; the notifier finishes them in order. Kafka commits one number per
partition, meaning "everything before this is done". ``PartitionProgress`` turns the set of
records taken on into that number. Offsets need not be consecutive: compaction and retention
leave gaps, and a gap is simply never taken on, so it never holds the position back.
``Partitions`` keeps one per assigned partition of a consumer, and ``PartitionGauges`` shows
their lag and stalls at scrape time, so a consumer busy waiting out an outage still shows its
partitions standing still.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from kafka import TopicPartition
from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector


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


@dataclass(frozen=True)
class Health:
    """What ``/healthz`` says: ok, starting, or degraded (a partition's commit stands still)."""

    status: str
    partitions: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "ok"


class Partitions:
    """The progress of every partition a consumer is assigned, by topic and partition.

    The consumer's thread changes it; ``/healthz`` and scrapes read it from theirs (through
    a copy of the mapping, never while iterating the live one).
    """

    def __init__(self, stall_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.stall_seconds = stall_seconds
        self._clock = clock
        self._progress: dict[TopicPartition, PartitionProgress] = {}
        self._assigned = 0  # partitions of the last assignment

    def get(self, tp: TopicPartition) -> PartitionProgress:
        """The partition's progress, begun now if it is newly assigned."""
        progress = self._progress.get(tp)
        if progress is None:
            progress = self._progress[tp] = PartitionProgress(self._clock)
        return progress

    def unfinished(self, tp: TopicPartition) -> int:
        """Records taken on and not yet finished on ``tp`` as now assigned (0 if none are):
        unlike :meth:`get`, reading it begins nothing, and a partition revoked and assigned
        again (a replaced consumer) is read afresh."""
        progress = self._progress.get(tp)
        return 0 if progress is None else progress.unfinished

    def follow(
        self,
        assignment: set[TopicPartition],
        highwaters: dict[TopicPartition, int],
        fetched: Iterable[TopicPartition] = (),
    ) -> None:
        """Forget (and mark revoked) partitions no longer assigned; begin those ``fetched``
        records for; note the end offsets of all begun (so a consumer held up by its first
        record still shows lag). Partitions never fetched from are not reported."""
        self._assigned = len(assignment)
        for tp in set(self._progress) - assignment:
            self._progress.pop(tp).revoked = True
        for tp in fetched:
            self.get(tp)
        for tp, highwater in highwaters.items():
            if tp in self._progress:
                self._progress[tp].set_highwater(highwater)

    def crowded(self, capacity: int) -> set[TopicPartition]:
        """Partitions holding their share of ``capacity`` unfinished records (an equal share
        of every assigned partition): each waits for its own to finish before more is
        fetched, so one that fills up (a flood, commands that wait) holds back no other."""
        share = max(1, capacity // max(1, self._assigned))
        return {tp for tp, p in self._snapshot() if p.unfinished >= share}

    def due(self) -> dict[TopicPartition, int]:
        """Every partition's position that moved past its last commit."""
        return {
            tp: p.position
            for tp, p in self._snapshot()
            if p.position is not None and (p.committed is None or p.position > p.committed)
        }

    def committed(self, positions: dict[TopicPartition, int]) -> None:
        """Note positions the group has accepted (of partitions still assigned)."""
        for tp, position in positions.items():
            if tp in self._progress:
                self._progress[tp].mark_committed(position)

    def rows(self) -> list[tuple[str, int, float, float]]:
        """(topic, partition, lag, seconds stalled) of every assigned partition: a consumer of
        several topics (the ingress: the shared commands topic and each client's own) tells
        them apart, so a stall names the client's topic it is on."""
        return [
            (tp.topic, tp.partition, float(p.lag or 0), p.stalled_for())
            for tp, p in sorted(self._snapshot())
        ]

    def report(self) -> dict[str, dict[str, float]]:
        """Lag and seconds stalled by ``<topic>-<partition>`` (Kafka's name for one)."""
        return {
            f"{topic}-{partition}": {"lag": lag, "stalled_seconds": stalled}
            for topic, partition, lag, stalled in self.rows()
        }

    def health(self) -> Health:
        """``degraded`` while a partition has records waiting but its commit has not moved
        for ``stall_seconds``; else ``ok``."""
        partitions = self.report()
        stalled = any(p["stalled_seconds"] > self.stall_seconds for p in partitions.values())
        return Health("degraded" if stalled else "ok", partitions)

    def _snapshot(self) -> list[tuple[TopicPartition, PartitionProgress]]:
        return list(self._progress.copy().items())


class PartitionGauges(Collector):
    """``<prefix>_consumer_lag`` and ``<prefix>_partition_stalled_seconds`` per topic and
    partition, read from the consumer's ``Partitions`` at each scrape."""

    def __init__(self, prefix: str, what: str, registry: CollectorRegistry) -> None:
        self.prefix, self.what = prefix, what
        self.partitions: Partitions | None = None  # set by the consumer it belongs to
        registry.register(self)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        lag = GaugeMetricFamily(
            f"{self.prefix}_consumer_lag",
            f"Records after the group's committed offset, per assigned {self.what} partition",
            labels=["topic", "partition"],
        )
        stalled = GaugeMetricFamily(
            f"{self.prefix}_partition_stalled_seconds",
            "How long records have waited while the partition's committed offset stood still",
            labels=["topic", "partition"],
        )
        rows = self.partitions.rows() if self.partitions is not None else []
        for topic, partition, lag_now, stalled_for in rows:
            lag.add_metric([topic, str(partition)], lag_now)
            stalled.add_metric([topic, str(partition)], stalled_for)
        yield lag
        yield stalled
