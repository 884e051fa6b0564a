"""Scenario ``lifecycle``: full request lifecycles per second vs a bare no-op workflow.

A lifecycle is submit -> assigned -> acknowledge (which signs for it) -> resolve -> auto-close
after a 1 s reopen window. The bare baseline runs the same number of no-op activities in the
same phases (counted from a recorded lifecycle history), the same two updates and the same
timer. History events per lifecycle are a deterministic figure: ``HISTORY_EVENTS_BUDGET`` is the
committed one, and a run above it fails its target (the CI's ``--quick`` run checks it).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

from temporalio.api.enums.v1 import EventType as HistoryEvent

from schemas.lifecycle import ActionKind, ActionRequest
from schemas.request import RequestInput
from tierflow.constants import workflow_id
from tierflow_dev.bench.common import (
    SUPERVISOR,
    BenchStack,
    CpuMeter,
    bench_requests,
    console,
    gather_limited,
    progress,
    side_by_side,
    start_request,
    summarize,
    target,
)

REOPEN_SECONDS = 1.0
TARGET_RATIO = 0.8
HISTORY_EVENTS_TARGET = 25  # issue 24's target
HISTORY_EVENTS_BUDGET = 28  # the committed figure: more is a regression
PHASES = ("submit", "acknowledge", "resolve", "close")
LOCAL_ACTIVITY_MARKER = "core_local_activity"


@dataclass
class LifecycleParams:
    count: int = 300
    concurrency: int = 50


# tierflow bench lifecycle --quick: seconds, for CI
QUICK = LifecycleParams(count=8, concurrency=8)


def _action(kind: ActionKind, text: str | None = None) -> ActionRequest:
    return ActionRequest(action_id=f"b-{uuid.uuid4().hex}", kind=kind, actor=SUPERVISOR, text=text)


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
    client: Any, task_queue: str, wid: str, phases: list[int], local_phases: list[int]
) -> float:
    """Run the bare workflow with the same phases, updates and timer; return its seconds."""
    from tierflow_dev.bench.bare import BareWorkflow

    began = time.perf_counter()
    handle = await client.start_workflow(
        BareWorkflow.run,
        args=[phases, REOPEN_SECONDS, local_phases],
        id=wid,
        task_queue=task_queue,
    )
    for _ in range(len(phases) - 2):
        await handle.execute_update(BareWorkflow.step)
    await handle.result()
    return time.perf_counter() - began


async def history_shape(client: Any, wid: str) -> tuple[int, list[int], list[int], list[int]]:
    """Return (events, activities, local activities, events) per phase of a lifecycle.

    Phases are split at each accepted update and at the fired timer, so the bare workflow
    can schedule its no-ops (and local no-ops) at the same points.
    """
    history = await client.get_workflow_handle(wid).fetch_history()
    phases, local, events = [0], [0], [0]
    for event in history.events:
        kind = event.event_type
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
    return len(history.events), phases, local, events


async def run_lifecycle(stack: BenchStack, params: LifecycleParams) -> dict[str, Any]:
    """Measure both sides in one run and return the results section."""
    stack.use_policy(reopen_seconds=REOPEN_SECONDS)
    rid = stack.run_id
    async with side_by_side(stack) as (client, bare_queue):
        warm = bench_requests(1 if params.count < 20 else 3, f"lcw-{rid}")
        for req in warm:  # warm up and record the shape of one history
            await project_lifecycle(client, stack.task_queue, req)
        shapes = [await history_shape(client, workflow_id(r.request_id)) for r in warm]
        events, phases, local_phases, phase_events = shapes[0]
        await bare_lifecycle(client, bare_queue, f"bare-warm-{rid}", phases, local_phases)

        reqs = bench_requests(params.count, f"lc-{rid}")
        cpu = CpuMeter(stack)
        with progress(params.count, "project lifecycles") as advance:
            cpu.start()
            began = time.perf_counter()
            durations = await gather_limited(
                (project_lifecycle(client, stack.task_queue, r) for r in reqs),
                params.concurrency,
                advance,
            )
            project_wall = time.perf_counter() - began
            project_cpu = cpu.stop(params.count)
        with progress(params.count, "bare lifecycles") as advance:
            cpu.start()
            began = time.perf_counter()
            bare_durations = await gather_limited(
                (
                    bare_lifecycle(client, bare_queue, f"bare-{rid}-{i}", phases, local_phases)
                    for i in range(params.count)
                ),
                params.concurrency,
                advance,
            )
            bare_wall = time.perf_counter() - began
            bare_cpu = cpu.stop(params.count)
        sample = [
            await history_shape(client, workflow_id(r.request_id))
            for r in reqs[: min(20, len(reqs))]
        ]
    # the workflow's own shape: the leanest lifecycle. A busy host adds workflow tasks (an
    # update that arrives after the first task completed gets one of its own), which is load,
    # not the workflow; the mean shows them
    typical = min(sample, key=lambda shape: shape[0]) if sample else None
    per_lifecycle = typical[0] if typical else events
    phase_events = typical[3] if typical else phase_events
    project_rate = params.count / project_wall
    bare_rate = params.count / bare_wall
    ratio = project_rate / bare_rate
    console.log(f"lifecycle: project {project_rate:.2f}/s, bare {bare_rate:.2f}/s")
    return {
        "params": {**params.__dict__, "reopen_window_seconds": REOPEN_SECONDS},
        "results": {
            "project_completed_per_s": project_rate,
            "bare_completed_per_s": bare_rate,
            "ratio": ratio,
            "project_wall_s": project_wall,
            "bare_wall_s": bare_wall,
            "history_events_per_lifecycle": per_lifecycle,  # the leanest lifecycle's
            "history_events_mean": sum(s[0] for s in sample) / len(sample) if sample else events,
            "history_events_per_step": dict(zip(PHASES, phase_events, strict=False)),
            "activities_per_lifecycle": sum(phases),
            "local_activities_per_lifecycle": sum(local_phases),
            "activity_phases": phases,
            "local_activity_phases": local_phases,
            "project_cpu_ms_per_lifecycle": project_cpu,
            "bare_cpu_ms_per_lifecycle": bare_cpu,
            "project_lifecycle_s": summarize(durations),
            "bare_lifecycle_s": summarize(bare_durations),
        },
        "targets": {
            "ratio": target(ratio, TARGET_RATIO, ">="),
            "history_events": target(per_lifecycle, HISTORY_EVENTS_TARGET, "<="),
            "history_budget": target(per_lifecycle, HISTORY_EVENTS_BUDGET, "<="),
        },
    }
