"""Scenario ``lifecycle``: full request lifecycles per second vs a bare workflow.

A lifecycle is submit -> assigned -> acknowledge (which signs for it) -> resolve -> auto-close
after a 1 s reopen window. The bare baseline runs as many activities in the same phases
(counted from a recorded lifecycle history), the same two updates and the same timer. Its
activities are the project's own on the inputs of a calibration lifecycle (``--bare same``,
issue 24's baseline: ``same_activities``), or no-ops (``--bare noop``: what the project's
activities and workflow cost together).

History events per lifecycle are a deterministic figure for each shape a lifecycle can take:
the acknowledge, sent right after the start, reaches the first workflow task or gets a task of
its own (which a busy host makes likelier). ``HISTORY_EVENTS_BUDGET`` holds the
committed figure of each shape (by workflow tasks), and a run above it fails its target (the
CI's ``--quick`` run checks it).

The two sides take turns in ``rounds`` (project, bare, then bare, project, ...), each round a
share of ``count`` per side, and rates and CPU add up over the rounds: a shared host's speed
drifts within a minute, and turns spread that drift over both sides instead of handing it to
whichever ran second.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from temporalio.api.enums.v1 import EventType as HistoryEvent

from schemas.lifecycle import ActionKind, ActionRequest
from schemas.request import RequestInput
from tierflow.constants import workflow_id
from tierflow_dev.bench.common import (
    OPERATOR,
    BenchStack,
    bench_requests,
    console,
    count_rows,
    gather_limited,
    progress,
    project_worker,
    side_by_side,
    start_request,
    summarize,
    target,
)
from tierflow_dev.bench.cpu import CpuMeter
from tierflow_dev.bench.same_activities import NoteLocalActivities, Slot, bench_names
from tierflow_dev.bench.worker_procs import BARE as BARE_PROCS
from tierflow_dev.bench.worker_procs import PROJECT as PROJECT_PROCS

REOPEN_SECONDS = 1.0
TARGET_RATIO = 0.9  # issue 24: lifecycles per second against the bare baseline
TARGET_RATE = 10.0  # lifecycles per second with the whole stack on the machine
TARGET_WORKER_CPU_RATIO = 1.2  # the bench process's CPU per lifecycle against the bare one's
HISTORY_EVENTS_TARGET = 25  # issue 24's target
# the committed figures, by workflow tasks per lifecycle: more is a regression
HISTORY_EVENTS_BUDGET = {3: 25, 4: 32}
PHASES = ("submit", "acknowledge", "resolve", "close")
LOCAL_ACTIVITY_MARKER = "core_local_activity"


@dataclass
class LifecycleParams:
    count: int = 300
    concurrency: int = 50
    workers: int = 0  # worker processes per side; 0: both workers in the bench process
    rounds: int = 2  # turns per side (see the module doc)
    bare: str = "same"  # the baseline's activities: "same" (the project's) or "noop"


# tierflow bench lifecycle --quick: seconds, for CI
QUICK = LifecycleParams(count=8, concurrency=8, rounds=1)


def _action(kind: ActionKind, text: str | None = None) -> ActionRequest:
    return ActionRequest(action_id=f"b-{uuid.uuid4().hex}", kind=kind, actor=OPERATOR, text=text)


async def project_lifecycle(client: Any, task_queue: str, req: RequestInput) -> float:
    """Drive one request to closure through the real workflow; return its seconds."""
    from workflows.service_request import ServiceRequestWorkflow

    began = time.perf_counter()
    handle = await start_request(client, req, task_queue)
    for action in (
        _action(ActionKind.ACKNOWLEDGE),
        _action(ActionKind.RESOLVE, "benchmark resolution"),
    ):  # the update waits in the workflow until the request is assigned
        await handle.execute_update(ServiceRequestWorkflow.act, action, id=action.action_id)
    summary = await handle.result()
    if summary.state.value != "closed":
        raise RuntimeError(f"{req.request_id} ended {summary.state.value}, expected closed")
    return time.perf_counter() - began


async def bare_lifecycle(
    client: Any,
    task_queue: str,
    wid: str,
    phases: list[int],
    local_phases: list[int],
    local_names: list[str] | None = None,
) -> float:
    """Run the bare workflow with the same phases, updates and timer; return its seconds."""
    from tierflow_dev.bench.bare import BareWorkflow

    began = time.perf_counter()
    handle = await client.start_workflow(
        BareWorkflow.run,
        args=[phases, REOPEN_SECONDS, local_phases, local_names],
        id=wid,
        task_queue=task_queue,
    )
    for _ in range(len(phases) - 2):
        await handle.execute_update(BareWorkflow.step)
    await handle.result()
    return time.perf_counter() - began


@dataclass(frozen=True)
class Shape:
    """A lifecycle's history: events, and activities, local activities, events per phase."""

    events: int
    activities: list[int]
    local_activities: list[int]
    phase_events: list[int]
    workflow_tasks: int

    @property
    def closed_by_timer(self) -> bool:
        """Closed when its reopen window's timer fired; a host too slow for the 1 s window
        closes it in the resolve's own workflow task instead (no timer: another shape)."""
        return len(self.phase_events) == len(PHASES)


