"""record_transitions on a real database and broker: one call persists then publishes a batch.

A retry (lost activity completion, worker crash after the commit) repeats the call: no second
audit row, no second metric count, and no second copy of an event on the topic, whether the
earlier execution was this process's (its send futures tell) or another's (read back).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from kafka import KafkaConsumer, TopicPartition
from kafka.errors import IllegalStateError
from prometheus_client import CollectorRegistry
from pydantic import ValidationError
from sqlalchemy import Engine, func
from sqlmodel import Session, select
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.outbox import OutboxActivities
from activities.persistence import TransitionWriter
from activities.sent_before import SETTLE
from schemas.domain import Tier
from schemas.events import CloudEvent
from schemas.lifecycle import TransitionBatch
from tests.integration.test_kafka_broker import read_all
from tests.utils.factories import RecordFactory, make_request
from tests.utils.stack_helpers import sample
from tierflow.db.models import ServiceRequest, Transition
from tierflow.kafka_io import make_producer, publish_events
from tierflow.metrics import WorkerMetrics
from tierflow.settings import Settings
from tierflow_dev.devstack.kafka import KafkaBroker


def batch_of_lifecycle() -> TransitionBatch:
    f = RecordFactory(make_request("req-outbox-1"))
    return TransitionBatch(
        records=[
            f.submitted(),
            f.assigned("zj-330106-sme", Tier.COUNTY),
            f.breached("response"),
            f.escalated("zj-330100-sme", Tier.MUNICIPAL),
        ]
    )


def on_topic(bootstrap: str, topic: str) -> list[str]:
    """Every event id on the topic, in each partition's order (the count from its end offsets)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        total = sum(consumer.end_offsets([TopicPartition(topic, p) for p in partitions]).values())
    finally:
        consumer.close()
    return [CloudEvent.model_validate_json(m.value).id for m in read_all(bootstrap, topic, total)]


def test_batch_is_persisted_once_and_published_once_on_every_try(
    db_engine: Engine, kafka_broker: KafkaBroker, unique_topic: Callable[..., str]
) -> None:
    topic = unique_topic("events", partitions=3)
    registry = CollectorRegistry()
    producer = make_producer(kafka_broker.bootstrap)
    outbox = OutboxActivities(db_engine, producer, topic, WorkerMetrics(registry))
    waits: list[float] = []
    outbox.publisher.sent_before.sleep = waits.append
    batch = batch_of_lifecycle()
    env = ActivityEnvironment()
    try:
        assert env.run(outbox.record_transitions, batch) == 4
        assert env.run(outbox.record_transitions, batch) == 0  # the retry writes nothing
    finally:
        producer.close()

    with Session(db_engine) as session:
        rows = session.exec(select(Transition).order_by(Transition.sequence)).all()
        assert [r.event_id for r in rows] == [r.event_id for r in batch.records]
        assert session.exec(select(ServiceRequest)).one().tier == Tier.MUNICIPAL
        assert session.exec(select(func.count()).select_from(Transition)).one() == 4
    # the retry knew its own landed sends: nothing sent again, nothing read back, no wait
    assert on_topic(kafka_broker.bootstrap, topic) == [r.event_id for r in batch.records]
    assert waits == []
    assert (
        sample(registry, "tierflow_transitions_total", event_type="submitted", tier="county") == 1
    )
    assert sample(registry, "tierflow_events_published_total", event_type="submitted") == 1
    assert sample(registry, "tierflow_events_already_sent_total", how="this_process") == 4


@pytest.mark.parametrize("sent_by_earlier", [4, 2, 0])
def test_another_process_sends_only_what_the_earlier_execution_did_not(
    sqlite_engine: Engine,
    kafka_broker: KafkaBroker,
    unique_topic: Callable[..., str],
    sent_by_earlier: int,
) -> None:
    """An earlier execution (another worker, since killed) wrote the rows and sent some events.

    The retry gives that sender's sends SETTLE after its commit, reads the topic back and
    sends the rest: every event once, in order.
    """
    topic = unique_topic("events", partitions=3)
    batch = batch_of_lifecycle()
    producer = make_producer(kafka_broker.bootstrap)
    registry = CollectorRegistry()
    try:
        committed = datetime.now(UTC)
        TransitionWriter(sqlite_engine).persist(batch.records)  # the earlier execution's commit
        publish_events(producer, topic, batch.records[:sent_by_earlier])  # and part of its sends
        retry = OutboxActivities(sqlite_engine, producer, topic, WorkerMetrics(registry))
        waits: list[float] = []
        retry.publisher.sent_before.sleep = waits.append
        assert ActivityEnvironment().run(retry.record_transitions, batch) == 0
        finished = datetime.now(UTC)
    finally:
        producer.close()

    assert on_topic(kafka_broker.bootstrap, topic) == [r.event_id for r in batch.records]
    [waited] = waits  # until the earlier commit plus SETTLE, no longer
    assert SETTLE - (finished - committed) <= timedelta(seconds=waited) <= SETTLE
    found = sample(registry, "tierflow_events_already_sent_total", how="on_topic") or 0
    assert found == sent_by_earlier
    published = sum(
        sample(registry, "tierflow_events_published_total", event_type=r.event_type.value) or 0
        for r in {r.event_type: r for r in batch.records}.values()
    )
    assert published == 4 - sent_by_earlier


