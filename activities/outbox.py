"""Activity that records a batch of lifecycle transitions: database first, then Kafka.

One call per outbox drain: the workflow waits for one activity round trip (and one workflow
task) however many records a step produced. A retry repeats both halves: the database write
is idempotent by event id, and the events whose rows an earlier execution wrote are sent only
if that execution's send did not land (``activities.sent_before``), so neither the audit trail
nor the events topic holds an event twice. Transient failures retry; a record the database or
the broker will never accept fails non-retryable (``activities.failures``), naming its event
id.
"""

from __future__ import annotations

from kafka import KafkaProducer
from sqlalchemy import Engine
from temporalio import activity

from activities.events import EventPublisher
from activities.failures import is_permanent, permanent_failure
from activities.persistence import TransitionWriter
from schemas.events import EVENT_SOURCE
from schemas.lifecycle import TransitionBatch
from tierflow.metrics import WorkerMetrics


class OutboxActivities:
    """Persistence then publishing of a whole batch, in one activity."""

    def __init__(
        self,
        engine: Engine,
        producer: KafkaProducer,
        topic: str,
        metrics: WorkerMetrics,
        source: str = EVENT_SOURCE,
    ) -> None:
        self.writer = TransitionWriter(engine, metrics)
        self.publisher = EventPublisher(producer, topic, metrics, source)

    @activity.defn(name="record_transitions")
    def record_transitions(self, batch: TransitionBatch) -> int:
        """Persist the batch in one transaction, then publish it; return how many were new."""
        new = self.writer.persist_new(batch.records)  # permanent errors raise non-retryable
        written_before = {}
        if len(new) < len(batch.records):  # an earlier execution wrote some: it may have sent them
            fresh = {r.event_id for r in new}
            earlier = [r.event_id for r in batch.records if r.event_id not in fresh]
            written_before = self.writer.recorded_at(earlier)
        try:
            self.publisher.publish(batch.records, written_before)
        except Exception as exc:
            if is_permanent(exc):  # e.g. larger than the broker accepts: no retry can pass
                raise permanent_failure("record_transitions", exc) from None
            raise
        return len(new)
