"""Kafka plumbing: producers, consumers and lifecycle-event publishing.

Delivery is at-least-once: producers wait for every send (acks=all, idempotent), and consumers
commit by hand after the work is done. A retried outbox batch finds out what an earlier
attempt already sent before it sends (``activities.sent_before``).
"""

from __future__ import annotations

import json
import logging
import time
from datetime import datetime
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from kafka.partitioner.default import murmur2
from kafka.producer.future import FutureRecordMetadata

from schemas.events import EVENT_SOURCE, CloudEvent, event_from_transition
from schemas.lifecycle import TransitionRecord

log = logging.getLogger("tierflow.kafka")
SEND_TIMEOUT = 30.0  # seconds to wait for the broker's ack of one send
# kafka-python's own delivery timeout (120 s) stays: a shorter one expires batches during a
# broker outage, and an idempotent producer that has expired a batch can stay without a
# producer id for good in kafka-python 3.0.12 (every later send pending).
# A request to a broker cut off from the network fails after this (kafka-python's default is
# 30 s): producers and group consumers then refresh their metadata and go to the partition's
# new leader, so a cut-off broker stalls its partitions for about this long after the brokers
# fence it; a read-back fails soon and is retried.
REQUEST_TIMEOUT_MS = 10_000
READ_BACK_TIMEOUT = 8.0  # seconds to read a topic's recent records back, at the most
# kafka-python keeps metrics of its own (sensors updated on every send and fetch). Nothing
# reads them: tierflow exports its own. Recording them took about 1 % of the bench process's
# CPU in `tierflow bench lifecycle`, so the clients made here and by `tierflow.kafka_consumer`
# turn them off.
CLIENT_METRICS = {"metrics_enabled": False}


def make_producer(bootstrap: str, **overrides: Any) -> KafkaProducer:
    """Return a producer that waits for all in-sync replicas and never duplicates on retry."""
    config: dict[str, Any] = {
        "bootstrap_servers": bootstrap,
        "client_id": "tierflow-producer",
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": 5,
        "max_block_ms": 30_000,
        "request_timeout_ms": REQUEST_TIMEOUT_MS,
        **CLIENT_METRICS,
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
        **CLIENT_METRICS,
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
    source: str = EVENT_SOURCE,
) -> CloudEvent:
    """Publish one transition as a CloudEvent keyed by request id; raise if the broker refuses."""
    return publish_events(producer, topic, [record], source)[0]


def publish_events(
    producer: KafkaProducer,
    topic: str,
    records: list[TransitionRecord],
    source: str = EVENT_SOURCE,
) -> list[CloudEvent]:
    """Send every transition, then wait for all acks (the idempotent producer keeps order).

    Structured mode with no ``ce_*`` headers, as the binding has it: a consumer that sees
    ``ce_*`` headers reads the message as binary mode.
    """
    sent = send_events(producer, topic, records, source)
    for _, future in sent:
        future.get(timeout=SEND_TIMEOUT)
    return [event for event, _ in sent]


def send_events(
    producer: KafkaProducer,
    topic: str,
    records: list[TransitionRecord],
    source: str = EVENT_SOURCE,
) -> list[tuple[CloudEvent, FutureRecordMetadata]]:
    """Queue every transition for sending and return each event with its send's future."""
    return [send_event(producer, topic, record, source) for record in records]


def send_event(
    producer: KafkaProducer,
    topic: str,
    record: TransitionRecord,
    source: str = EVENT_SOURCE,
) -> tuple[CloudEvent, FutureRecordMetadata]:
    """Queue one transition for sending; raises if the producer refuses it outright."""
    event = event_from_transition(record, source=source)
    return event, _send(producer, topic, event)


def publish_cloudevent(producer: KafkaProducer, topic: str, event: CloudEvent) -> None:
    """Publish any CloudEvent in structured mode, keyed by its subject; raise on failure."""
    _send(producer, topic, event).get(timeout=SEND_TIMEOUT)


def _send(producer: KafkaProducer, topic: str, event: CloudEvent) -> Any:
    """Send ``event`` as the CloudEvents Kafka binding's structured-mode message."""
    message = event.to_kafka()
    key = message.key.encode() if isinstance(message.key, str) else message.key
    return producer.send(topic, value=message.value, key=key, headers=list(message.headers.items()))


def make_reader(**overrides: Any) -> KafkaConsumer:
    """Return a consumer outside any group, for reading a topic's records back."""
    config: dict[str, Any] = {
        "group_id": None,
        "client_id": "tierflow-reader",
        "request_timeout_ms": REQUEST_TIMEOUT_MS,
        "enable_auto_commit": False,
        **CLIENT_METRICS,
        **overrides,
    }
    return KafkaConsumer(**config)


def reader_like(producer: KafkaProducer, **overrides: Any) -> KafkaConsumer:
    """Return a reader that connects as ``producer`` does (bootstrap, TLS, SASL)."""
    connection = {
        key: value
        for key, value in producer.config.items()
        if key in KafkaConsumer.DEFAULT_CONFIG
        and (key == "bootstrap_servers" or key.startswith(("security_", "ssl_", "sasl_")))
    }
    return make_reader(**{**connection, **overrides})


def partition_of(key: bytes, partitions: set[int]) -> int:
    """The partition the producers' default partitioner gives ``key`` (murmur2, as Java's)."""
    ordered = sorted(partitions)
    return ordered[(murmur2(key) & 0x7FFFFFFF) % len(ordered)]


def event_ids_between(
    reader: KafkaConsumer, topic: str, key: bytes, since: datetime, until: datetime
) -> set[str]:
    """Return the CloudEvents ids of the records keyed ``key`` stamped from ``since`` to ``until``.

    Reads only the key's partition, from its first record stamped ``since`` or later to its
    first stamped after ``until`` (or its end): a bounded window however old it is. Raises
    TimeoutError if that takes longer than READ_BACK_TIMEOUT (the caller retries).
    """
    partitions = reader.partitions_for_topic(topic)
    if not partitions:
        return set()
    tp = TopicPartition(topic, partition_of(key, partitions))
    reader.assign([tp])
    start = reader.offsets_for_times({tp: _ms(since)})[tp]
    stop = reader.offsets_for_times({tp: _ms(until) + 1})[tp]
    end = stop.offset if stop is not None else reader.end_offsets([tp])[tp]
    if start is None or start.offset >= end:
        return set()
    reader.seek(tp, start.offset)
    found: set[str] = set()
    deadline = time.monotonic() + READ_BACK_TIMEOUT
    while reader.position(tp) < end:
        if time.monotonic() > deadline:
            raise TimeoutError(f"reading {topic} back took over {READ_BACK_TIMEOUT:.0f} s")
        for msg in reader.poll(timeout_ms=500).get(tp, []):
            if msg.offset < end and msg.key == key:
                found.add(_event_id(msg.value))
    found.discard("")
    return found


def _ms(instant: datetime) -> int:
    return int(instant.timestamp() * 1000)


def _event_id(value: bytes | None) -> str:
    """The ``id`` of a structured-mode CloudEvent, or "" when the value is not one."""
    try:
        parsed = json.loads(value or b"")
    except ValueError:
        return ""
    return str(parsed.get("id", "")) if isinstance(parsed, dict) else ""


def header(msg: ConsumerRecord, name: str) -> str | None:
    """Return the last value of a header as text, or None."""
    values = [v for k, v in (msg.headers or []) if k == name]
    return values[-1].decode(errors="replace") if values and values[-1] is not None else None
