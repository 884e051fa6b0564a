"""The worker's sandbox passes the pure workflow helpers through and keeps the workflow in.

On the real dev server, a probe workflow run by the worker's own runner sees the host's
``workflows.views`` (a marker the test set on it is there: the module was not run again for
the new run), while its own module is run afresh in the sandbox (a marker set on the host's
copy is not). The default sandbox, which the workflow tests keep, runs both afresh.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from temporalio import workflow
from temporalio.client import Client
from temporalio.worker import Worker

from workflows import service_request, views  # run afresh in each sandbox unless passed through

with workflow.unsafe.imports_passed_through():
    from workers.worker import SANDBOXED, pure_workflow_modules, workflow_runner

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
    seen = await probe(temporal_client, task_queue, workflow_runner=workflow_runner())
    assert seen == {"helper": True, "workflow": False}


async def test_the_default_sandbox_reruns_both(
    temporal_client: Client, task_queue: str, marked: None
) -> None:
    seen = await probe(temporal_client, task_queue)
    assert seen == {"helper": False, "workflow": False}
