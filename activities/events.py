"""The Kafka half of ``record_transitions``: lifecycle transitions as CloudEvents."""

from __future__ import annotations

from kafka import KafkaProducer

from schemas.lifecycle import TransitionRecord
from tierflow.kafka_io import publish_events
from tierflow.metrics import WorkerMetrics


class EventPublisher:
    """Holds the Kafka producer so a worker connects once; failures raise and retry."""

    def __init__(self, producer: KafkaProducer, topic: str, metrics: WorkerMetrics) -> None:
        self.producer = producer
        self.topic = topic
        self.metrics = metrics

    def publish(self, records: list[TransitionRecord]) -> None:
        """Send every event keyed by request id, then wait for all acks; count the outcome."""
        try:
            publish_events(self.producer, self.topic, records)
        except Exception:
            self.metrics.publish_errors.inc()
            raise
        for record in records:
            self.metrics.events_published.labels(record.event_type.value).inc()
