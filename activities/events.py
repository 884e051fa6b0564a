"""The Kafka half of ``record_transitions``: lifecycle transitions as CloudEvents."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime

from kafka import KafkaProducer
from kafka.producer.future import FutureRecordMetadata

from activities.sent_before import Refused, SendLedger, SentBefore
from schemas.events import EVENT_SOURCE
from schemas.lifecycle import TransitionRecord
from tierflow.kafka_io import SEND_TIMEOUT, reader_like, send_event
from tierflow.metrics import WorkerMetrics


class KeyLocks:
    """A lock per key, kept only while someone holds it or waits for it."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, tuple[threading.Lock, int]] = {}

    def users(self, key: str) -> int:
        """How many hold or wait for ``key``'s lock (0: it is not kept)."""
        with self._guard:
            return self._locks.get(key, (None, 0))[1]

    @contextmanager
    def held(self, key: str) -> Iterator[None]:
        with self._guard:
            lock, users = self._locks.get(key, (threading.Lock(), 0))
            self._locks[key] = (lock, users + 1)
        try:
            with lock:
                yield
        finally:
            with self._guard:
                users = self._locks[key][1] - 1
                if users:
                    self._locks[key] = (lock, users)
                else:
                    del self._locks[key]


class EventPublisher:
    """Holds the Kafka producer so a worker connects once; failures raise and retry.

    Each event goes to the topic once: a batch executed again sends only what no earlier
    execution sent (``activities.sent_before``).
    """

    def __init__(
        self,
        producer: KafkaProducer,
        topic: str,
        metrics: WorkerMetrics,
        source: str = EVENT_SOURCE,
    ) -> None:
        self.producer = producer
        self.topic = topic
        self.metrics = metrics
        self.source = source
        self.sent_before = SentBefore(SendLedger(), topic, lambda: reader_like(producer))
        self._requests = KeyLocks()  # one request's batches take turns; others never wait

    def publish(
        self, records: list[TransitionRecord], written_before: Mapping[str, datetime]
    ) -> None:
        """Send the events no earlier execution sent, then wait for all acks; count them.

        ``written_before``: the records whose rows an earlier execution wrote, with their
        ``recorded_at`` (empty on a first execution). Executions of one request's batches take
        turns here, so a second one sees the first one's sends in the ledger.
        """
        if not records:
            return
        try:
            with self._requests.held(records[0].request_id):
                todo = self._not_sent_before(records, written_before)
                futures = self._send(todo)
            for future in futures:
                future.get(timeout=SEND_TIMEOUT)
        except Exception:
            self.metrics.publish_errors.inc()
            raise
        for record in todo:
            self.metrics.events_published.labels(record.event_type.value).inc()

    def _send(self, records: list[TransitionRecord]) -> list[FutureRecordMetadata]:
        """Queue the events in order, each noted in the ledger. When the producer refuses one
        (too large), it and the rest are noted as never sent, so a retry need not wait."""
        ledger = self.sent_before.ledger
        futures = []
        for index, record in enumerate(records):
            try:
                _, future = send_event(self.producer, self.topic, record, self.source)
            except Exception as exc:
                for unsent in records[index:]:
                    ledger.add(unsent.event_id, Refused(exc))
                raise
            ledger.add(record.event_id, future)
            futures.append(future)
        return futures

    def _not_sent_before(
        self, records: list[TransitionRecord], written_before: Mapping[str, datetime]
    ) -> list[TransitionRecord]:
        if not written_before:
            return records
        found = self.sent_before.find(written_before, records[0].request_id.encode())
        for how in found.values():
            self.metrics.events_already_sent.labels(how).inc()
        return [r for r in records if r.event_id not in found]