def within_budget(leanest: Shape, by_tasks: dict[int, int]) -> bool:
    """The leanest lifecycle has a known shape, and no shape has more events than its figure.

    (A shape with more workflow tasks than any known one is a busy host's, not a regression.)
    """
    known = leanest.workflow_tasks in HISTORY_EVENTS_BUDGET
    return known and all(
        events <= HISTORY_EVENTS_BUDGET[tasks]
        for tasks, events in by_tasks.items()
        if tasks in HISTORY_EVENTS_BUDGET
    )


def leanest(shapes: list[Shape]) -> tuple[Shape, dict[int, int]]:
    """The workflow's own shape, and the fewest events of each shape by workflow tasks.

    Only lifecycles closed by their timer count: a host too slow for the reopen window closes
    one without it. A busy host adds workflow tasks (an update that arrives after the first
    task completed gets one of its own), which is load, not the workflow; the mean shows them.
    """
    timed = [shape for shape in shapes if shape.closed_by_timer] or shapes
    by_tasks: dict[int, int] = {}
    for shape in timed:
        by_tasks[shape.workflow_tasks] = min(shape.events, by_tasks.get(shape.workflow_tasks, 999))
    return min(timed, key=lambda shape: shape.events), by_tasks


async def history_shape(client: Any, wid: str) -> Shape:
    """Return the shape of a lifecycle's history.

    Phases are split at each accepted update and at the fired timer, so the bare workflow
    can schedule its no-ops (and local no-ops) at the same points.
    """
    history = await client.get_workflow_handle(wid).fetch_history()
    phases, local, events = [0], [0], [0]
    tasks = 0
    for event in history.events:
        kind = event.event_type
        tasks += kind == HistoryEvent.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
        if kind in (
            HistoryEvent.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED,
            HistoryEvent.EVENT_TYPE_TIMER_FIRED,
        ):
            phases.append(0)
            local.append(0)
            events.append(0)
        events[-1] += 1
        if kind == HistoryEvent.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            phases[-1] += 1
        elif (
            kind == HistoryEvent.EVENT_TYPE_MARKER_RECORDED
            and event.marker_recorded_event_attributes.marker_name == LOCAL_ACTIVITY_MARKER
        ):
            local[-1] += 1
    # fold any extra timers (none expected) into the last phase
    while len(phases) > 4:
        phases[-2] += phases.pop()
        local[-2] += local.pop()
        events[-2] += events.pop()
    return Shape(len(history.events), phases, local, events, tasks)


async def calibrate(stack: BenchStack, client: Any) -> tuple[list[Slot], Shape]:
    """Run one lifecycle through an in-process project worker on a queue of its own; return
    its local activities' inputs in order and its shape (the bare baseline repeats both)."""
    [req] = bench_requests(1, f"lcc-{stack.run_id}")
    notes = NoteLocalActivities(workflow_id(req.request_id))
    queue = f"{stack.task_queue}-calibrate-{stack.run_id}"
    # no directory or policy checks on threads of their own: they would outlive the worker
    async with project_worker(
        stack,
        client,
        task_queue=queue,
        interceptors=[notes],
        directory_refresh_seconds=0,
        policy_refresh_seconds=0,
    ):
        await project_lifecycle(client, queue, req)
    shape = await history_shape(client, workflow_id(req.request_id))
    if len(notes.slots) != sum(shape.local_activities):
        raise RuntimeError(
            f"the calibration noted {len(notes.slots)} local activities, its history shows"
            f" {sum(shape.local_activities)}"
        )
    return notes.slots, shape


