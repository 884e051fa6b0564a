"""The worker's sandbox passes the pure workflow helpers through and keeps the workflow in.

On the real dev server, a probe workflow run by the worker's own runner sees the host's
``workflows.views`` (a marker the test set on it is there: the module was not run again for
the new run), while its own module is run afresh in the sandbox (a marker set on the host's
copy is not). The default sandbox, which the workflow tests keep, runs both afresh.

With a data converter that takes no serialization context (the project's), the worker's
runner answers the SDK's per-payload context questions outside the sandbox: the same workflow
enters the sandbox fewer times and returns the same values.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from temporalio import activity, workflow
from temporalio.api.common.v1 import Payload
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import PayloadCodec, SerializationContext, WithSerializationContext
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner
from temporalio.worker.workflow_sandbox._runner import _Instance

from workflows import service_request, views  # run afresh in each sandbox unless passed through

with workflow.unsafe.imports_passed_through():
    from tierflow.context_free_sandbox import ContextFreeSandboxRunner, takes_no_context
    from tierflow.kafka_io import make_producer
    from workers.worker import (
        SANDBOXED,
        WorkerParts,
        build_worker,
        pure_workflow_modules,
        workflow_runner,
    )

MARKER = "_host_marker"


@workflow.defn(sandboxed=True)
class ProbeWorkflow:
    """Reports which modules it sees as the host's."""

    @workflow.run
    async def run(self) -> dict[str, bool]:
        return {
            "helper": hasattr(views, MARKER),
            "workflow": hasattr(service_request, MARKER),
        }


@pytest.fixture
def marked() -> Iterator[None]:
    """Mark the host's copies of the modules."""
    setattr(views, MARKER, True)
    setattr(service_request, MARKER, True)
    yield
    delattr(views, MARKER)
    delattr(service_request, MARKER)


async def probe(client: Client, queue: str, **runner: object) -> dict[str, bool]:
    async with Worker(client, task_queue=queue, workflows=[ProbeWorkflow], **runner):
        seen: dict[str, bool] = await client.execute_workflow(
            ProbeWorkflow.run, id=f"probe-{uuid.uuid4().hex[:8]}", task_queue=queue
        )
    return seen


def test_every_helper_is_passed_through_and_no_workflow_definition() -> None:
    helpers = pure_workflow_modules()
    assert "workflows.views" in helpers and "workflows.business_time" in helpers
    assert not SANDBOXED & set(helpers)
    assert "workflows.request_types" in SANDBOXED


def test_todays_module_defines_only_todays_type() -> None:
    """A new run runs ``service_request`` afresh: an older type there would cost every run
    its ``@workflow.defn`` checks (the older types live in ``workflows.request_types``)."""
    defined = [
        value
        for value in vars(service_request).values()
        if isinstance(value, type) and workflow._Definition.from_class(value) is not None
    ]
    assert defined == [service_request.ServiceRequestWorkflow]


async def test_the_workers_runner_shares_the_helpers_and_reruns_the_workflow(
    temporal_client: Client, task_queue: str, marked: None
) -> None:
    runner = workflow_runner(temporal_client.data_converter)
    assert isinstance(runner, ContextFreeSandboxRunner)
    seen = await probe(temporal_client, task_queue, workflow_runner=runner)
    assert seen == {"helper": True, "workflow": False}


async def test_the_default_sandbox_reruns_both(
    temporal_client: Client, task_queue: str, marked: None
) -> None:
    seen = await probe(temporal_client, task_queue)
    assert seen == {"helper": False, "workflow": False}


# ---------------------------------------------------------------------------- context questions
@activity.defn(name="probe_echo")
async def echo(words: list[str]) -> list[str]:
    return [*words, "echoed"]


