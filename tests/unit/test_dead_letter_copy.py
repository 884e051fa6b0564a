"""The DLQ copy of a record any producer may legally write: always sendable, never silent."""

from __future__ import annotations

import asyncio
import hashlib
from concurrent.futures import ThreadPoolExecutor

from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import (
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    TopicAuthorizationFailedError,
)
from prometheus_client import CollectorRegistry

from schemas import dlq
from schemas.lifecycle import Wording
from schemas.messages import N_, Said
from tierflow.dead_letter import MAX_COPY_BYTES, DeadLetter, copy_of
from workers.ingress.commands import Backoff
from workers.ingress.dead_letter import DeadLetterQueue
from workers.ingress.metrics import IngressMetrics, IngressStats

WHY = DeadLetter("not_json", "message has no value (tombstone)", attempts=2)


def record(key: bytes | None, value: bytes | None, headers: list | None = None) -> ConsumerRecord:
    return ConsumerRecord(
        topic="commands",
        partition=3,
        leader_epoch=-1,
        offset=41,
        timestamp=0,
        timestamp_type=0,
        key=key,
        value=value,
        headers=headers or [],
        checksum=None,
        serialized_key_size=-1,
        serialized_value_size=-1,
        serialized_header_size=-1,
    )


def headers_of(copy: tuple) -> dict[str, bytes]:
    return dict(copy[2])


def test_original_bytes_and_headers_travel_with_why_and_where() -> None:
    key, value, headers = copy_of(record(b"req-1", b"{bad", [("ce_id", b"x")]), WHY)
    assert (key, value) == (b"req-1", b"{bad")
    found = dict(headers)
    assert found["ce_id"] == b"x"
    assert found[dlq.DLQ_REASON] == b"not_json"
    assert (found[dlq.DLQ_TOPIC], found[dlq.DLQ_PARTITION], found[dlq.DLQ_OFFSET]) == (
        b"commands",
        b"3",
        b"41",
    )
    assert found[dlq.DLQ_ATTEMPTS] == b"2"


def test_no_key_and_no_value_becomes_an_empty_value_marked_null() -> None:
    key, value, headers = copy_of(record(None, None), WHY)
    assert (key, value) == (None, b"")
    assert dict(headers)[dlq.DLQ_VALUE_NULL] == b"1"


def test_headers_without_a_value_are_sent_empty_and_named() -> None:
    copy = copy_of(record(None, b"x", [("a", None), ("b", b"1"), ("c", None)]), WHY)
    found = headers_of(copy)
    assert (found["a"], found["b"], found["c"]) == (b"", b"1", b"")
    assert found[dlq.DLQ_NULL_HEADERS] == b"a,c"


def test_a_value_too_large_to_copy_is_replaced_by_its_size_and_digest() -> None:
    big = b"y" * (MAX_COPY_BYTES + 1)
    key, value, headers = copy_of(record(b"k", big, [("ce_id", b"1")]), WHY)
    found = dict(headers)
    assert value == b"" and key == b"k"
    assert found[dlq.DLQ_VALUE_SIZE] == str(len(big)).encode()
    assert found[dlq.DLQ_VALUE_SHA256] == hashlib.sha256(big).hexdigest().encode()
    assert found["ce_id"] == b"1"  # small headers still travel


def test_the_minimal_copy_keeps_only_size_digest_and_reasons() -> None:
    copy = copy_of(record(b"k", b"abc", [("h", b"v")]), WHY, minimal=True)
    found = headers_of(copy)
    assert copy[1] == b"" and "h" not in found
    assert found[dlq.DLQ_HEADERS_DROPPED] == b"1"
    assert found[dlq.DLQ_VALUE_SHA256] == hashlib.sha256(b"abc").hexdigest().encode()


def test_our_own_headers_are_written_afresh_when_a_parked_record_is_parked_again() -> None:
    copy = copy_of(record(None, b"x", [(dlq.DLQ_REASON, b"old")]), WHY)
    assert [v for k, v in copy[2] if k == dlq.DLQ_REASON] == [b"not_json"]


