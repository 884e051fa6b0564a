"""Activity that records a batch of lifecycle transitions: database first, then Kafka.

One call per outbox drain instead of two per record: the workflow waits for one activity
round trip (and one workflow task) however many records a step produced. A retry repeats
both halves; the database write is idempotent by event id and consumers dedupe events by
CloudEvents id, so the effect is at-least-once without duplicate rows.
"""

from __future__ import annotations

from kafka import KafkaProducer
from sqlalchemy import Engine
from temporalio import activity

from activities.events import EventActivities
from activities.persistence import PersistenceActivities
from schemas.lifecycle import TransitionBatch
from tierflow.metrics import WorkerMetrics


class OutboxActivities:
    """Persistence then publishing, as the per-record activities do them, for a whole batch."""

    def __init__(
        self, engine: Engine, producer: KafkaProducer, topic: str, metrics: WorkerMetrics
    ) -> None:
        self.persistence = PersistenceActivities(engine, metrics)
        self.events = EventActivities(producer, topic, metrics)

    @activity.defn(name="record_transitions")
    def record_transitions(self, batch: TransitionBatch) -> int:
        """Persist the batch in one transaction, then publish it; return how many were new."""
        first = self.persistence.persist(batch.records)
        self.events.publish(batch.records)
        return first
