"""Replay requests' histories with this build's workflow code: which would its workers wedge?

A worker replays a request whenever the request is not in its cache (a restart, a deploy, a
full cache). A history this build's code does not reproduce fails every workflow task of the
request from then on (a nondeterminism error) until a fixed build runs it or an operator
resets it. Replaying the running requests before a deploy finds them while the old build
still runs them; after an incident, it lists the requests a runbook step must reset.

The replay runs in the worker's sandbox with its data converter (payload keys from the
settings), exactly as a worker of this build would; it executes no activity and changes
nothing on the server.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

from temporalio.api.enums.v1 import EventType, WorkflowTaskFailedCause
from temporalio.client import Client, WorkflowExecution, WorkflowHistory
from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter
from temporalio.worker import Replayer

from schemas.lifecycle import WORKFLOW_TYPES
from schemas.request import REQUEST_ID_PATTERN
from tierflow.constants import workflow_id
from workflows.request_types import REQUEST_WORKFLOWS


@dataclass(frozen=True)
class ReplayFailure:
    """One run this build's code does not reproduce, and the SDK's reason."""

    workflow_id: str
    run_id: str
    workflow_type: str
    error: str
    on_worker: bool = False  # a worker failed its last task already (the replay passes)


@dataclass
class ReplayReport:
    replayed: int = 0
    failures: list[ReplayFailure] = field(default_factory=list)
    more: bool = False  # the query found more runs than the limit let it replay


def requests_query(request_ids: Sequence[str] = (), *, running_only: bool = True) -> str:
    """The visibility query for the requests to replay: these ids, else every request.

    Raises ValueError for an id that is not a request id (it goes into the query's text)."""
    for request_id in request_ids:
        if not re.fullmatch(REQUEST_ID_PATTERN, request_id):
            raise ValueError(request_id)
    types = ", ".join(f"'{t}'" for t in WORKFLOW_TYPES)
    parts = [f"WorkflowType IN ({types})"]
    if request_ids:
        ids = ", ".join(f"'{workflow_id(r)}'" for r in request_ids)
        parts.append(f"WorkflowId IN ({ids})")
    if running_only:
        parts.append("ExecutionStatus = 'Running'")
    return " AND ".join(parts)


# the SDK's own words inside the Rust failure it wraps a nondeterminism error in
_CORE_MESSAGE = re.compile(r'message: "((?:[^"\\]|\\.)*)"')


def quiet_runtime() -> Runtime:
    """A runtime whose SDK core logs errors only: a replay that fails is reported, not also
    logged as a failing workflow task (which it is not: nothing runs on the server)."""
    errors_only = TelemetryFilter(core_level="ERROR", other_level="ERROR")
    return Runtime(telemetry=TelemetryConfig(logging=LoggingConfig(filter=errors_only)))


def reason(failure: BaseException) -> str:
    """The SDK's own message (``[TMPRL1100] Nondeterminism error: ...``), else the first line."""
    text = str(failure).strip()
    found = _CORE_MESSAGE.search(text)
    if found:
        return found.group(1)
    return text.splitlines()[0] if text else type(failure).__name__


async def replay_check(client: Client, query: str, limit: int | None = None) -> ReplayReport:
    """Replay the runs the query finds (up to ``limit``; None: all), one at a time, with this
    build's code; the report says whether the limit left runs unchecked."""
    from workers.worker import workflow_runner  # the worker's sandbox, as a worker replays

    found = client.list_workflows(query, limit=None if limit is None else limit + 1)
    executions: list[WorkflowExecution] = [e async for e in found]
    more = limit is not None and len(executions) > limit
    if more:
        del executions[limit:]

    failed_tasks: list[str | None] = []  # read as each history streams by, not kept

    async def histories() -> AsyncIterator[WorkflowHistory]:
        for execution in executions:
            handle = client.get_workflow_handle(execution.id, run_id=execution.run_id)
            history = await handle.fetch_history()
            failed_tasks.append(last_task_failure(history))
            yield history

    replayer = Replayer(
        workflows=[*REQUEST_WORKFLOWS],
        data_converter=client.data_converter,
        workflow_runner=workflow_runner(client.data_converter),
        runtime=client.service_client.config.runtime,
    )
    report = ReplayReport(more=more)
    async with replayer.workflow_replay_iterator(histories()) as results:
        async for result in results:  # in the order the histories went in
            execution, failed = executions[report.replayed], failed_tasks[report.replayed]
            report.replayed += 1
            if result.replay_failure is not None or failed is not None:
                failure = ReplayFailure(
                    workflow_id=execution.id,
                    run_id=execution.run_id,
                    workflow_type=execution.workflow_type,
                    error=reason(result.replay_failure) if result.replay_failure else str(failed),
                    on_worker=result.replay_failure is None,
                )
                report.failures.append(failure)
    return report


# the server fails a task for these itself and hands the run a new task at once (a timer
# fired while the worker completed, a sticky queue was reset): no worker is stuck on it
_SERVER_RETRIES = frozenset(
    {
        WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_UNHANDLED_COMMAND,
        WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_UNHANDLED_UPDATE,
        WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_RESET_STICKY_TASK_QUEUE,
        WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_RESET_WORKFLOW,
        WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_FAILOVER_CLOSE_COMMAND,
    }
)


def last_task_failure(history: WorkflowHistory) -> str | None:
    """Why the run's last workflow task failed on a worker, if it did and none completed since.

    A replay stops at the last completed task, so it passes for a request a worker already
    wedged (the failed task's commands are not in the history): the failure says it. A task
    the server failed and retries at once is not a worker's failure."""
    failed = None
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            failed = None
        elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
            attributes = event.workflow_task_failed_event_attributes
            if attributes.cause not in _SERVER_RETRIES:
                failed = attributes.failure.message
    return None if failed is None else (failed.splitlines() or ["?"])[0]
