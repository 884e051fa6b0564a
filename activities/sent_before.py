"""Which events of a re-executed outbox batch an earlier execution already put on the topic.

``record_transitions`` writes a batch's rows, commits, then sends the events. When it runs
again for the same batch (a worker killed after the send, a completion Temporal never heard
of, an attempt that timed out), the rows are already there, and the earlier execution may or
may not have sent the events. Sending them all again would put copies on the events topic.

- Sends made by this process are known from their futures (``SendLedger``): pending ones are
  waited for, landed ones skipped. A failed one may still have been appended (its ack lost
  with a broker), so it is looked for on the topic like the next kind; so is one the producer
  refused outright (``Refused``: too large), though without waiting for it to settle.
- Sends of another process (or of this one before a restart) are read back from the topic:
  first the earlier sender is given ``SETTLE`` after its rows' ``recorded_at`` for its sends
  to land; then the batch's
  partition is read for its request's event ids over that window only (with a margin for
  clocks), so the read stays short however long ago the earlier run was.

The check costs nothing when every row is new (the first execution, the usual case).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import TypeAlias

from kafka import KafkaConsumer
from kafka.errors import KafkaError
from kafka.producer.future import FutureRecordMetadata

from tierflow.kafka_io import SEND_TIMEOUT, event_ids_between

# How long after its commit an earlier sender's records are taken to have landed, if they
# landed at all: its send starts right after the commit and an acks=all round trip takes
# milliseconds while the brokers answer. (A send held longer, by brokers away while that
# sender died, can still land later: the one case that leaves a copy.)
SETTLE = timedelta(seconds=20)
# Record timestamps are the producer's clock, recorded_at the same process's, and other
# producers' records in between carry their hosts' clocks: a wide margin on both sides of the
# earlier sender's window costs only a few more records read.
READ_BACK_MARGIN = timedelta(seconds=60)
LEDGER_SIZE = 20_000  # this process's most recent sends remembered


class Refused:
    """A send that never left this process: the producer refused it (a record too large), or
    an earlier record of its batch, after which the rest were not tried.

    Kept so a retry knows this process tried, and need not wait for the send to settle.
    """

    def __init__(self, error: Exception) -> None:
        self.error = error


Send: TypeAlias = FutureRecordMetadata | Refused


class SendLedger:
    """This process's recent sends by event id, the oldest forgotten first."""

    def __init__(self, size: int = LEDGER_SIZE) -> None:
        self.size = size
        self._futures: OrderedDict[str, Send] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, event_id: str, future: Send) -> None:
        with self._lock:
            self._futures[event_id] = future
            self._futures.move_to_end(event_id)
            while len(self._futures) > self.size:
                self._futures.popitem(last=False)

    def get(self, event_id: str) -> Send | None:
        with self._lock:
            return self._futures.get(event_id)


def landed(future: Send) -> bool:
    """Wait for a send of this process; True if the broker acknowledged it, False if it failed.

    Still pending after SEND_TIMEOUT: raises (the caller retries later, never sends twice).
    """
    if isinstance(future, Refused):
        return False
    try:
        future.get(timeout=SEND_TIMEOUT)
    except KafkaError:
        if not future.is_done:
            raise
        return False
    return True


class SentBefore:
    """Decides which events of a batch need no sending because an earlier execution sent them."""

    def __init__(
        self,
        ledger: SendLedger,
        topic: str,
        reader: Callable[[], KafkaConsumer],
        *,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.ledger = ledger
        self.topic = topic
        self.reader = reader
        self.now = now
        self.sleep = sleep

    def find(self, written_before: Mapping[str, datetime], key: bytes) -> dict[str, str]:
        """Return the event ids of ``written_before`` already on the topic, each with how known.

        ``written_before`` maps the ids whose rows an earlier execution wrote to their
        ``recorded_at``; ``key`` is the Kafka key of the batch (its request id). The answer's
        values are ``this_process`` (a landed send's future) or ``on_topic`` (read back from
        the earlier senders' windows: from their commits to ``SETTLE`` after them).
        """
        found: dict[str, str] = {}
        unknown: set[str] = set()
        settle_from: list[datetime] = []  # commits of senders whose window may still be open
        for event_id, recorded_at in written_before.items():
            future = self.ledger.get(event_id)
            if future is not None and landed(future):
                found[event_id] = "this_process"
                continue
            unknown.add(event_id)  # a failed send of ours may still have been appended
            if future is None:
                settle_from.append(recorded_at)
        if unknown:
            if settle_from:
                wait = min(settle_from) + SETTLE - self.now()
                self.sleep(max(0.0, wait.total_seconds()))
            commits = [written_before[event_id] for event_id in unknown]
            since = min(commits) - READ_BACK_MARGIN
            until = max(commits) + SETTLE + READ_BACK_MARGIN
            reader = self.reader()
            try:
                on_topic = event_ids_between(reader, self.topic, key, since, until)
            finally:
                reader.close()
            found.update(dict.fromkeys(unknown & on_topic, "on_topic"))
        return found
