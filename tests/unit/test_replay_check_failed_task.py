"""`replay-check` also names a run whose last workflow task a worker failed: a replay stops at
the last completed task, so it passes for a request a worker has wedged already (the failed
task's commands are not in the history)."""

from __future__ import annotations

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowHistory

from tierflow.cli.replay_check import last_task_failure

NDE = "[TMPRL1100] Nondeterminism error: Timer machine does not handle this event\nmore"


def history(*events: HistoryEvent) -> WorkflowHistory:
    return WorkflowHistory(workflow_id="request-r", events=list(events))


def task(kind: EventType.ValueType, message: str = "") -> HistoryEvent:
    event = HistoryEvent(event_type=kind)
    if kind == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
        event.workflow_task_failed_event_attributes.failure.message = message
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
