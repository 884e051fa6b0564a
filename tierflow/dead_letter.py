"""Park a record on the dead-letter topic as a copy that any broker will take.

Another producer may legally write records we cannot copy byte for byte: no key and no
value, headers without a value, a value larger than the dead-letter topic accepts. The copy
keeps the original bytes where they fit, and otherwise their size and SHA-256, so an
operator can still find the original by its topic, partition and offset.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from kafka import KafkaProducer
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import (
    InvalidRecordError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    UnsupportedVersionError,
)

from schemas import dlq
from schemas.lifecycle import Wording
from tierflow.kafka_io import SEND_TIMEOUT

MAX_COPY_BYTES = 900_000  # below the default 1 MiB of a producer request and a topic
MAX_TEXT = 4000  # of the reason message in its header
# Errors no retry will cure: the copy must change (or, as a last resort, be given up). Not
# a refused topic (no ACL to write it, a name the broker refuses): the operator cures that,
# and every record would be given up meanwhile; it is retried, holding the partition.
PERMANENT_ERRORS: tuple[type[BaseException], ...] = (
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    InvalidRecordError,
    UnsupportedVersionError,
    AssertionError,  # kafka-python's own checks of a record before it is sent
    TypeError,
    ValueError,
)

Headers = list[tuple[str, bytes]]


@dataclass(frozen=True)
class DeadLetter:
    """Why a record is parked: reason code, a readable message, and attempts made; the
    message's wording when it is a catalog entry, for people reading it in their language."""

    reason: str
    message: str
    attempts: int = 1
    wording: Wording | None = None
    command_id: str | None = None  # the CloudEvent's id, when the command was read
    source: str | None = None  # its source
    client: str | None = None  # the system client it was taken for


def copy_of(record: ConsumerRecord, why: DeadLetter, *, minimal: bool = False) -> tuple:
    """Return ``(key, value, headers)`` of the copy to park.

    ``minimal`` leaves out the original value and headers (size and digest only): the copy
    of last resort when the full one was refused for good.
    """
    headers: Headers = []
    null_headers: list[str] = []
    dropped = 0
    for name, raw in record.headers or []:
        if name.startswith(dlq.HEADER_PREFIX):
            continue  # re-parked: our own headers are written afresh below
        if raw is None:
            null_headers.append(name)
            raw = b""
        headers.append((name, bytes(raw)))
    value = record.value
    extra: Headers = []
    if value is None:
        extra.append((dlq.DLQ_VALUE_NULL, b"1"))
        value = b""
    size = len(value) + sum(len(k) + len(v) for k, v in headers)
    if minimal or size > MAX_COPY_BYTES:
        extra += [
            (dlq.DLQ_VALUE_SIZE, str(len(value)).encode()),
            (dlq.DLQ_VALUE_SHA256, hashlib.sha256(value).hexdigest().encode()),
        ]
        value = b""
        if minimal or sum(len(k) + len(v) for k, v in headers) > MAX_COPY_BYTES:
            dropped, headers = len(headers), []
            extra.append((dlq.DLQ_HEADERS_DROPPED, str(dropped).encode()))
    if null_headers and not dropped:
        extra.append((dlq.DLQ_NULL_HEADERS, ",".join(null_headers)[:MAX_TEXT].encode()))
    ours: Headers = [
        (dlq.DLQ_REASON, str(why.reason).encode()),
        (dlq.DLQ_MESSAGE, why.message[:MAX_TEXT].encode()),
        (dlq.DLQ_TOPIC, record.topic.encode()),
        (dlq.DLQ_PARTITION, str(record.partition).encode()),
        (dlq.DLQ_OFFSET, str(record.offset).encode()),
        (dlq.DLQ_ATTEMPTS, str(why.attempts).encode()),
    ]
    named = ((dlq.DLQ_COMMAND_ID, why.command_id), (dlq.DLQ_SOURCE, why.source))
    for header, text in (*named, (dlq.DLQ_CLIENT, why.client)):
        if text:
            ours.append((header, text[:MAX_TEXT].encode()))
    if why.wording is not None:
        worded = why.wording.model_dump_json().encode()
        if len(worded) <= MAX_TEXT:  # else the message alone says it
            ours.append((dlq.DLQ_WORDING, worded))
    key = record.key if record.key is not None else None
    return key, value, headers + extra + ours


def send(producer: KafkaProducer, topic: str, record: ConsumerRecord, why: DeadLetter) -> bool:
    """Park ``record`` (blocking); True if the full copy went, False if only the minimal one.

    A permanent refusal of the full copy falls back to the minimal copy; a permanent refusal
    of that one raises (the caller logs and counts it, and moves on). Transient errors raise
    for the caller to retry.
    """
    try:
        _send(producer, topic, *copy_of(record, why))
        return True
    except PERMANENT_ERRORS:
        _send(producer, topic, *copy_of(record, why, minimal=True))
        return False


def _send(
    producer: KafkaProducer, topic: str, key: bytes | None, value: bytes, headers: Headers
) -> None:
    producer.send(topic, key=key, value=value, headers=headers).get(timeout=SEND_TIMEOUT)
