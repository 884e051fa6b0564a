"""Run an Ingress on the session stack inside a test, write its commands, read a topic back."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from tests.utils.system_clients import trusted_clients
from tierflow.kafka_io import make_producer
from tierflow.submission import read_model_holds
from tierflow.system_clients import SystemClients
from workers.ingress import Ingress


def make_ingress(
    stack: Any,
    commands: str,
    dlq_topic: str,
    *,
    source: str | None = None,
    clients: SystemClients | None = None,
    group: str | None = None,
    **kw: Any,
) -> Ingress:
    """An Ingress on fresh topics and group; ``source`` names a client trusted with all grants.

    A group join that never completes (tierflow.kafka_fixes, item 3) is replaced after
    10 s, well inside the tests' 30 s waits, instead of the production 30 s.
    """
    return Ingress(
        stack.client,
        stack.bootstrap,
        task_queue=stack.task_queue,
        commands_topic=commands,
        dlq_topic=dlq_topic,
        group_id=group or f"ingress-test-{uuid.uuid4().hex[:8]}",
        clients=clients if clients is not None else trusted_clients(source or "/tests"),
        poll_timeout=kw.pop("poll_timeout", 0.2),
        recorded=kw.pop("recorded", read_model_holds(stack.engine)),
        rejoin_timeout=kw.pop("rejoin_timeout", 10.0),
        **kw,
    )


def command_topics(
    unique_topic: Callable[..., str], name: str, partitions: int = 1
) -> tuple[str, str]:
    """A fresh commands topic and its dead-letter topic, both named after ``name``."""
    return unique_topic(f"{name}-commands", partitions=partitions), unique_topic(f"{name}-dlq")


@asynccontextmanager
async def running(ingress: Ingress) -> AsyncIterator[Ingress]:
    """Run the ingress as a task on this loop; stop it (gracefully) on exit."""
    stop = asyncio.Event()
    task = asyncio.create_task(ingress.run(stop))
    try:
        yield ingress
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=60)


def send_commands(bootstrap: str, topic: str, key: str, events: Iterable[Any]) -> None:
    """Write command events (CloudEvents) to ``topic`` under one key, and flush them."""
    producer = make_producer(bootstrap)
    try:
        for event in events:
            producer.send(topic, key=key.encode(), value=event.to_json_bytes())
        producer.flush(30)
    finally:
        producer.close(timeout=5)


def read_partition(bootstrap: str, topic: str, partition: int = 0) -> list[Any]:
    """Every record of one partition, from its start to its end offset now."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        consumer.seek_to_beginning(tp)
        end = consumer.end_offsets([tp])[tp]
        found: list[Any] = []
        while consumer.position(tp) < end:
            for batch in consumer.poll(timeout_ms=500).values():
                found += batch
        return found
    finally:
        consumer.close()