def test_a_worded_reason_travels_as_json_unless_it_is_too_long() -> None:
    """The wording lets `events tail` say the reason in the reader's language; one too long
    for a header is left out (the message header still says it, in English)."""
    said = Said(N_("message has %(size)d bytes, limit %(limit)d"), size=9, limit=8)
    worded = DeadLetter("oversize", str(said), wording=Wording.of(said))
    found = headers_of(copy_of(record(b"k", b"v"), worded))
    assert Wording.model_validate_json(found[dlq.DLQ_WORDING]).as_said() == said
    assert dlq.DLQ_WORDING not in headers_of(copy_of(record(b"k", b"v"), WHY))
    huge = Wording.of(Said(N_("%(first)s; %(then)s"), first="x" * 5000, then="y"))
    too_long = DeadLetter("schema_invalid", "x", wording=huge)
    assert dlq.DLQ_WORDING not in headers_of(copy_of(record(b"k", b"v"), too_long))


class Refusing:
    """A producer whose every send the broker refuses with ``error`` (as kafka-python raises
    it from ``send(...).get()``)."""

    def __init__(self, error: Exception | None) -> None:
        self.error, self.sends = error, 0

    def send(self, *args: object, **kwargs: object) -> Refusing:
        self.sends += 1
        if self.error is None:
            return self
        raise self.error

    def get(self, timeout: float) -> None:
        """The broker's acknowledgement of a send it took."""


class Flaky(Refusing):
    """Times out ``times`` times (the broker away a moment), then takes the copy."""

    def __init__(self, times: int) -> None:
        super().__init__(KafkaTimeoutError("no answer"))
        self.times = times

    def send(self, *args: object, **kwargs: object) -> Refusing:
        if self.sends >= self.times:
            self.error = None
        return super().send(*args, **kwargs)


def _park(producer: Refusing, halt_after: int) -> tuple[bool, IngressStats, CollectorRegistry]:
    registry, stats = CollectorRegistry(), IngressStats()
    queue = DeadLetterQueue(
        producer,  # type: ignore[arg-type]
        "dlq",
        Backoff(initial=0.001, maximum=0.001),
        IngressMetrics(registry),
        stats,
        ThreadPoolExecutor(1),
    )
    parked = asyncio.run(
        queue.park(
            record(b"k", b"{bad"),
            WHY,
            "unknown",
            asyncio.Event(),
            lambda: producer.sends >= halt_after,
        )
    )
    return parked, stats, registry


def test_a_dlq_topic_the_ingress_may_not_write_holds_the_record_not_drops_it() -> None:
    """No ACL to write the DLQ (an operator's slip): retried until the ingress halts, then
    left uncommitted for redelivery; before, every bad command was dropped and counted as
    parked."""
    refusing = Refusing(TopicAuthorizationFailedError("dlq"))
    parked, stats, registry = _park(refusing, halt_after=5)
    assert parked is False and refusing.sends >= 5
    assert stats.dead_lettered == 0
    assert registry.get_sample_value("tierflow_ingress_dead_letter_failures_total") == 0


def test_a_copy_no_broker_takes_is_passed_and_counted_as_a_failure_only() -> None:
    refusing = Refusing(MessageSizeTooLargeError("too large"))
    parked, stats, registry = _park(refusing, halt_after=100)
    assert parked is True and refusing.sends == 2  # the full copy, then the minimal one
    assert stats.dead_lettered == 0
    assert registry.get_sample_value("tierflow_ingress_dead_letter_failures_total") == 1


def test_a_dlq_send_that_times_out_is_retried_and_parked_once_taken() -> None:
    """The send runs on the Kafka thread and is awaited: a timeout is retried, and the record
    counts as parked only once the broker took it (it was counted at once, its failure lost)."""
    flaky = Flaky(times=2)
    parked, stats, _ = _park(flaky, halt_after=100)
    assert parked is True and flaky.sends == 3
    assert (stats.dead_lettered, stats.retries) == (1, 2)
