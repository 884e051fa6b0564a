"""Workarounds for kafka-python 3.0.12 bugs, all in one place (the client is pinned to it).

Each names its bug and its test in ``tests/integration/test_kafka_fixes.py``. A reproduced
one is dropped when its test shows the pinned client no longer has the bug; a defensive one
(not reproduced here) when the upstream fix has been trusted long enough.

1. Reproduced. Parked partitions never fetched again (``unstick_parked_partitions``). The
   fetcher hands records it parked (for a paused partition, or beyond ``max_poll_records``)
   back only when its in-line slot is ``None``; after a poll that drained the slot it holds
   an empty object instead, so those partitions are not read again
   (``test_the_pinned_client_loses_parked_partitions``).
2. Defensive. Incremental fetch sessions could stop returning a partition's records after a
   rebalance (dpkp/kafka-python#3131, fixed in 3.0.9 by #3132; also #2575, reported on 2.1.3):
   ``CONSUMER_CONFIG`` turns them off; full fetches are cheap at command volumes.
   ``test_every_partition_flows_again_after_a_member_joins_and_leaves`` runs the rebalance
   with and without the workaround; both pass on the pinned client.
3. Defensive. A group join that never completes (the coordinator stays unknown for good,
   seen when another member joined with a topic this one had no metadata for; not
   reproduced on demand): ``JoinWatch`` tells the ingress and the notifier to replace a
   consumer left without a completed join for a while (``test_join_watch_*`` with an
   injected clock; ``test_a_consumer_stuck_after_a_revocation_is_rebuilt`` in
   ``test_ingress.py``, and the notifier's in ``notifier/test_consumer_rebuild.py``).
   Loading topic metadata before the first join (``tierflow.kafka_io.load_topic_metadata``)
   makes it rare. Seen once more in the ingress bench's bare loop on a host with both cores
   busy: commits refused with RebalanceInProgress, then no join for minutes; the bench's
   loops now use ``JoinWatch`` too (``tierflow_dev.bench.bare_consumer.GroupMember``).
4. Defensive. A member that stays in its group but stops fetching some of its partitions
   (a fetch whose answer never comes keeps its broker "busy" for good; suspected, not
   reproduced on demand, in cluster fault runs where a few commands waited minutes behind a
   healthy group): ``FetchWatch`` tells the ingress and the notifier to replace a consumer
   whose fetch position on a partition has stood still while the broker's end offset is past
   it (``test_fetch_watch_*`` with an injected clock; ``test_a_consumer_that_stops_fetching_
   is_rebuilt`` in ``test_ingress.py``, and the notifier's in
   ``notifier/test_consumer_rebuild.py``). The end offsets come from ListOffsets requests,
   not from fetch answers, which are what stops.

5. Seen once (a chaos run, ``test_leader_broker_kill9_loses_and_doubles_no_command``): after
   a broker was killed, the consumer kept fetching the partitions it led from it, every call
   failing with ``UnknownBrokerIdError`` for minutes while the two brokers left served them:
   its partition metadata still named the dead leader. ``FetchWatch`` also replaces a
   consumer whose position checks have gone unanswered for its stall time
   (``test_fetch_watch_replaces_a_consumer_whose_checks_go_unanswered``); with every broker
   away that replaces it once a stall time, which costs nothing the brokers could serve.

A consumer replaced for 3, 4 or 5 is closed within ``REPLACED_CLOSE_MS``: its LeaveGroup goes to
the coordinator that may be what is stuck, and would otherwise wait ``request_timeout_ms``
(30 s) before the new consumer starts.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.subscription_state import ConsumerRebalanceListener

log = logging.getLogger("tierflow.kafka")
CONSUMER_CONFIG: dict[str, Any] = {"enable_incremental_fetch_sessions": False}
REPLACED_CLOSE_MS = 5_000  # closing a stuck consumer: its LeaveGroup is a courtesy


def unstick_parked_partitions(consumer: KafkaConsumer) -> None:
    """Reset the fetcher's drained in-line slot so parked partitions are fetched again."""
    fetcher = getattr(consumer, "_fetcher", None)
    slot = getattr(fetcher, "_next_partition_records", None)
    if fetcher is not None and slot is not None and not slot:
        fetcher._next_partition_records = None