def test_an_unreachable_broker_fails_the_call_after_the_commit(
    db_engine: Engine, kafka_broker: KafkaBroker, unique_topic: Callable[..., str]
) -> None:
    """The rows are committed before the send; the retry then only publishes."""
    registry = CollectorRegistry()
    producer = make_producer(kafka_broker.bootstrap)
    producer.close()  # a closed producer refuses every send, like a broker that is gone
    outbox = OutboxActivities(db_engine, producer, unique_topic("events"), WorkerMetrics(registry))
    with pytest.raises(IllegalStateError):
        ActivityEnvironment().run(outbox.record_transitions, batch_of_lifecycle())
    with Session(db_engine) as session:
        assert session.exec(select(func.count()).select_from(Transition)).one() == 4
    assert sample(registry, "tierflow_event_publish_errors_total") == 1


def test_a_record_the_producer_refuses_is_sent_on_the_retry_without_waiting(
    sqlite_engine: Engine, kafka_broker: KafkaBroker, unique_topic: Callable[..., str]
) -> None:
    """A record too large for the producer fails the call after the commit (an operator hold).

    The retry, with the record made small (an operator's resolve withholds its text), knows
    this process tried: it sends the rest at once, without waiting SETTLE for a sender that
    never was, and every event reaches the topic once, in order.
    """
    topic = unique_topic("events")
    f = RecordFactory(make_request("req-outbox-refused"))
    records = [f.submitted(), f.commented("x" * 25_000), f.assigned("zj-330106-sme")]
    producer = make_producer(kafka_broker.bootstrap, max_request_size=20_000)
    registry = CollectorRegistry()
    outbox = OutboxActivities(sqlite_engine, producer, topic, WorkerMetrics(registry))
    waits: list[float] = []
    outbox.publisher.sent_before.sleep = waits.append
    try:
        with pytest.raises(ApplicationError, match="Permanent.MessageSizeTooLargeError"):
            ActivityEnvironment().run(outbox.record_transitions, TransitionBatch(records=records))
        small = records[1].model_copy(update={"reason": None, "details": {"withheld": "too large"}})
        retry = TransitionBatch(records=[records[0], small, records[2]])
        assert ActivityEnvironment().run(outbox.record_transitions, retry) == 0
    finally:
        producer.close()

    assert waits == []  # the refused record was this process's: nobody else's send to await
    assert on_topic(kafka_broker.bootstrap, topic) == [r.event_id for r in records]
    assert sample(registry, "tierflow_events_already_sent_total", how="this_process") == 1


def test_a_deployment_names_the_source_of_its_events(
    sqlite_engine: Engine, kafka_broker: KafkaBroker, unique_topic: Callable[..., str]
) -> None:
    """Two provinces' deployments both number their events ``<request id>:<seq>``; a consumer
    of both tells them apart by the CloudEvents source each names (TIERFLOW_EVENT_SOURCE)."""
    settings = Settings(event_source="/tierflow/zj")
    topic = unique_topic("events")
    producer = make_producer(kafka_broker.bootstrap)
    outbox = OutboxActivities(
        sqlite_engine, producer, topic, WorkerMetrics(CollectorRegistry()), settings.event_source
    )
    batch = batch_of_lifecycle()
    try:
        ActivityEnvironment().run(outbox.record_transitions, batch)
    finally:
        producer.close()
    events = [
        CloudEvent.model_validate_json(m.value) for m in read_all(kafka_broker.bootstrap, topic, 4)
    ]
    assert {event.source for event in events} == {"/tierflow/zj"}
    assert Settings().event_source == "/tierflow/worker"  # unless a deployment names one
    for wrong in ("tierflow zj", "zj/events", "/" + "x" * 200):
        with pytest.raises(ValidationError, match="event_source"):
            Settings(event_source=wrong)
