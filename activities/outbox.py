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

from schemas.lifecycle import TransitionBatch
from tierflow.db.engine import begin_write
from tierflow.db.projection import apply_transition
from tierflow.kafka_io import publish_events
from tierflow.metrics import WorkerMetrics


class OutboxActivities:
    """Holds the engine and the producer so a worker opens each once."""

    def __init__(
        self, engine: Engine, producer: KafkaProducer, topic: str, metrics: WorkerMetrics
    ) -> None:
        self.engine = engine
        self.producer = producer
        self.topic = topic
        self.metrics = metrics

    @activity.defn(name="record_transitions")
    def record_transitions(self, batch: TransitionBatch) -> int:
        """Persist the batch in one transaction, then publish it; return how many were new."""
        with begin_write(self.engine) as conn:
            first = [record for record in batch.records if apply_transition(conn, record)]
        for record in first:  # counted after the commit, so retries and replays count once
            self.metrics.observe_first_write(record)
        try:
            publish_events(self.producer, self.topic, batch.records)
        except Exception:
            self.metrics.publish_errors.inc()
            raise
        for record in batch.records:
            self.metrics.events_published.labels(record.event_type.value).inc()
        return len(first)
