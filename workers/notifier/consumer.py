"""The event consumer: read lifecycle events, record their notifications, commit what is done.

A partition's offset is committed only past records whose notifications are recorded (or
that were parked on the dead-letter topic), so a crash redelivers and the unique key turns the
redelivery into nothing; a commit that fails is made again after the next poll. A record that
can never be read goes to the dead-letter topic with a reason, and the partition moves on; a
database outage is waited out (the record is retried, not skipped). Lag and stalls per
partition feed ``/healthz`` and the metrics (``tierflow.partition_progress``). A consumer whose
group join never finishes, or that stops fetching a partition with events waiting, is
replaced (``tierflow.kafka_fixes``, items 3 and 4). kafka-python is not thread-safe: the whole
loop runs on one thread.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from schemas import dlq
from schemas.events import TYPE_PREFIX, CloudEvent, described
from schemas.lifecycle import EventType, TransitionRecord, Wording
from schemas.messages import N_, Said
from tierflow import constants
from tierflow.dead_letter import DeadLetter
from tierflow.dead_letter import send as park
from tierflow.kafka_consumer import commit, group_consumer, poll
from tierflow.kafka_fixes import REPLACED_CLOSE_MS, FetchWatch, JoinWatch
from tierflow.partition_progress import Health, Partitions
from workers.notifier.metrics import NotifierMetrics
from workers.notifier.planner import Planner, record_rows

log = logging.getLogger("tierflow.notifier")
# how long a retry waits to learn where a partition ends (the broker may be away too)
END_OFFSET_TIMEOUT_MS = 2_000
_TYPE_RE = re.compile(r"^org\.tierflow\.request\.([a-z_]+)\.v1$")
EVENT_TYPES = frozenset(t.value for t in EventType)
TOO_DEEP = N_("value is not JSON: nested too deep")
# An event whose notifications fail to plan for another reason than the database (a text no
# template can render, a bug) is tried this often, then parked: it never holds the partition.
PLAN_ATTEMPTS = 3
UNPLANNABLE = N_("its notifications could not be planned (%(error)s)")


class Unreadable(ValueError):
    """A record that is not a lifecycle event we can read; ``reason`` is a DLQ reason code,
    ``message`` its English words (a ``Said``: also in an operator's language)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason, self.message = reason, message

    def dead_letter(self) -> DeadLetter:
        return DeadLetter(self.reason, self.message, wording=Wording.of(self.message))


def read_event(value: bytes | None) -> tuple[CloudEvent, TransitionRecord]:
    """Parse a structured-mode lifecycle event; raise Unreadable naming what is wrong."""
    if not value:
        raise Unreadable(dlq.DeadLetterReason.NOT_JSON, Said(N_("message value is empty")))
    try:
        raw = json.loads(value)
    except (UnicodeDecodeError, ValueError) as exc:
        raise Unreadable(dlq.DeadLetterReason.NOT_JSON, f"value is not JSON: {exc}") from None
    except RecursionError:  # nested deeper than the parser goes
        raise Unreadable(dlq.DeadLetterReason.NOT_JSON, Said(TOO_DEEP)) from None
    try:
        event = CloudEvent.model_validate(raw)
    except ValidationError as exc:
        raise Unreadable(dlq.DeadLetterReason.NOT_CLOUDEVENT, described(exc)[1]) from None
    match = _TYPE_RE.fullmatch(event.type)
    if match is None or match.group(1) not in EVENT_TYPES:
        not_ours = N_("type %(type)r is not %(prefix)s<event>.v1 with a known event")
        raise Unreadable(
            dlq.DeadLetterReason.UNKNOWN_TYPE, Said(not_ours, type=event.type, prefix=TYPE_PREFIX)
        )
    try:
        record = TransitionRecord.model_validate(event.data)
    except ValidationError as exc:
        raise Unreadable(dlq.DeadLetterReason.SCHEMA_INVALID, described(exc, "data")[1]) from None
    if record.event_id != event.id:
        differs = N_("data.event_id %(event_id)r differs from the CloudEvents id %(id)r")
        raise Unreadable(
            dlq.DeadLetterReason.SCHEMA_INVALID,
            Said(differs, event_id=record.event_id, id=event.id),
        )
    return event, record


@dataclass
class ConsumerStats:
    events: int = 0
    dead_lettered: int = 0
    rows: int = 0
    rebuilds: int = 0  # consumers replaced (tierflow.kafka_fixes, items 3 and 4)


class EventConsumer:
    """Consume the lifecycle events topic as one member of the notifier's group."""

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        group_id: str,
        dlq_topic: str,
        planner: Planner,
        producer: KafkaProducer,
        metrics: NotifierMetrics,
        *,
        consumer_config: dict[str, Any] | None = None,
        max_records: int = 100,
        retry_pause: float = 1.0,
        stall_seconds: float = constants.NOTIFIER_STALL_SECONDS,
        rejoin_timeout: float = constants.REJOIN_SECONDS,
        fetch_stall_seconds: float = constants.FETCH_STALL_SECONDS,
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        self.bootstrap, self.topic, self.group_id, self.dlq_topic = (
            bootstrap,
            topic,
            group_id,
            dlq_topic,
        )
        self.planner, self.producer, self.metrics = planner, producer, metrics
        self.consumer_config = consumer_config or {}
        self.max_records, self.retry_pause = max_records, retry_pause
        self.on_batch = on_batch
        self.stats = ConsumerStats()
        self.started = False  # a consumer existed once: a missing one is lost, not starting
        self.consumer: KafkaConsumer | None = None
        self.partitions = Partitions(stall_seconds)
        metrics.partitions.partitions = self.partitions
        self.rejoin_timeout = rejoin_timeout
        self.join_watch = JoinWatch()
        self.fetch_watch = FetchWatch(fetch_stall_seconds)

    @property
    def ready(self) -> bool:
        return self.consumer is not None

    def health(self) -> Health:
        """``starting`` before the first consumer exists; ``degraded`` once one was lost and
        not replaced, or while a partition has events waiting but its committed offset has
        not moved for ``stall_seconds``; else ``ok``."""
        if self.consumer is None:
            return Health("degraded" if self.started else "starting")
        return self.partitions.health()

    def run(self, stop: threading.Event) -> None:
        """Consume until ``stop`` is set, then commit what is done and leave the group."""
        self.consumer = self._new_consumer()
        self.started = True
        try:
            while not stop.is_set():
                try:
                    if self.consumer is None:  # a replacement failed: try again
                        self.consumer = self._new_consumer()
                    self.run_once(self.consumer, stop)
                    self._watch(self.consumer)
                except Exception:  # noqa: BLE001 - a broker hiccup must not end the consumer
                    log.exception("notifier loop error; retrying")
                    stop.wait(self.retry_pause)
        finally:
            if self.consumer is not None:
                self.consumer.close(autocommit=False)

    def _new_consumer(self) -> KafkaConsumer:
        consumer = group_consumer(
            self.bootstrap,
            self.group_id,
            [self.topic],
            max_records=self.max_records,
            config=self.consumer_config,
        )
        self.join_watch = JoinWatch()
        consumer.subscribe([self.topic], listener=self.join_watch)
        log.info("notifier consuming %s as group %s", self.topic, self.group_id)
        return consumer

    def _watch(self, consumer: KafkaConsumer) -> None:
        """Replace the consumer if its group join never finishes or it stopped fetching a
        partition with events waiting (tierflow.kafka_fixes, items 3 and 4). What it had
        finished but not committed comes again, and is recorded as nothing new."""
        why = None
        if self.join_watch.stuck_for() > self.rejoin_timeout:
            why = f"group join unfinished for {self.rejoin_timeout:.0f} s"
        elif self.fetch_watch.due():
            why = self.fetch_watch.check(consumer)
        if why is None:
            return
        log.warning("%s; replacing the consumer", why)
        self.stats.rebuilds += 1
        self.fetch_watch.forget()
        self.consumer = None
        try:
            consumer.close(autocommit=False, timeout_ms=REPLACED_CLOSE_MS)
        except Exception as exc:  # noqa: BLE001 - the old client is dropped either way
            log.warning("closing the stuck consumer failed: %s", exc)
        self.partitions.follow(set(), {})
        self.consumer = self._new_consumer()

    def run_once(self, consumer: KafkaConsumer, stop: threading.Event) -> None:
        """Poll once; handle each record in order; commit each partition past what is done."""
        polled = poll(consumer, 1.0)
        self.partitions.follow(polled.assignment, polled.highwaters, polled.records)
        handled = 0
        for tp, records in polled.records.items():
            progress = self.partitions.get(tp)
            for record in records:
                if not progress.take(record.offset):
                    continue  # fetched again after a refused commit: done already
                if not self._handle(record, stop):
                    break  # stopping: the rest is redelivered
                progress.finish(record.offset)
                handled += 1
            if stop.is_set():
                break
        due = self.partitions.due()
        if due and commit(consumer, due):
            self.partitions.committed(due)
        if handled and self.on_batch is not None:
            self.on_batch(sum(len(r) for r in polled.records.values()))

    def _handle(self, record: ConsumerRecord, stop: threading.Event) -> bool:
        """Bring one record to a committable end; False if stopped before that."""
        try:
            event, transition = read_event(record.value)
        except Unreadable as exc:
            return self._park(record, exc, stop)
        failures = 0
        while not stop.is_set():
            try:
                rows = self.planner.plan(event, transition)
                new = record_rows(self.planner.engine, rows)
            except SQLAlchemyError as exc:  # the database may be down: wait, never skip
                log.warning(
                    "event %s not recorded yet (%s); retrying", event.id, type(exc).__name__
                )
                self._note_end(record)
                stop.wait(self.retry_pause)
                continue
            except Exception as exc:  # noqa: BLE001 - the event's own fault (or a bug): park it
                failures += 1
                if failures < PLAN_ATTEMPTS:
                    log.warning("event %s not planned (%s); retrying", event.id, type(exc).__name__)
                    stop.wait(self.retry_pause)
                    continue
                log.exception("event %s cannot be planned; dead-lettering it", event.id)
                said = Said(UNPLANNABLE, error=type(exc).__name__)
                return self._park(record, Unreadable(dlq.DeadLetterReason.UNPLANNABLE, said), stop)
            self._count(rows, new)
            return True
        return False

    def _note_end(self, record: ConsumerRecord) -> None:
        """Ask the broker where the partition ends: while a record waits for the database
        nothing is polled, and the lag (what ``/healthz`` and the metric report) would stand
        at what the last poll saw, however many events arrive meanwhile."""
        tp = TopicPartition(record.topic, record.partition)
        if self.consumer is None:
            return
        try:
            found = self.consumer.end_offsets([tp], timeout_ms=END_OFFSET_TIMEOUT_MS)
            end = found[tp]
        except Exception as exc:  # noqa: BLE001 - the broker may be away too: keep the last
            log.debug("end offset of %s unknown (%s)", tp, type(exc).__name__)
            return
        self.partitions.get(tp).set_highwater(end)

    def _count(self, rows: list[dict[str, Any]], new: int) -> None:
        self.stats.events += 1
        self.stats.rows += new
        outcome = "nothing_to_send" if not rows else ("planned" if new else "duplicate")
        self.metrics.events.labels(outcome).inc()
        if new == len(rows):  # a first reading: count what it recorded
            for row in rows:
                self.metrics.planned.labels(row["channel"]).inc()
                if row["status"] == "sent":  # the inbox: delivered by being written
                    self.metrics.sent.labels(row["channel"]).inc()

    def _park(self, record: ConsumerRecord, exc: Unreadable, stop: threading.Event) -> bool:
        while not stop.is_set():
            try:
                park(self.producer, self.dlq_topic, record, exc.dead_letter())
            except Exception as err:  # noqa: BLE001 - broker trouble: try again, never skip
                log.warning("dead-letter send failed (%s); retrying", type(err).__name__)
                stop.wait(self.retry_pause)
                continue
            self.stats.dead_lettered += 1
            self.metrics.events.labels("dead_lettered").inc()
            self.metrics.event_dead_letters.labels(exc.reason).inc()
            log.warning(
                "dead-lettered %s[%d]@%d: %s", record.topic, record.partition, record.offset,
                exc.reason,
            )  # fmt: skip
            return True
        return False
