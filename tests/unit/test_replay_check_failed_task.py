"""`replay-check` also names a run whose last workflow task a worker failed: a replay stops at
the last completed task, so it passes for a request a worker has wedged already (the failed
task's commands are not in the history)."""

from __future__ import annotations

from temporalio.api.enums.v1 import EventType, WorkflowTaskFailedCause
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowHistory

from tierflow.cli.replay_check import last_task_failure

NDE = "[TMPRL1100] Nondeterminism error: Timer machine does not handle this event\nmore"


def history(*events: HistoryEvent) -> WorkflowHistory:
    return WorkflowHistory(workflow_id="request-r", events=list(events))


Cause = WorkflowTaskFailedCause
NONDETERMINISM = Cause.WORKFLOW_TASK_FAILED_CAUSE_NON_DETERMINISTIC_ERROR


def task(
    kind: EventType.ValueType,
    message: str = "",
    cause: WorkflowTaskFailedCause.ValueType = NONDETERMINISM,
) -> HistoryEvent:
    event = HistoryEvent(event_type=kind)
    if kind == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
        event.workflow_task_failed_event_attributes.failure.message = message
        event.workflow_task_failed_event_attributes.cause = cause
    return event


COMPLETED = task(EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED)
FAILED = task(EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED, NDE)
SCHEDULED = task(EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED)


def test_a_last_task_that_failed_is_named_with_its_first_line() -> None:
    failed = history(COMPLETED, SCHEDULED, FAILED, SCHEDULED)
    assert last_task_failure(failed) == NDE.splitlines()[0]


def test_a_task_completed_since_clears_it() -> None:
    assert last_task_failure(history(COMPLETED, SCHEDULED, FAILED, SCHEDULED, COMPLETED)) is None
    assert last_task_failure(history(COMPLETED)) is None


def test_a_task_the_server_failed_and_retries_at_once_is_not_named() -> None:
    # a timer fired while the worker completed the task: the server asks for a new one
    unhandled = task(
        EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED,
        "UnhandledCommand",
        Cause.WORKFLOW_TASK_FAILED_CAUSE_UNHANDLED_COMMAND,
    )
    assert last_task_failure(history(COMPLETED, SCHEDULED, unhandled, SCHEDULED)) is None
    # a worker's failure before it still stands
    assert (
        last_task_failure(history(SCHEDULED, FAILED, SCHEDULED, unhandled)) == NDE.splitlines()[0]
    )
