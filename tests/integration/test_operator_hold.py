"""A permanent failure on the real stack: the request waits for an operator, clocks still fire.

The worker's producer sends messages of at most 20,000 bytes (``max_request_size``, which a
deployment keeps at or below its topic's ``max.message.bytes``); a comment of 25,000 bytes,
inside the schema's limit, makes an event Kafka refuses on every try. The real worker (real
activities, SQLite, Kafka, the Temporal dev server, a round-the-clock policy) must hold the
request for an operator instead of retrying forever, keep its SLA clocks running, and let an
admin's ``operator_resolve`` release it.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest_asyncio
from prometheus_client import CollectorRegistry
from sqlmodel import Session

from schemas.dlq import DLQ_REASON
from schemas.domain import Role, State
from schemas.events import command_event
from schemas.lifecycle import ActionKind, RequestView, WorkflowState
from schemas.request import Actor
from tests.utils.eventually import eventually
from tests.utils.factories import caseworker, make_request
from tests.utils.fast_policy import Targets, write_policy
from tests.utils.ingress_helpers import (
    command_topics,
    make_ingress,
    read_partition,
    running,
    send_commands,
)
from tests.utils.stack_helpers import act, read_events, sample
from tierflow.constants import workflow_id
from tierflow.db import repository
from tierflow.kafka_io import header, make_producer
from tierflow.metrics import ReadModelCollector, WorkerMetrics
from workers.worker import WorkerParts, build_worker
from workflows.service_request import ServiceRequestWorkflow

ADMIN = Actor(id="ops-admin", role=Role.ADMIN)


@pytest_asyncio.fixture(loop_scope="session")
async def small_message_worker(
    stack, tmp_path: Path, unique_topic: Callable[..., str]
) -> AsyncIterator[tuple[str, str, CollectorRegistry]]:
    """The real worker with a 20,000-byte producer limit; response 5 s, resolution 10 s."""
    topic = unique_topic("events")
    queue = f"hold-{uuid.uuid4().hex[:8]}"
    policy = write_policy(tmp_path / "policy.toml", Targets(response=5, resolution=10))
    settings = stack.settings.model_copy(update={"policy_file": policy, "task_queue": queue})
    registry = CollectorRegistry()
    metrics = WorkerMetrics(registry)
    registry.register(ReadModelCollector(stack.engine))
    producer = make_producer(stack.bootstrap, max_request_size=20_000)
    parts = WorkerParts(stack.client, stack.engine, producer, metrics, queue, topic, settings)
    with ThreadPoolExecutor(max_workers=settings.worker_max_concurrent_activities) as executor:
        worker = build_worker(parts, executor)
        run = asyncio.create_task(worker.run())
        try:
            yield queue, topic, registry
        finally:
            await worker.shutdown()
            await asyncio.gather(run, return_exceptions=True)
            producer.close(timeout=5)


async def test_an_event_the_broker_refuses_holds_the_request_for_an_operator(
    stack, small_message_worker, unique_topic
) -> None:
    queue, topic, registry = small_message_worker
    req = make_request()
    handle = await stack.client.start_workflow(
        ServiceRequestWorkflow.run,
        WorkflowState(request=req),
        id=workflow_id(req.request_id),
        task_queue=queue,
    )

    async def view() -> RequestView:
        return await handle.query(ServiceRequestWorkflow.view)

    async def assigned() -> bool:
        return (await view()).summary.state is State.ASSIGNED

    await eventually(assigned, timeout=20, what="assigned")
    cw = caseworker((await view()).summary.institution_id or "")
    await act(handle, ActionKind.ACKNOWLEDGE, cw)  # the response clock stops
    await act(handle, ActionKind.COMMENT, cw, text="x" * 25_000)  # answers; its event cannot go

    async def held() -> RequestView | None:
        current = await view()
        return current if current.operator is not None else None

    state = await eventually(held, timeout=30, what="an operator hold")
    assert state.operator is not None and state.operator.step == "record_transitions"
    assert state.operator.error_type == "Permanent.MessageSizeTooLargeError"

    def row_needs_operator() -> bool:
        with Session(stack.engine) as session:
            row = repository.get_request(session, req.request_id)
            return row is not None and row.needs_operator

    await eventually(row_needs_operator, timeout=10, what="needs_operator in the read model")
    assert sample(registry, "tierflow_requests_needing_operator", tier="county") >= 1
    assert sample(registry, "tierflow_operator_holds_total", step="record_transitions") == 1
    types = [
        e["type"].split(".")[-2]
        for e in read_events(stack.bootstrap, req.request_id, topic, expect=4)
    ]
    assert types[-1] == "operator_needed" and "commented" not in types  # sent ahead, alone

    async def breached_while_held() -> bool:  # the 10 s resolution clock keeps running
        current = await view()
        return current.operator is not None and any(
            e.event_type.value == "sla_breached" for e in current.timeline
        )

    await eventually(breached_while_held, timeout=30, what="a breach while on hold")

    # another system's comment on Kafka meanwhile is parked with a reason of its own, to be
    # republished once the operator released the request (not taken for a bad command)
    commands, dlq = command_topics(unique_topic, "held")
    rid = req.request_id
    note = command_event("comment", {"request_id": rid, "text": "材料已补齐"}, source="/tests")
    send_commands(stack.bootstrap, commands, rid, [note])
    ingress = make_ingress(stack, commands, dlq)
    async with running(ingress):
        await eventually(lambda: ingress.stats.committed >= 1, timeout=40, what="committed")
    [parked] = read_partition(stack.bootstrap, dlq)
    assert header(parked, DLQ_REASON) == "needs_operator"

    await act(handle, ActionKind.OPERATOR_RESOLVE, ADMIN, text="评论过大，已通知作者 / too large")

    def released() -> bool:
        with Session(stack.engine) as session:
            row = repository.get_request(session, req.request_id)
            audit = [t.event_type.value for t in repository.transitions(session, req.request_id)]
        return row is not None and not row.needs_operator and "operator_resolved" in audit

    await eventually(released, timeout=30, what="the hold released in the read model")
    with Session(stack.engine) as session:
        rows = repository.transitions(session, req.request_id)
    audit = [t.event_type.value for t in rows]
    assert audit.index("commented") < audit.index("sla_breached") < audit.index("escalated")
    events = read_events(stack.bootstrap, req.request_id, topic, expect=len(audit))
    # each event once: operator_needed, sent ahead alone, is not sent again in its turn
    assert sorted(e["id"] for e in events) == sorted(t.event_id for t in rows)
    stub = next(e for e in events if e["type"].split(".")[-2] == "commented")
    assert "withheld" in stub["data"]["details"] and not stub["data"].get("reason")
    await stack.client.get_workflow_handle(handle.id).terminate("test done")