class JoinWatch(ConsumerRebalanceListener):
    """Rebalance listener that knows how long the consumer has been without a finished join.

    kafka-python calls it on its own network thread, so it only stamps times (under a lock).
    A member with no partitions (more members than partitions) still completes its joins,
    so it is never mistaken for a stuck one.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._waiting_since: float | None = clock()  # a new consumer has not joined yet

    def on_partitions_revoked(self, revoked: Any) -> None:
        with self._lock:
            if self._waiting_since is None:
                self._waiting_since = self._clock()

    def on_partitions_assigned(self, assigned: Any) -> None:
        with self._lock:
            self._waiting_since = None

    def stuck_for(self) -> float:
        """Seconds since a join began without finishing (0 when joined)."""
        with self._lock:
            since = self._waiting_since
        return 0.0 if since is None else self._clock() - since


class FetchWatch:
    """Tells which partitions a consumer has stopped fetching while records wait on them.

    Fed on the consumer's thread with each assigned (and not paused) partition's fetch
    position and end offset. A partition is starved once its position has stood still for
    ``after`` seconds with records after it. A partition caught up, moving, paused or left
    out of a round starts afresh. Rounds that go unanswered for ``after`` seconds are a
    verdict of their own (item 5): a client stuck on a broker the cluster no longer lists.
    """

    CHECKS_PER_STALL = 6  # rounds within ``after``: a stop is seen within a sixth of it

    def __init__(self, after: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.after = after
        self._clock = clock
        self._still: dict[TopicPartition, tuple[int, float]] = {}  # position, since when
        self._unanswered_since: float | None = None  # rounds have failed since then
        self._round_at = clock()

    def due(self) -> bool:
        """True (and the round stamped) when the next round of positions should be taken."""
        now = self._clock()
        if now - self._round_at < self.after / self.CHECKS_PER_STALL:
            return False
        self._round_at = now
        return True

    def note(self, positions: dict[TopicPartition, int], ends: dict[TopicPartition, int]) -> None:
        """Record one round of fetch positions and end offsets."""
        now = self._clock()
        still = {}
        for tp, position in positions.items():
            end = ends.get(tp)
            if end is None or position >= end:
                continue  # nothing waiting
            before = self._still.get(tp)
            still[tp] = before if before is not None and before[0] == position else (position, now)
        self._still = still

    def forget(self) -> None:
        """Drop every observation (the consumer was paused or replaced)."""
        self._still = {}
        self._unanswered_since = None

    def unanswered(self, error: Exception) -> str | None:
        """Note a round the brokers did not answer (it tells nothing of the positions); the
        reason to replace the consumer once rounds have gone unanswered for ``after`` s."""
        now = self._clock()
        self._still = {}
        if self._unanswered_since is None:
            self._unanswered_since = now
        if now - self._unanswered_since < self.after:
            return None
        return f"fetch positions unanswered for {self.after:.0f} s ({error})"

    def starved(self) -> list[TopicPartition]:
        """Partitions whose position has stood still for ``after`` seconds behind records."""
        now = self._clock()
        return sorted(tp for tp, (_, since) in self._still.items() if now - since >= self.after)

    def check(self, consumer: KafkaConsumer) -> str | None:
        """Feed one round of ``consumer``'s positions and end offsets (on its own thread);
        the reason to replace it, or None.

        Paused partitions (a full consumer) are left out; a round the brokers do not answer
        tells nothing of the positions (``unanswered``).
        """
        paused = consumer.paused()
        assigned = [tp for tp in consumer.assignment() if tp not in paused]
        if not assigned:
            self.forget()
            return None
        try:
            ends = consumer.end_offsets(assigned, timeout_ms=5000)
            positions = {tp: consumer.position(tp, timeout_ms=5000) for tp in assigned}
        except Exception as exc:  # noqa: BLE001 - no answer: no verdict on the positions
            log.info("fetch positions not checked: %s", exc)
            return self.unanswered(exc)
        self._unanswered_since = None
        self.note({tp: p for tp, p in positions.items() if p is not None}, ends)
        starved = self.starved()
        if not starved:
            return None
        names = ", ".join(f"{tp.topic}[{tp.partition}]" for tp in starved)
        return f"{names} not fetched for {self.after:.0f} s with records waiting"
