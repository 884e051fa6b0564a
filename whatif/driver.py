"""Run the live ``ServiceRequest`` workflow code outside Temporal, on a simulated clock.

A what-if must decide exactly as production decides, so it does not re-implement the
lifecycle: it drives the workflow class itself through the SDK's public runner interface
(``WorkflowRunner.create_instance`` and activations), acting as a tiny in-process server.
Timers fire at their instant, local activities answer at once from the simulation's own
lookups, and recorded actions (and the calendars an operator published) arrive as updates at
their recorded instants. Nothing is
persisted or published: the workflow's records are collected for the outcome.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.bridge.proto.activity_result import ActivityResolution, Success
from temporalio.bridge.proto.workflow_activation import (
    DoUpdate,
    FireTimer,
    InitializeWorkflow,
    ResolveActivity,
    WorkflowActivation,
    WorkflowActivationJob,
)
from temporalio.bridge.proto.workflow_commands import WorkflowCommand
from temporalio.common import MetricMeter, Priority, TypedSearchAttributes
from temporalio.converter import DefaultFailureConverter, PayloadConverter
from temporalio.worker import UnsandboxedWorkflowRunner, WorkflowInstance, WorkflowInstanceDetails

from schemas.lifecycle import (
    WORKFLOW_TYPE,
    CalendarUpdate,
    TransitionRecord,
    WorkflowState,
)
from whatif.trail import Delivered
from workflows.service_request import ServiceRequestWorkflow

TASK_QUEUE = "whatif"


class ByReference(PayloadConverter):
    """Hands values to the workflow and back as they are: nothing leaves the process, so
    encoding every record to JSON and back would only cost time. Each run has its own."""

    def __init__(self) -> None:
        self.values: dict[bytes, Any] = {}

    def to_payloads(self, values: Sequence[Any]) -> list[Payload]:
        found = []
        for value in values:
            key = str(len(self.values)).encode()
            self.values[key] = value
            found.append(Payload(metadata={"encoding": b"whatif/reference"}, data=key))
        return found

    def from_payloads(
        self, payloads: Sequence[Payload], type_hints: list[type] | None = None
    ) -> list[Any]:
        return [self.values[payload.data] for payload in payloads]


DEFINITION = workflow._Definition.must_from_class(ServiceRequestWorkflow)
RUNNER = UnsandboxedWorkflowRunner()
# A lookup the simulation answers: the answer for the activity's input (values pass as they are).
Lookup = Callable[[Any], Any]


class SimulationError(RuntimeError):
    """The workflow did something a simulation cannot follow (it failed, or asked for more)."""


@dataclass
class Refusal:
    """A recorded action the workflow refused in this simulation (e.g. no longer allowed)."""

    action: Delivered
    at: datetime
    message: str


@dataclass
class RunResult:
    """What one simulated request produced."""

    records: list[TransitionRecord] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)
    completed: bool = False
    activations: int = 0


@dataclass(order=True)
class _Timer:
    due: datetime
    seq: int


def _info(workflow_id: str, start: datetime) -> workflow.Info:
    return workflow.Info(
        attempt=1,
        continued_run_id=None,
        cron_schedule=None,
        execution_timeout=None,
        first_execution_run_id="whatif",
        headers={},
        namespace="whatif",
        original_execution_run_id="whatif",
        parent=None,
        root=None,
        raw_memo={},
        retry_policy=None,
        run_id="whatif",
        run_timeout=None,
        search_attributes={},
        start_time=start,
        workflow_start_time=start,
        task_queue=TASK_QUEUE,
        task_timeout=timedelta(seconds=10),
        typed_search_attributes=TypedSearchAttributes.empty,
        workflow_id=workflow_id,
        workflow_type=WORKFLOW_TYPE,
        priority=Priority.default,
    )


class RequestRun:
    """One request's workflow instance, its timers and the actions still to deliver."""

    def __init__(
        self,
        state: WorkflowState,
        start: datetime,
        actions: Sequence[tuple[datetime, Delivered]],
        lookups: Mapping[str, Lookup],
        until: datetime,
    ) -> None:
        self.converter = ByReference()
        self.now = start
        self.until = until
        self.lookups = lookups
        self.actions = sorted(actions, key=lambda pair: pair[0])
        self.timers: dict[int, datetime] = {}
        self.result = RunResult()
        self.waiting_updates: dict[str, Delivered] = {}
        self._update_ids = itertools.count(1)
        workflow_id = f"whatif-{state.request.request_id}"
        details = WorkflowInstanceDetails(
            payload_converter_factory=lambda: self.converter,
            failure_converter_class=DefaultFailureConverter,
            interceptor_classes=[],
            defn=DEFINITION,
            info=_info(workflow_id, start),
            randomness_seed=0,
            extern_functions=self._extern_functions(),
            disable_eager_activity_execution=True,
            worker_level_failure_exception_types=[],
            patch_activation_callback=None,
            last_completion_result=Payloads(),
            last_failure=None,
        )
        self.instance = _create(details)
        init = InitializeWorkflow(
            workflow_type=WORKFLOW_TYPE,
            workflow_id=workflow_id,
            arguments=self.converter.to_payloads([state]),
            randomness_seed=0,
            first_execution_run_id="whatif",
        )
        init.start_time.FromDatetime(start)
        self._activate([WorkflowActivationJob(initialize_workflow=init)])

    def _extern_functions(self) -> dict[str, Callable[..., Any]]:
        """What a worker hands every workflow instance: its metric meter, and a check that a
        local activity exists (here: one the simulation answers)."""

        def assert_local_activity_valid(name: str) -> None:
            if name != "record_transitions" and name not in self.lookups:
                raise SimulationError(f"the workflow called {name}, which a simulation lacks")

        return {
            "__temporal_get_metric_meter": lambda: MetricMeter.noop,
            "__temporal_assert_local_activity_valid": assert_local_activity_valid,
        }

    # ------------------------------------------------------------------ the loop
    def run(self) -> RunResult:
        """Deliver actions and fire timers in time order until the request ends or ``until``
        (actions taken after it are not delivered either: the data stands for that instant)."""
        action_index = 0
        while not self.result.completed:
            next_timer = min(self.timers.items(), key=lambda item: item[1], default=None)
            next_action = self.actions[action_index] if action_index < len(self.actions) else None
            if next_action is not None and next_action[0] > self.until:
                next_action = None  # taken after the instant the data stands for
            if next_action is not None and (next_timer is None or next_action[0] < next_timer[1]):
                at, action = next_action
                action_index += 1
                self._deliver(max(at, self.now), action)
                continue
            if next_timer is None or next_timer[1] > self.until:
                break
            seq, due = next_timer
            del self.timers[seq]
            self.now = max(due, self.now)
            self._activate([WorkflowActivationJob(fire_timer=FireTimer(seq=seq))])
        return self.result

    def _deliver(self, at: datetime, action: Delivered) -> None:
        self.now = at
        update_id = f"u{next(self._update_ids)}"
        self.waiting_updates[update_id] = action
        job = DoUpdate(
            id=update_id,
            protocol_instance_id=update_id,
            name="publish_calendar" if isinstance(action, CalendarUpdate) else "act",
            input=self.converter.to_payloads([action]),
            # A recorded action was accepted: as Temporal replays an accepted update, its
            # validator does not run again, so a rule added to the validator since (who may
            # take a step) does not refuse what production took. The handler's checks (the
            # state, the candidate policy's caps) still refuse what no longer applies. A
            # published calendar is checked: under a candidate the request may have ended
            # by then, or count its own days.
            run_validator=isinstance(action, CalendarUpdate),
        )
        self._activate([WorkflowActivationJob(do_update=job)])

    # ------------------------------------------------------------------ activations
    def _activate(self, jobs: list[WorkflowActivationJob]) -> None:
        while jobs:
            act = WorkflowActivation(run_id="whatif", jobs=jobs, history_length=1)
            act.timestamp.FromDatetime(self.now)
            completion = self.instance.activate(act)
            self.result.activations += 1
            if completion.HasField("failed"):
                raise SimulationError(completion.failed.failure.message)
            jobs = self._follow(completion.successful.commands)

    def _follow(self, commands: Sequence[WorkflowCommand]) -> list[WorkflowActivationJob]:
        """Carry out the commands; return the jobs that answer them at once (local activities)."""
        answers: list[WorkflowActivationJob] = []
        for command in commands:
            which = command.WhichOneof("variant")
            if which == "start_timer":
                timer = command.start_timer
                self.timers[timer.seq] = self.now + timer.start_to_fire_timeout.ToTimedelta()
            elif which == "cancel_timer":
                self.timers.pop(command.cancel_timer.seq, None)
            elif which == "schedule_local_activity":
                answers.append(self._local_activity(command.schedule_local_activity))
            elif which == "update_response":
                self._update_response(command.update_response)
            elif which == "complete_workflow_execution":
                self.result.completed = True
            elif which == "continue_as_new_workflow_execution":
                raise SimulationError("the workflow continued as new; a simulation cannot follow")
            elif which == "fail_workflow_execution":
                raise SimulationError(command.fail_workflow_execution.failure.message)
            elif which in ("set_patch_marker", "upsert_workflow_search_attributes"):
                continue
            else:
                raise SimulationError(f"the workflow asked for {which}, which a simulation lacks")
        return answers

    def _local_activity(self, scheduled: Any) -> WorkflowActivationJob:
        name = scheduled.activity_type
        if name == "record_transitions":
            [batch] = self.converter.from_payloads(scheduled.arguments)
            self.result.records.extend(batch.records)
            answer: object = len(batch.records)
        else:
            answer = self.lookups[name](*self.converter.from_payloads(scheduled.arguments))
        [result] = self.converter.to_payloads([answer])
        resolution = ActivityResolution(completed=Success(result=result))
        return WorkflowActivationJob(
            resolve_activity=ResolveActivity(seq=scheduled.seq, result=resolution, is_local=True)
        )

    def _update_response(self, response: Any) -> None:
        which = response.WhichOneof("response")
        if which == "rejected":
            action = self.waiting_updates.pop(response.protocol_instance_id)
            if not isinstance(action, CalendarUpdate):  # not taken: no one's action refused
                self.result.refused.append(Refusal(action, self.now, response.rejected.message))
        elif which == "completed":
            self.waiting_updates.pop(response.protocol_instance_id, None)


_HOST = threading.local()


def _create(details: WorkflowInstanceDetails) -> WorkflowInstance:
    """Create an instance as a worker does: on a running event loop (the SDK's runtime looks
    for one while the instance initialises). Activations then run it as a loop of its own."""

    async def create() -> WorkflowInstance:
        return RUNNER.create_instance(details)

    loop = getattr(_HOST, "loop", None)
    if loop is None:
        loop = _HOST.loop = asyncio.new_event_loop()
    return loop.run_until_complete(create())


def run_request(
    state: WorkflowState,
    start: datetime,
    actions: Sequence[tuple[datetime, Delivered]],
    lookups: Mapping[str, Lookup],
    until: datetime,
) -> RunResult:
    """Simulate one request from its submission at ``start`` to its end or ``until``.

    An instance runs as an event loop of its own (as on a worker's thread): called from a
    thread whose loop is running, it runs on a thread of its own instead.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return RequestRun(state, start, actions, lookups, until).run()
    with ThreadPoolExecutor(1, thread_name_prefix="whatif") as thread:
        return thread.submit(run_request, state, start, actions, lookups, until).result()
