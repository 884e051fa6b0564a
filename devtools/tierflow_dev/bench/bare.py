"""Bare baselines: workflows that only schedule activities, timers and updates.

They mirror the shape of a request lifecycle (activities before the first update, per update
and after a timer). With no-op activities the ratio shows what the project's workflow and
activities cost; with the project's own activities on the same inputs
(``tierflow_dev.bench.same_activities``), what its workflow costs beyond them.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from temporalio import activity, workflow

NOOP_TIMEOUT = timedelta(seconds=30)


@activity.defn(name="bench_noop")
def noop() -> None:
    """Do nothing: the cost of one activity round trip."""


@activity.defn(name="bench_stamp")
def stamp() -> float:
    """Return the wall clock when the activity ran (for timer lag)."""
    return time.time()


async def _noops(n: int) -> None:
    for _ in range(n):
        await workflow.execute_activity(noop, start_to_close_timeout=NOOP_TIMEOUT)


@workflow.defn(name="BenchBare")
class BareWorkflow:
    """``phases[0]`` activities, then one update per middle phase, a timer, the last phase.

    ``local_phases`` (same length) adds that many local activities to each phase: no-ops, or
    with ``local_names`` the named activities in turn, each given the run's id and its turn.
    """

    def __init__(self) -> None:
        self.updates = 0
        self.phases: list[int] = []
        self.local: list[int] = []
        self.names: list[str] = []
        self.turn = 0

    @workflow.run
    async def run(
        self,
        phases: list[int],
        timer_seconds: float,
        local_phases: list[int] | None = None,
        local_names: list[str] | None = None,
    ) -> int:
        self.local = local_phases or [0] * len(phases)
        self.names = local_names or []
        self.phases = phases
        await self._phase(0)
        middle = len(phases) - 2
        await workflow.wait_condition(lambda: self.updates >= middle)
        await workflow.wait_condition(workflow.all_handlers_finished)
        if timer_seconds > 0:
            await workflow.sleep(timer_seconds)
        await self._phase(len(phases) - 1)
        return sum(phases) + sum(self.local)

    @workflow.update
    async def step(self) -> int:
        await workflow.wait_condition(lambda: bool(self.phases))
        self.updates += 1
        await self._phase(self.updates)
        return self.updates

    async def _phase(self, number: int) -> None:
        for _ in range(self.local[number]):
            turn, self.turn = self.turn, self.turn + 1
            if self.names:
                await workflow.execute_local_activity(
                    self.names[turn],
                    args=[workflow.info().workflow_id, turn],
                    start_to_close_timeout=NOOP_TIMEOUT,
                )
            else:
                await workflow.execute_local_activity(noop, start_to_close_timeout=NOOP_TIMEOUT)
        await _noops(self.phases[number])


@workflow.defn(name="BenchBareTimer")
class BareTimerWorkflow:
    """Sleep until an absolute deadline, then run one activity; return its wall clock."""

    @workflow.run
    async def run(self, deadline: datetime) -> float:
        wait = deadline - workflow.now()
        if wait > timedelta(0):
            await workflow.sleep(wait)
        return await workflow.execute_activity(stamp, start_to_close_timeout=NOOP_TIMEOUT)
