"""End to end through Kafka: command in -> workflow on the dev server -> events, DB row, metrics.

The ingress runs as a task on the session loop (next to the stack's real worker) with its
own consumer group and fresh command/DLQ topics; events come from the real events topic.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from prometheus_client import CollectorRegistry
from sqlmodel import Session

from schemas.domain import Role, State
from schemas.events import SUBMIT, command_event
from tests.fixtures.kafka import unique_topic_name
from tests.utils.factories import make_request
from tests.utils.ingress_helpers import make_ingress
from tests.utils.raw_producer import create_topic
from tests.utils.stack_helpers import eventually, read_events
from tierflow import constants
from tierflow.db import repository
from tierflow.health import serve_metrics_and_health
from tierflow.kafka_io import make_producer

SOURCE = "/tests/e2e"


def _send(producer: Any, topic: str, command: str, data: dict, subject: str) -> str:
    event = command_event(command, data, source=SOURCE, subject=subject)
    producer.send(topic, key=subject.encode(), value=event.to_json_bytes()).get(timeout=30)
    return event.id


async def _events(stack: Any, request_id: str, expect: int) -> list[dict]:
    """Read the request's lifecycle events off the real events topic (in a thread)."""
    return await asyncio.to_thread(
        read_events, stack.bootstrap, request_id, timeout=30.0, expect=expect
    )


async def test_kafka_command_drives_the_lifecycle(stack, unique_topic) -> None:
    commands, dlq = unique_topic("e2e-commands", partitions=3), unique_topic("e2e-dlq")
    registry = CollectorRegistry()
    ingress = make_ingress(stack, commands, dlq, source=SOURCE, registry=registry)
    health = serve_metrics_and_health(0, registry, lambda: ingress.ready)
    stop = asyncio.Event()
    running = asyncio.create_task(ingress.run(stop))
    producer = make_producer(stack.bootstrap)
    try:
        req = make_request()
        rid = req.request_id
        submit_id = _send(producer, commands, SUBMIT, req.model_dump(mode="json"), rid)

        # the workflow started on the dev server and published its first events
        events = await _events(stack, rid, expect=2)
        assert [e["type"] for e in events] == [
            "org.tierflow.request.submitted.v1",
            "org.tierflow.request.assigned.v1",
        ]
        assert events[0]["data"]["request"]["request_id"] == rid
        assert submit_id not in {e["id"] for e in events}  # event ids are the workflow's own

        # a row landed in the read model
        def row() -> Any:
            with Session(stack.engine) as session:
                found = repository.get_request(session, rid)
                return found if found is not None and found.institution_id else None

        found = await eventually(row, what=f"{rid} in the read model")
        assert found.state is State.ASSIGNED

        # /metrics over HTTP shows the applied submit
        text = (await asyncio.to_thread(httpx.get, f"{health.url}/metrics")).text
        assert 'tierflow_ingress_commands_total{outcome="applied",type="submit"} 1.0' in text
        assert "tierflow_ingress_latency_seconds_count 1.0" in text
        health_code = (await asyncio.to_thread(httpx.get, f"{health.url}/healthz")).status_code
        assert health_code == 200

        # drive it to resolution with Kafka commands; events follow in order
        actor = {
            "id": "cw-e2e",
            "role": Role.CASEWORKER.value,
            "institution_id": found.institution_id,
        }
        _send(producer, commands, "acknowledge", {"request_id": rid, "actor": actor}, rid)
        _send(
            producer,
            commands,
            "resolve",
            {"request_id": rid, "actor": actor, "text": "Matched with a bank loan"},
            rid,
        )
        events = await _events(stack, rid, expect=5)
        assert [e["type"].split(".")[-2] for e in events] == [
            "submitted",
            "assigned",
            "signed_for",  # acknowledging signs for it first
            "acknowledged",
            "resolved",
        ]
        assert [e["id"] for e in events] == [f"{rid}:{n}" for n in range(1, 6)]

        def resolved() -> bool:
            with Session(stack.engine) as session:
                current = repository.get_request(session, rid)
                return current is not None and current.state is State.RESOLVED

        await eventually(resolved, what=f"{rid} resolved in the read model")
        text = (await asyncio.to_thread(httpx.get, f"{health.url}/metrics")).text
        assert 'tierflow_ingress_commands_total{outcome="applied",type="resolve"} 1.0' in text
        assert ingress.stats.dead_lettered == 0
    finally:
        stop.set()
        await asyncio.wait_for(running, timeout=30)
        producer.close(timeout=5)
        health.close()


async def test_command_latency_runs_on_the_brokers_clock_not_the_producers(
    stack, unique_topic
) -> None:
    # a producer whose clock (or author) says two hours ago, in the CloudEvent and the record
    commands = create_topic(
        stack.bootstrap,
        unique_topic_name("latency-commands"),
        **constants.TOPIC_CONFIGS[constants.COMMANDS_TOPIC],
    )
    dlq = unique_topic("latency-dlq")
    registry = CollectorRegistry()
    ingress = make_ingress(stack, commands, dlq, source=SOURCE, registry=registry)
    stop = asyncio.Event()
    running = asyncio.create_task(ingress.run(stop))
    producer = make_producer(stack.bootstrap)
    try:
        req = make_request()
        claimed = datetime.now(UTC) - timedelta(hours=2)
        event = command_event(SUBMIT, req.model_dump(mode="json"), SOURCE, req.request_id)
        event.time = claimed
        sent = producer.send(
            commands,
            key=req.request_id.encode(),
            value=event.to_json_bytes(),
            timestamp_ms=int(claimed.timestamp() * 1000),
        ).get(timeout=30)
        assert sent.timestamp > claimed.timestamp() * 1000 + 3_600_000  # the broker's own

        def observed() -> float | None:
            count = registry.get_sample_value("tierflow_ingress_latency_seconds_count")
            return (
                registry.get_sample_value("tierflow_ingress_latency_seconds_sum") if count else None
            )

        seconds = await eventually(observed, what="the submit's latency observed")
        assert 0 <= seconds < 600  # seconds on a busy host, not the two hours claimed
        assert ingress.stats.applied == 1
    finally:
        stop.set()
        await asyncio.wait_for(running, timeout=30)
        producer.close(timeout=5)
