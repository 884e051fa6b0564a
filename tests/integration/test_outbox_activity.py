"""record_transitions on a real database and broker: one call persists then publishes a batch.

A retry (lost activity completion, worker crash after the commit) repeats the call: no second
audit row, no second metric count, and the events go out again with the same CloudEvents ids.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from kafka.errors import IllegalStateError
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine, func
from sqlmodel import Session, select
from temporalio.testing import ActivityEnvironment

from activities.outbox import OutboxActivities
from schemas.domain import Tier
from schemas.events import CloudEvent
from schemas.lifecycle import TransitionBatch
from tests.integration.test_kafka_broker import read_all
from tests.utils.factories import RecordFactory, make_request
from tests.utils.stack_helpers import sample
from tierflow.db.models import ServiceRequest, Transition
from tierflow.kafka_io import make_producer
from tierflow.metrics import WorkerMetrics
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


def test_batch_is_persisted_once_and_published_in_order_on_every_try(
    db_engine: Engine, kafka_broker: KafkaBroker, unique_topic: Callable[..., str]
) -> None:
    topic = unique_topic("events", partitions=3)
    registry = CollectorRegistry()
    producer = make_producer(kafka_broker.bootstrap)
    outbox = OutboxActivities(db_engine, producer, topic, WorkerMetrics(registry))
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
    got = read_all(kafka_broker.bootstrap, topic, 8)
    ids = [CloudEvent.model_validate_json(m.value).id for m in got]
    expected = [r.event_id for r in batch.records]
    assert ids == expected + expected  # one partition per request, each try in order
    assert len({m.partition for m in got}) == 1
    assert (
        sample(registry, "tierflow_transitions_total", event_type="submitted", tier="county") == 1
    )
    assert sample(registry, "tierflow_events_published_total", event_type="submitted") == 2


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