def _audit_rows(stack: BenchStack, prefixes: dict[str, str], count: int) -> dict[str, float]:
    """The audit-trail rows per lifecycle of the requests under each prefix."""
    from tierflow.db.engine import make_engine

    engine = make_engine(stack.database_url)
    try:
        return {
            side: count_rows(engine, "transition", prefix, "1 = 1") / count
            for side, prefix in prefixes.items()
        }
    finally:
        engine.dispose()


def _rounds(count: int, rounds: int) -> list[range]:
    """``count`` lifecycles split into ``rounds`` consecutive shares (the first ones larger)."""
    rounds = max(1, min(rounds, count))
    size, extra = divmod(count, rounds)
    bounds = [0]
    for number in range(rounds):
        bounds.append(bounds[-1] + size + (number < extra))
    return [range(low, high) for low, high in pairwise(bounds)]


@dataclass
class Side:
    """One side's wall time, CPU and lifecycle seconds, added up over its rounds."""

    name: str
    wall: float = 0.0
    cpu_ms: dict[str, float] = field(default_factory=dict)
    durations: list[float] = field(default_factory=list)

    async def measure(self, cpu: CpuMeter, coros: list[Any], concurrency: int) -> None:
        with progress(len(coros), f"{self.name} lifecycles") as advance:
            cpu.start()
            began = time.perf_counter()
            self.durations += await gather_limited(coros, concurrency, advance)
            self.wall += time.perf_counter() - began
            for name, ms in cpu.stop(1).items():
                self.cpu_ms[name] = self.cpu_ms.get(name, 0.0) + ms

    def cpu_per(self, count: int) -> dict[str, float]:
        return {name: ms / max(count, 1) for name, ms in self.cpu_ms.items()}


