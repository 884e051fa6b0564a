"""The Kafka producer a process starts with: security from settings, and a wait for the broker."""

from __future__ import annotations

from kafka import KafkaProducer

from tierflow.kafka_io import make_producer
from tierflow.settings import Settings, get_settings
from tierflow.startup import STARTUP_WAIT_SECONDS, wait_for
from tierflow.tls import kafka_security_kwargs


def connect_kafka(
    bootstrap: str, wait: float = STARTUP_WAIT_SECONDS, *, settings: Settings | None = None
) -> KafkaProducer:
    """Create a producer, retrying for ``wait`` seconds while the broker is unreachable."""
    security = kafka_security_kwargs(settings or get_settings())
    return wait_for(f"Kafka at {bootstrap}", wait, lambda: make_producer(bootstrap, **security))
