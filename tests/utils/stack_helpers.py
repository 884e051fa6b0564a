"""Helpers for tests on the session stack: start requests, act, read Kafka, poll the DB."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import uuid
from collections.abc import Iterator
from typing import Any, TypeVar

from kafka import KafkaConsumer, TopicPartition
from prometheus_client import CollectorRegistry
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest
from temporalio.client import WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

from schemas.lifecycle import ActionKind, ActionRequest, ActionResult, RequestView, WorkflowState
from schemas.request import Actor, RequestInput
from tests.utils.eventually import NotReached, eventually, eventually_sync
from tierflow import constants
from tierflow.constants import workflow_id
from tierflow.updates import execute_update
from workflows.service_request import ServiceRequestWorkflow

T = TypeVar("T")


@contextlib.contextmanager
def frozen(pid: int | None) -> Iterator[None]:
    """Stop the process group of ``pid`` (SIGSTOP) for the block, as a hung host would be;
    it goes on (SIGCONT) after."""
    assert pid is not None, "the process is not running"
    os.killpg(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.killpg(pid, signal.SIGCONT)


async def start_request(
    stack: Any, req: RequestInput, task_queue: str | None = None
) -> WorkflowHandle:
    """Start a request workflow on the stack's worker (or ``task_queue``'s); wait until routed.

    The handle names no run, so it follows the request across continue-as-new.
    """
    handle = await stack.client.start_workflow(
        ServiceRequestWorkflow.run,
        WorkflowState(request=req),
        id=workflow_id(req.request_id),
        task_queue=task_queue or stack.task_queue,
    )
    await eventually(lambda: _assigned(handle), what=f"{req.request_id} assigned")
    return handle


async def forget_workflow(stack: Any, request_id: str) -> None:
    """Delete the request's workflow from Temporal, as the namespace's retention does in time
    (the read model keeps the request); return once Temporal answers NOT_FOUND."""
    client = stack.client
    execution = WorkflowExecution(workflow_id=workflow_id(request_id))
    await client.workflow_service.delete_workflow_execution(
        DeleteWorkflowExecutionRequest(namespace=client.namespace, workflow_execution=execution)
    )

    async def gone() -> bool:
        try:
            await client.get_workflow_handle(workflow_id(request_id)).describe()
        except RPCError as exc:
            return exc.status == RPCStatusCode.NOT_FOUND
        return False

    await eventually(gone, what=f"the workflow of {request_id} deleted")


async def _assigned(handle: WorkflowHandle) -> bool:
    view: RequestView = await handle.query(ServiceRequestWorkflow.view)
    return view.summary.state.value != "submitted"


async def act(handle: WorkflowHandle, kind: ActionKind, actor: Actor, **kw: Any) -> ActionResult:
    request = ActionRequest(action_id=f"a-{uuid.uuid4().hex}", kind=kind, actor=actor, **kw)
    return await execute_update(
        handle, ServiceRequestWorkflow.act, request, id=request.action_id, result_type=ActionResult
    )


def read_events(
    bootstrap: str,
    request_id: str,
    topic: str = constants.EVENTS_TOPIC,
    timeout: float = 30.0,
    expect: int = 1,
) -> list[dict]:
    """Return the CloudEvents whose key is request_id, reading the topic from the start.

    Reads again with a fresh consumer until ``expect`` events are there or ``timeout`` runs
    out (publishing follows persistence, so the newest event may still be on its way); then
    returns what it found.
    """
    found: list[dict] = []

    def enough() -> bool:
        found[:] = _read_once(bootstrap, request_id, topic)
        return len(found) >= expect

    # Fewer than ``expect`` after ``timeout`` is an answer, not an error: callers assert on
    # the ids they got (and some ask for more than can come, to give duplicates a chance).
    with contextlib.suppress(NotReached):
        eventually_sync(enough, timeout, f"{expect} events of {request_id}")
    return found


def assign_whole_topic(consumer: KafkaConsumer, topic: str) -> dict[TopicPartition, int]:
    """Assign every partition of ``topic`` from its start; return their end offsets now."""
    consumer.topics()  # loads metadata; partitions_for_topic is empty before it
    parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []]
    assert parts, f"topic {topic} has no partitions"
    consumer.assign(parts)
    consumer.seek_to_beginning(*parts)
    return consumer.end_offsets(parts)


def _read_once(bootstrap: str, request_id: str, topic: str) -> list[dict]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        ends = assign_whole_topic(consumer, topic)
        found: list[dict] = []
        while any(consumer.position(tp) < end for tp, end in ends.items()):
            for batch in consumer.poll(timeout_ms=500).values():
                found += [json.loads(m.value) for m in batch if m.key == request_id.encode()]
        return found
    finally:
        consumer.close()


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    """Return a metric sample's value (0 if absent)."""
    value = registry.get_sample_value(name, labels)
    return value or 0.0