@workflow.defn(sandboxed=True)
class PayloadsWorkflow:
    """Payloads in every place a lifecycle has them: input, local activity, update, result."""

    def __init__(self) -> None:
        self.heard: list[str] = []

    @workflow.run
    async def run(self, words: list[str]) -> list[str]:
        echoed = await workflow.execute_local_activity(
            echo, words, start_to_close_timeout=timedelta(seconds=10)
        )
        await workflow.wait_condition(lambda: bool(self.heard))
        return [*echoed, *self.heard]

    @workflow.update
    async def tell(self, word: str) -> str:
        self.heard.append(word)
        return word.upper()


class ContextCodec(PayloadCodec, WithSerializationContext):
    """A codec that takes a context (as an encrypting codec keyed per workflow would)."""

    def __init__(self, context: SerializationContext | None = None) -> None:
        self.context = context

    def with_context(self, context: SerializationContext) -> ContextCodec:
        return ContextCodec(context)

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return list(payloads)

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return list(payloads)


def test_only_a_converter_that_takes_no_context_gets_the_context_free_runner() -> None:
    assert takes_no_context(pydantic_data_converter)
    with_codec = dataclasses.replace(pydantic_data_converter, payload_codec=ContextCodec())
    assert not takes_no_context(with_codec)
    assert type(workflow_runner(with_codec)) is SandboxedWorkflowRunner
    assert type(workflow_runner()) is SandboxedWorkflowRunner
    assert isinstance(workflow_runner(pydantic_data_converter), ContextFreeSandboxRunner)


@pytest.fixture
def sandbox_entries(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every time code runs inside a sandbox, the code's first line."""
    entries: list[str] = []
    run_code = _Instance._run_code

    def counted(self: _Instance, code: str, **extra: Any) -> None:
        entries.append(code.splitlines()[-1].strip())
        run_code(self, code, **extra)

    monkeypatch.setattr(_Instance, "_run_code", counted)
    return entries


async def payloads_run(client: Client, queue: str, runner: SandboxedWorkflowRunner) -> list[str]:
    async with Worker(
        client,
        task_queue=queue,
        workflows=[PayloadsWorkflow],
        activities=[echo],
        workflow_runner=runner,
        max_cached_workflows=10,
    ):
        handle = await client.start_workflow(
            PayloadsWorkflow.run,
            ["a", "b"],
            id=f"payloads-{uuid.uuid4().hex[:8]}",
            task_queue=queue,
        )
        assert await handle.execute_update(PayloadsWorkflow.tell, "c") == "C"
        result: list[str] = await handle.result()
    return result


ECHOED = ["a", "b", "echoed", "c"]  # what a PayloadsWorkflow run told "c" returns


async def test_the_context_free_runner_enters_the_sandbox_less_for_the_same_results(
    temporal_client: Client, task_queue: str, sandbox_entries: list[str]
) -> None:
    plain = SandboxedWorkflowRunner(restrictions=workflow_runner().restrictions)
    assert await payloads_run(temporal_client, f"{task_queue}-plain", plain) == ECHOED
    in_plain = list(sandbox_entries)
    sandbox_entries.clear()
    free = workflow_runner(temporal_client.data_converter)
    assert await payloads_run(temporal_client, f"{task_queue}-free", free) == ECHOED
    asked = [e for e in in_plain if "_context(" in e]
    assert asked, in_plain  # the plain sandbox is asked for contexts (inside it)
    assert not [e for e in sandbox_entries if "_context(" in e]
    assert 0 < len(sandbox_entries) < len(in_plain)  # activations and set-up only


async def test_the_deployed_worker_gets_the_context_free_runner(stack) -> None:
    """``build_worker`` (what ``tierflow worker`` runs) hands its client's converter over."""
    producer = make_producer(stack.bootstrap)
    queue = f"runner-{uuid.uuid4().hex[:8]}"
    parts = WorkerParts(
        stack.client, stack.engine, producer, stack.metrics, queue, settings=stack.settings
    )
    try:
        with ThreadPoolExecutor(stack.settings.worker_max_concurrent_activities) as executor:
            config = build_worker(parts, executor).config()
    finally:
        producer.close(timeout=5)
    assert isinstance(config.get("workflow_runner"), ContextFreeSandboxRunner)
