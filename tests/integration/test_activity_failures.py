"""The real activities tell permanent failures (non-retryable) from transient ones.

A permanent failure is raised as a non-retryable ``ApplicationError`` whose type names the
error, so the workflow holds the request for an operator; a transient one is raised as it is,
and Temporal retries the activity.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine, func
from sqlmodel import Session, select
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.outbox import OutboxActivities
from activities.policy import PolicyActivities
from schemas.domain import Category, Grade, Priority, Tier
from schemas.lifecycle import TransitionBatch
from schemas.policy import PolicyRequest
from tests.utils.factories import RecordFactory, make_request
from tierflow.db.engine import make_engine
from tierflow.db.models import Transition
from tierflow.kafka_io import make_producer
from tierflow.metrics import WorkerMetrics
from tierflow.policy import load_policy_file
from tierflow_dev.devstack.kafka import KafkaBroker


def outbox(engine: Engine, bootstrap: str, topic: str) -> OutboxActivities:
    return OutboxActivities(
        engine, make_producer(bootstrap), topic, WorkerMetrics(CollectorRegistry())
    )


def test_a_record_the_database_refuses_is_permanent_and_named(
    db_engine: Engine, kafka_broker: KafkaBroker, unique_topic: Callable[..., str]
) -> None:
    f = RecordFactory(make_request("req-bad-rating"))
    good = [f.submitted(), f.assigned("zj-330106-sme", Tier.COUNTY)]
    bad = f.rated(5)
    bad.details["rating"] = 7  # a bug upstream: the projection refuses it on every try
    activities = outbox(db_engine, kafka_broker.bootstrap, unique_topic("events"))
    try:
        with pytest.raises(ApplicationError) as err:
            ActivityEnvironment().run(
                activities.record_transitions, TransitionBatch(records=[*good, bad])
            )
    finally:
        activities.publisher.producer.close()
    assert err.value.non_retryable and err.value.type == "Permanent.ValueError"
    assert err.value.details == (bad.event_id,)  # the workflow withholds this one record
    assert "details.rating must be 1-5" in err.value.message
    assert err.value.__cause__ is None  # nothing unfiltered travels into the history
    with Session(db_engine) as session:  # the batch rolled back as one transaction
        assert session.exec(select(func.count()).select_from(Transition)).one() == 0


def test_an_event_larger_than_kafka_accepts_is_permanent(
    db_engine: Engine, kafka_broker: KafkaBroker, unique_topic: Callable[..., str]
) -> None:
    f = RecordFactory(make_request("req-huge-event"))
    huge = f.submitted()
    huge.details["note"] = "x" * 2_000_000  # over the producer's 1 MB request limit
    activities = outbox(db_engine, kafka_broker.bootstrap, unique_topic("events"))
    try:
        with pytest.raises(ApplicationError) as err:
            ActivityEnvironment().run(
                activities.record_transitions, TransitionBatch(records=[huge])
            )
    finally:
        activities.publisher.producer.close()
    assert err.value.non_retryable and err.value.type == "Permanent.MessageSizeTooLargeError"


def test_a_database_not_migrated_yet_is_transient(
    empty_db_url: str, kafka_broker: KafkaBroker, unique_topic: Callable[..., str]
) -> None:
    """Missing tables (migrations not run yet) pass once they are there: Temporal retries."""
    engine = make_engine(empty_db_url)
    activities = outbox(engine, kafka_broker.bootstrap, unique_topic("events"))
    f = RecordFactory(make_request("req-early"))
    try:
        with pytest.raises(Exception) as err:
            ActivityEnvironment().run(
                activities.record_transitions, TransitionBatch(records=[f.submitted()])
            )
    finally:
        activities.publisher.producer.close()
        engine.dispose()
    assert not isinstance(err.value, ApplicationError)  # retried, not held for an operator


# a request the policy is pinned for
FINANCING = PolicyRequest(
    category=Category.FINANCING,
    priority=Priority.NORMAL,
    grade=Grade.NONE,
    submitted_at=datetime(2026, 3, 2, 2, tzinfo=UTC),
)


async def test_a_policy_that_fails_validation_is_permanent() -> None:
    policy = load_policy_file()
    broken_calendar = policy.calendar.model_copy(update={"working_periods": [("17:30", "09:00")]})
    broken = policy.model_copy(update={"calendar": broken_calendar})  # skips validation
    with pytest.raises(ApplicationError) as err:
        await ActivityEnvironment().run(PolicyActivities(broken).load_policy, FINANCING)
    assert err.value.non_retryable and err.value.type.startswith("Permanent.")
    assert err.value.message.startswith("load_policy: ValueError: ")
    assert "end must be after start" in err.value.message


async def test_a_policy_figure_no_deadline_can_be_computed_from_is_permanent() -> None:
    """A policy recorded before its figures were bounded (an infinite factor) overflows when
    a request is pinned: held for an operator, not retried for ever by every new request."""
    policy = load_policy_file()
    national = policy.targets.tier[Tier.NATIONAL].model_copy(
        update={"resolution_factor": float("inf")}  # skips validation
    )
    tiers = {**policy.targets.tier, Tier.NATIONAL: national}
    broken = policy.model_copy(
        update={"targets": policy.targets.model_copy(update={"tier": tiers})}
    )
    with pytest.raises(ApplicationError) as err:
        await ActivityEnvironment().run(PolicyActivities(broken).load_policy, FINANCING)
    assert err.value.non_retryable and err.value.type.startswith("Permanent.")
    assert err.value.message.startswith("load_policy: OverflowError: ")
