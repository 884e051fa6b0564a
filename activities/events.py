"""Activity that publishes a lifecycle transition to Kafka as a CloudEvent."""

from __future__ import annotations

from kafka import KafkaProducer
from temporalio import activity

from schemas.lifecycle import TransitionRecord
from tierflow.kafka_io import publish_event
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
        try:
            publish_event(self.producer, self.topic, record)
        except Exception:
            self.metrics.publish_errors.inc()
            raise
        self.metrics.events_published.labels(record.event_type.value).inc()
