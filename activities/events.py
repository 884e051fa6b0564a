"""Activity that publishes a lifecycle transition to Kafka as a CloudEvent."""

from __future__ import annotations

from kafka import KafkaProducer
from temporalio import activity

from schemas.lifecycle import TransitionRecord
from tierflow.kafka_io import publish_events
from tierflow.metrics import WorkerMetrics


class EventActivities:
    """Holds the Kafka producer so a worker connects once; failures raise and retry."""

    def __init__(self, producer: KafkaProducer, topic: str, metrics: WorkerMetrics) -> None:
        self.producer = producer
        self.topic = topic
        self.metrics = metrics

    @activity.defn(name="publish_event")
    def publish_event(self, record: TransitionRecord) -> None:
        """Send the event keyed by request id; consumers dedupe by its CloudEvents id."""
        self.publish([record])

    def publish(self, records: list[TransitionRecord]) -> None:
        """Send every event, then wait for all acks; count errors and sent events."""
        try:
            publish_events(self.producer, self.topic, records)
        except Exception:
            self.metrics.publish_errors.inc()
            raise
        for record in records:
            self.metrics.events_published.labels(record.event_type.value).inc()
