"""Scenario ``lifecycle-workers``: the lifecycle scenario with 1, 2, 4 ... worker processes.

One stack, one ``run_lifecycle`` per worker count (``--workers N``: N ``tierflow worker``
processes against N bare worker processes), one after the other. Throughput per core is
lifecycles per CPU second of every process measured (bench client, workers, Temporal
server, brokers, PostgreSQL). Scaling stops at the first count whose step adds less than
``STOP_GAIN`` throughput; on a host with fewer cores than the processes need, that is where
the cores run out, which ``cores_busy`` (CPU seconds over wall seconds) shows.
"""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any

from tierflow_dev.bench.common import BenchStack, console, run_id
from tierflow_dev.bench.lifecycle import LifecycleParams, run_lifecycle

STOP_GAIN = 1.1  # a step that adds less than 10 % lifecycles per second: scaling stopped
KEPT = (
    "project_completed_per_s",
    "bare_completed_per_s",
    "ratio",
    "project_per_core_per_s",
    "bare_per_core_per_s",
    "project_cores_busy",
    "bare_cores_busy",
    "worker_cpu_ratio",
    "project_cpu_ms_per_lifecycle",
    "bare_cpu_ms_per_lifecycle",
    "project_lifecycle_s",
)


def scaling_stop(rates: dict[int, float]) -> dict[str, Any]:
    """Where adding workers stops paying: the last count before a step under ``STOP_GAIN``."""
    counts = sorted(rates)
    speedup = {n: rates[n] / rates[counts[0]] for n in counts}
    for prev, n in zip(counts, counts[1:], strict=False):
        if rates[n] < STOP_GAIN * rates[prev]:
            return {"stops_after_workers": prev, "next_step_gain": rates[n] / rates[prev]} | {
                "speedup": speedup
            }
    return {"stops_after_workers": None, "next_step_gain": None, "speedup": speedup}


async def run_scaling(
    stack: BenchStack, params: LifecycleParams, workers: list[int]
) -> dict[str, Any]:
    """Run the lifecycle scenario once per worker count; return the results section."""
    runs: dict[int, dict[str, Any]] = {}
    failed: dict[int, dict[str, Any]] = {}
    queue = stack.task_queue
    for n in workers:
        stack.task_queue = f"{queue}-w{n}"  # a queue per count: a failed run's leftovers stay
        stack.run_id = run_id()  # request ids of its own: a request id reused is no new request
        load_before = os.getloadavg()[0]
        try:
            section = await run_lifecycle(stack, replace(params, workers=n))
        except Exception as exc:  # noqa: BLE001 - a count that fails is a result too
            failed[n] = {
                "error": f"{type(exc).__name__}: {exc}",
                "load_average_1m": {"start": load_before, "end": os.getloadavg()[0]},
            }
            console.log(f"{n} worker processes: failed ({failed[n]['error']})")
            continue
        res = section["results"]
        runs[n] = {key: res[key] for key in KEPT} | {
            "load_average_1m": {"start": load_before, "end": os.getloadavg()[0]},
            "targets": {k: v for k, v in section["targets"].items() if k != "history_budget"},
        }
        console.log(f"{n} worker processes: {res['project_completed_per_s']:.2f}/s")
    stack.task_queue = queue
    if not runs:
        raise RuntimeError(f"every worker count failed: {failed}")
    rates = {n: run["project_completed_per_s"] for n, run in runs.items()}
    return {
        "params": {**params.__dict__, "workers": workers, "stop_gain": STOP_GAIN},
        "results": {
            "by_workers": runs,
            "failed": failed,
            "scaling": scaling_stop(rates),
            "bare_scaling": scaling_stop(
                {n: run["bare_completed_per_s"] for n, run in runs.items()}
            ),
        },
        "targets": {
            f"{k} ({n} workers)": v for n, r in runs.items() for k, v in r["targets"].items()
        },
    }
