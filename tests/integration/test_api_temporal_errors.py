"""The API answers 503 with Retry-After, not 500, when Temporal cannot serve a call now.

The case a caseworker meets: a request whose workflow tasks keep failing (a bug in a deployed
build; the worker fails them and Temporal retries them). From the third attempt Temporal
refuses queries and updates at once ("Workflow Task in failed state", FAILED_PRECONDITION),
so reading the request and acting on it both answer 503 naming the cause, and the console's
case page answers 503 as a page in Chinese, not the API's JSON. The worker's SDK
metrics count the failures under the name and labels the TierflowWorkflowTaskFailing alert
reads. On the session dev server, with a workflow of its own whose every task fails.
"""

from __future__ import annotations

import urllib.request
from datetime import timedelta
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine
from temporalio import workflow
from temporalio.client import Client
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from api.app import create_app
from tests.fixtures.console import sign_in
from tests.utils.api_helpers import asgi_client, make_users
from tests.utils.eventually import eventually
from tests.utils.factories import make_request
from tierflow.constants import workflow_id
from tierflow.settings import Settings
from tierflow_dev.devstack.procs import free_port
from tierflow_dev.devstack.temporal import TemporalDevServer

FAILED = "temporal_workflow_task_execution_failed"  # what the alert rule reads


@workflow.defn(name="TierflowTestAlwaysFailingTask")
class AlwaysFailingTask:
    """Fails every workflow task: an error that is not a workflow failure is retried."""

    @workflow.run
    async def run(self) -> None:
        raise RuntimeError("a bug in this build")


def failed_tasks(metrics_url: str) -> dict[tuple[str, str], float]:
    """The SDK's failed workflow task counts by (workflow type, failure reason)."""
    with urllib.request.urlopen(metrics_url, timeout=5) as resp:
        text = resp.read().decode()
    assert f"\n{FAILED}{{" in text, "not exposed under the name the rule reads"
    return {
        (sample.labels["workflow_type"], sample.labels["failure_reason"]): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if family.name == FAILED  # the parser adds ``_total`` to the samples' names
    }


async def test_a_request_whose_workflow_tasks_fail_answers_503_to_read_and_act(
    temporal_dev_server: TemporalDevServer,
    temporal_client: Client,
    task_queue: str,
    sqlite_engine: Engine,
    tmp_path: Path,
) -> None:
    request_id = make_request().request_id
    users = make_users(sqlite_engine)
    app = create_app(Settings(home=tmp_path), temporal_client, sqlite_engine)
    port = free_port()  # the worker's SDK metrics, as `tierflow worker` serves them
    metrics = PrometheusConfig(bind_address=f"127.0.0.1:{port}")
    worker_client = await Client.connect(
        temporal_dev_server.address,
        namespace=temporal_dev_server.namespace,
        runtime=Runtime(telemetry=TelemetryConfig(metrics=metrics)),
    )
    worker = Worker(
        worker_client,
        task_queue=task_queue,
        workflows=[AlwaysFailingTask],
        workflow_runner=UnsandboxedWorkflowRunner(),  # a test module: not for the sandbox
    )
    async with worker:
        handle = await temporal_client.start_workflow(
            "TierflowTestAlwaysFailingTask",
            id=workflow_id(request_id),
            task_queue=task_queue,
            task_timeout=timedelta(seconds=1),  # the worker lets attempts after the first time out
        )

        async def third_attempt() -> bool:
            pending = (await handle.describe()).raw_description.pending_workflow_task
            return pending.attempt >= 3

        await eventually(third_attempt, timeout=60, what="the workflow task's third attempt")
        headers = {"Authorization": f"Bearer {users.tokens['cw_own']}"}
        async with asgi_client(app) as client:
            read = await client.get(f"/api/v1/requests/{request_id}", headers=headers)
            acted = await client.post(
                f"/api/v1/requests/{request_id}/actions/comment",
                json={"text": "还在办理吗？"},
                headers=headers,
            )
            signed = await sign_in(client, users.tokens["cw_own"])
            assert signed.status_code == 303, signed.text
            page = await client.get(f"/console/requests/{request_id}")
        failed = failed_tasks(f"http://127.0.0.1:{port}/metrics")
        await handle.terminate("test over")
    assert failed.get(("TierflowTestAlwaysFailingTask", "WorkflowError"), 0) >= 2, failed
    for answer in (read, acted):
        assert answer.status_code == 503, answer.text
        assert answer.headers["Retry-After"] == "5"
        detail = answer.json()["detail"]
        assert "workflow tasks are failing" in detail and "FAILED_PRECONDITION" in detail
    assert page.status_code == 503 and page.headers["Retry-After"] == "5"
    assert page.headers["content-type"].startswith("text/html"), page.headers
    assert page.headers["Content-Language"] == "zh-CN"
    assert "流程引擎暂时无法处理此工单，请稍后重试" in page.text
    assert "FAILED_PRECONDITION" not in page.text and "detail" not in page.text
