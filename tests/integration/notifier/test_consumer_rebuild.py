"""The notifier replaces a consumer that kafka-python leaves stuck (tierflow.kafka_fixes,
items 3 and 4) and reads on: events are handled, and a redelivered one adds no message."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from kafka import KafkaConsumer
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine

from tests.utils.eventually import eventually
from tests.utils.notifier_helpers import project, rows, warning_breach_escalation
from tests.utils.notifier_rig import NotifierRig, on_a_thread
from tests.utils.stuck_join import revoked_until_replaced
from tierflow.kafka_io import make_producer
from workers.notifier.consumer import EventConsumer
from workers.notifier.metrics import NotifierMetrics
from workers.notifier.planner import Planner
from workers.notifier.rules import load_rules
from workers.notifier.templates import Templates


class FirstFetchesNothing(EventConsumer):
    """The client's fault, simulated: the first consumer's fetcher has nothing to fetch."""

    def _new_consumer(self) -> KafkaConsumer:
        consumer = super()._new_consumer()
        if self.stats.rebuilds == 0:
            consumer._fetcher._fetchable_partitions = list
        return consumer


@contextmanager
def consuming(
    rig: NotifierRig, engine: Engine, kind: type[EventConsumer] = EventConsumer, **options: Any
) -> Iterator[EventConsumer]:
    """Run an event consumer of the rig's topic on a thread until the block ends."""
    producer = make_producer(rig.bootstrap)
    consumer = kind(
        rig.bootstrap,
        rig.topic,
        f"notifier-{rig.topic}",
        rig.dlq,
        Planner(engine, load_rules(), Templates(), "http://console"),
        producer,
        NotifierMetrics(CollectorRegistry()),
        **options,
    )
    try:
        with on_a_thread(consumer.run, "notifier consumer"):
            yield consumer
    finally:
        producer.close(timeout=5)


async def warnings_recorded(rig: NotifierRig, engine: Engine) -> int:
    """Publish a request's submission, assignment and warning; the warning's messages."""
    rig.publish(project(engine, warning_breach_escalation()[:3]))
    await eventually(
        lambda: len(rows(engine, rule="sla_warning")) >= 3, timeout=40, what="its messages"
    )
    return len(rows(engine, rule="sla_warning"))


async def test_a_notifier_consumer_that_stops_fetching_is_replaced(
    engine: Engine, people: None, rig: NotifierRig
) -> None:
    with consuming(rig, engine, FirstFetchesNothing, fetch_stall_seconds=2.0) as consumer:
        assert await warnings_recorded(rig, engine) == 3
    assert consumer.stats.rebuilds == 1
    assert consumer.stats.events == 3


async def test_a_notifier_consumer_stuck_in_its_join_is_replaced(
    engine: Engine, people: None, rig: NotifierRig
) -> None:
    with consuming(rig, engine, rejoin_timeout=1.0) as consumer:
        await eventually(lambda: consumer.ready, what="subscribed")
        await eventually(revoked_until_replaced(consumer), timeout=20, what="replaced")
        assert await warnings_recorded(rig, engine) == 3
    assert consumer.stats.rebuilds == 1