async def run_lifecycle(stack: BenchStack, params: LifecycleParams) -> dict[str, Any]:
    """Measure both sides in one run and return the results section."""
    stack.use_policy(reopen_seconds=REOPEN_SECONDS)
    rid = stack.run_id
    calibration: list[tuple[list[Slot], Shape]] = []

    async def noted(client: Any) -> list[Slot]:
        calibration.append(await calibrate(stack, client))
        return calibration[0][0]

    same = params.bare == "same"
    async with side_by_side(stack, params.workers, noted if same else None) as (client, bare_queue):
        warm = bench_requests(1 if params.count < 20 else 3, f"lcw-{rid}")
        for req in warm:  # warm up and record the shape of one history
            await project_lifecycle(client, stack.task_queue, req)
        shapes = [await history_shape(client, workflow_id(r.request_id)) for r in warm]
        # the bare baseline takes the shape of the lifecycle whose activities it repeats
        shape = calibration[0][1] if same else shapes[0]
        phases, local_phases = shape.activities, shape.local_activities
        names = bench_names(calibration[0][0]) if same else None
        await bare_lifecycle(client, bare_queue, f"bare-warm-{rid}", phases, local_phases, names)

        reqs = bench_requests(params.count, f"lc-{rid}")
        project_side, bare_side = Side("project"), Side("bare")

        def project_round(chunk: range) -> list[Any]:
            return [project_lifecycle(client, stack.task_queue, reqs[i]) for i in chunk]

        def bare_round(chunk: range) -> list[Any]:
            return [
                bare_lifecycle(client, bare_queue, f"bare-{rid}-{i}", phases, local_phases, names)
                for i in chunk
            ]

        cpu = CpuMeter(stack)
        turns = [(project_side, project_round), (bare_side, bare_round)]
        for number, chunk in enumerate(_rounds(params.count, params.rounds)):
            for side, coros in turns if number % 2 == 0 else reversed(turns):
                await side.measure(cpu, coros(chunk), params.concurrency)
        project_cpu = project_side.cpu_per(params.count)
        bare_cpu = bare_side.cpu_per(params.count)
        sample = [
            await history_shape(client, workflow_id(r.request_id))
            for r in reqs[: min(20, len(reqs))]
        ]
    typical, by_tasks = leanest(sample or shapes)
    written = _audit_rows(stack, {"project": f"lc-{rid}-", "bare": f"bare-{rid}-"}, params.count)
    project_rate = params.count / project_side.wall
    bare_rate = params.count / bare_side.wall
    ratio = project_rate / bare_rate
    # the bench process runs the worker and the client of both sides: its CPU is the worker's;
    # with worker processes, theirs is
    if params.workers:
        own, bare = project_cpu.get(PROJECT_PROCS), bare_cpu.get(BARE_PROCS)
    else:
        own, bare = project_cpu.get("bench_process"), bare_cpu.get("bench_process")
    worker_cpu_ratio = own / bare if own is not None and bare else None
    project_total, bare_total = sum(project_cpu.values()), sum(bare_cpu.values())
    console.log(f"lifecycle: project {project_rate:.2f}/s, bare {bare_rate:.2f}/s")
    return {
        "params": {**params.__dict__, "reopen_window_seconds": REOPEN_SECONDS},
        "results": {
            "project_completed_per_s": project_rate,
            "bare_completed_per_s": bare_rate,
            "ratio": ratio,
            # CPU of every process measured (CpuMeter), per lifecycle; lifecycles per CPU
            # second is the rate one core would give; cores busy is CPU over wall time
            "project_cpu_ms_per_lifecycle_total": project_total,
            "bare_cpu_ms_per_lifecycle_total": bare_total,
            "project_per_core_per_s": 1000 / project_total if project_total else None,
            "bare_per_core_per_s": 1000 / bare_total if bare_total else None,
            "project_cores_busy": project_total * project_rate / 1000,
            "bare_cores_busy": bare_total * bare_rate / 1000,
            "project_wall_s": project_side.wall,
            "bare_wall_s": bare_side.wall,
            "history_events_per_lifecycle": typical.events,  # the leanest lifecycle's
            "history_events_mean": sum(s.events for s in sample) / len(sample) if sample else None,
            # of the sampled lifecycles, those closed in their resolve's task (a slow host)
            "closed_without_timer": sum(not s.closed_by_timer for s in sample),
            "history_events_per_step": dict(zip(PHASES, typical.phase_events, strict=False)),
            "workflow_tasks_per_lifecycle": typical.workflow_tasks,
            # the events of each shape seen, by workflow tasks (see the module doc)
            "history_events_by_workflow_tasks": dict(sorted(by_tasks.items())),
            "activities_per_lifecycle": sum(phases),
            "local_activities_per_lifecycle": sum(local_phases),
            "activity_phases": phases,
            "local_activity_phases": local_phases,
            # the baseline's activities: the project's own (issue 24's baseline) or no-ops
            "bare_activities": params.bare,
            "bare_local_activities": names,
            # audit-trail rows each side wrote per lifecycle (equal when the bare repeats
            # the project's activities; 0 for a no-op baseline)
            "audit_rows_per_lifecycle": written,
            "project_cpu_ms_per_lifecycle": project_cpu,
            "worker_cpu_ratio": worker_cpu_ratio,
            "bare_cpu_ms_per_lifecycle": bare_cpu,
            "project_lifecycle_s": summarize(project_side.durations),
            "bare_lifecycle_s": summarize(bare_side.durations),
        },
        "targets": {
            "ratio": target(ratio, TARGET_RATIO, ">="),
            "rate": target(project_rate, TARGET_RATE, ">="),
            **(
                {"worker_cpu_ratio": target(worker_cpu_ratio, TARGET_WORKER_CPU_RATIO, "<=")}
                if worker_cpu_ratio is not None
                else {}
            ),
            "history_events": target(typical.events, HISTORY_EVENTS_TARGET, "<="),
            **(
                {
                    "same_work": {
                        "value": written["bare"],
                        "target": f"== {written['project']}",
                        "met": written["bare"] == written["project"],
                    }
                }
                if same
                else {}
            ),
            "history_budget": {
                "value": by_tasks,
                "target": {tasks: f"<= {n}" for tasks, n in HISTORY_EVENTS_BUDGET.items()},
                "met": within_budget(typical, by_tasks),
            },
        },
    }
