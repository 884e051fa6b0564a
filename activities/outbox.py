"""Activity that records a batch of lifecycle transitions: database first, then Kafka.

One call per outbox drain: the workflow waits for one activity round trip (and one workflow
task) however many records a step produced. A retry repeats both halves; the database write
is idempotent by event id and consumers dedupe events by CloudEvents id, so the effect is
at-least-once without duplicate rows.
"""

from __future__ import annotations

from kafka import KafkaProducer
from sqlalchemy import Engine
from temporalio import activity

from activities.events import EventPublisher
from activities.persistence import TransitionWriter
from schemas.lifecycle import TransitionBatch
from tierflow.metrics import WorkerMetrics


class OutboxActivities:
    """Persistence then publishing of a whole batch, in one activity."""

    def __init__(
        self, engine: Engine, producer: KafkaProducer, topic: str, metrics: WorkerMetrics
    ) -> None:
        self.writer = TransitionWriter(engine, metrics)
        self.publisher = EventPublisher(producer, topic, metrics)

    @activity.defn(name="record_transitions")
    def record_transitions(self, batch: TransitionBatch) -> int:
        """Persist the batch in one transaction, then publish it; return how many were new."""
        new = self.writer.persist(batch.records)
        self.publisher.publish(batch.records)
        return new
