"""Kafka plumbing: producers, consumers and lifecycle-event publishing.

Delivery is at-least-once: producers wait for every send (acks=all, idempotent), consumers
commit by hand after the work is done, and consumers of events dedupe by CloudEvents id.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from kafka import KafkaConsumer, KafkaProducer
from kafka.consumer.fetcher import ConsumerRecord

from schemas.events import CloudEvent, event_from_transition
from schemas.lifecycle import TransitionRecord

log = logging.getLogger("tierflow.kafka")
SEND_TIMEOUT = 30.0  # seconds to wait for the broker's ack of one send


def make_producer(bootstrap: str, **overrides: Any) -> KafkaProducer:
    """Return a producer that waits for all in-sync replicas and never duplicates on retry."""
    config: dict[str, Any] = {
        "bootstrap_servers": bootstrap,
        "client_id": "tierflow-producer",
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": 5,
        "max_block_ms": 30_000,
        **overrides,
    }
    return KafkaProducer(**config)


def make_consumer(bootstrap: str, group: str, topics: list[str], **overrides: Any) -> KafkaConsumer:
    """Return a group consumer that starts from the beginning and commits only when told."""
    config: dict[str, Any] = {
        "bootstrap_servers": bootstrap,
        "group_id": group,
        "client_id": f"tierflow-{group}",
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        **overrides,
    }
    consumer = KafkaConsumer(**config)
    load_topic_metadata(consumer, topics)
    consumer.subscribe(topics)
    return consumer


def load_topic_metadata(consumer: KafkaConsumer, topics: list[str], timeout: float = 30.0) -> None:
    """Wait until the client knows the topics' partitions, so its first group join assigns them.

    A first join without them assigns nothing and forces an immediate rejoin, which
    kafka-python 3.0.12 can leave hanging for good (seen in the ingress and the bench's
    bare loop). A topic still unknown after ``timeout`` is logged and subscribed anyway.
    """
    deadline = time.monotonic() + timeout
    for topic in topics:
        while not consumer.partitions_for_topic(topic):
            if time.monotonic() > deadline:
                log.warning("topic %s has no partitions yet; subscribing anyway", topic)
                break
            time.sleep(0.2)


def publish_event(
    producer: KafkaProducer,
    topic: str,
    record: TransitionRecord,
    source: str = "/tierflow/worker",
) -> CloudEvent:
    """Publish one transition as a CloudEvent keyed by request id; raise if the broker refuses."""
    return publish_events(producer, topic, [record], source)[0]


def publish_events(
    producer: KafkaProducer,
    topic: str,
    records: list[TransitionRecord],
    source: str = "/tierflow/worker",
) -> list[CloudEvent]:
    """Send every transition, then wait for all acks (the idempotent producer keeps order).

    Structured mode with no ``ce_*`` headers, as the binding has it: a consumer that sees
    ``ce_*`` headers reads the message as binary mode.
    """
    events, futures = [], []
    for record in records:
        event = event_from_transition(record, source=source)
        futures.append(_send(producer, topic, event))
        events.append(event)
    for future in futures:
        future.get(timeout=SEND_TIMEOUT)
    return events


def publish_cloudevent(producer: KafkaProducer, topic: str, event: CloudEvent) -> None:
    """Publish any CloudEvent in structured mode, keyed by its subject; raise on failure."""
    _send(producer, topic, event).get(timeout=SEND_TIMEOUT)


def _send(producer: KafkaProducer, topic: str, event: CloudEvent) -> Any:
    """Send ``event`` as the CloudEvents Kafka binding's structured-mode message."""
    message = event.to_kafka()
    key = message.key.encode() if isinstance(message.key, str) else message.key
    return producer.send(topic, value=message.value, key=key, headers=list(message.headers.items()))


def header(msg: ConsumerRecord, name: str) -> str | None:
    """Return the last value of a header as text, or None."""
    values = [v for k, v in (msg.headers or []) if k == name]
    return values[-1].decode(errors="replace") if values and values[-1] is not None else None
