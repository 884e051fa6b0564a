"""A run continues as new on the server's suggestion as its replay will, wherever it came.

The suggestion is a flag of the workflow task. When a query comes with a task while a local
activity's result waits, the SDK completes that task at once (recording the result) and
hands the result over in the next task, with that task's flag; a replay hands the result over
in the task that recorded it, with that one's. A run that decided on the flag there continued
as new where its replay did not: a nondeterminism error (seen once in a run queried without
pause). Today's type reads the flag in the tasks of updates and timers only.

The workflow code runs here in process, driven by hand-made activations (the what-if's
driver), so that the flag can be set on exactly the activations the SDK would set it on.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio.bridge.proto.workflow_activation import WorkflowActivation
from temporalio.bridge.proto.workflow_completion import WorkflowActivationCompletion

from schemas.domain import Tier
from schemas.lifecycle import ActionKind, Admission, Institution, WorkflowState
from tests.utils.factories import ALWAYS_OPEN, action, caseworker, make_policy, make_request
from whatif.driver import RequestRun, RunResult, SimulationError

START = datetime(2026, 3, 2, 9, tzinfo=UTC)
UNIT = "zj-330105-sme"


def admission(_: object) -> Admission:
    unit = Institution(id=UNIT, name="西湖区中心", tier=Tier.COUNTY, division_code="330105")
    return Admission(policy=make_policy(calendar=ALWAYS_OPEN), institution=unit)


class Suggested:
    """Hands activations to the workflow instance, the suggestion set on those ``on`` picks."""

    def __init__(self, instance: Any, on: Callable[[WorkflowActivation], bool]) -> None:
        self.instance = instance
        self.on = on

    def activate(self, act: WorkflowActivation) -> WorkflowActivationCompletion:
        act.continue_as_new_suggested = self.on(act)
        return self.instance.activate(act)


def only_results(act: WorkflowActivation) -> bool:
    """A local activity's result handed over alone, in a task of its own."""
    return all(job.WhichOneof("variant") == "resolve_activity" for job in act.jobs)


def with_update(act: WorkflowActivation) -> bool:
    return any(job.WhichOneof("variant") == "do_update" for job in act.jobs)


def run(on: Callable[[WorkflowActivation], bool]) -> RunResult:
    """Admit a request, then deliver two comments a minute apart, the flag set by ``on``."""
    cw = caseworker(UNIT)
    comments = [
        (START + timedelta(minutes=n), action(ActionKind.COMMENT, cw, text=f"note {n}"))
        for n in (1, 2)
    ]
    state = WorkflowState(request=make_request())
    simulated = RequestRun(
        state, START, [], {"admit_request": admission}, until=START + timedelta(hours=1)
    )
    simulated.instance = Suggested(simulated.instance, on)
    simulated.actions = comments
    return simulated.run()


def test_a_suggestion_handed_over_with_a_result_alone_does_not_continue_the_run() -> None:
    result = run(only_results)  # the commands of a run without the suggestion: no error
    assert [r.event_type.value for r in result.records][-2:] == ["commented", "commented"]


def test_a_suggestion_in_an_updates_task_continues_the_run() -> None:
    with pytest.raises(SimulationError, match="continued as new"):
        run(with_update)
