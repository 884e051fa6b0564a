"""Scenario ``scale``: many open requests held by one ``tierflow worker`` process.

The worker runs as its own process (env ``TIERFLOW_*`` pointing at the bench servers) so its
RSS can be read from /proc. After N requests are open, actions are timed on the most recently
started requests (still in the worker's workflow cache) and on the first ones started (evicted
once N exceeds the cache, 1000 workflows by default), which the worker must replay first.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from schemas.lifecycle import ActionKind, ActionRequest
from tierflow.constants import workflow_id
from tierflow_dev.bench.common import (
    OPERATOR,
    BenchStack,
    bench_requests,
    connect,
    console,
    count_rows,
    gather_limited,
    progress,
    run_id,
    start_request,
    start_worker_process,
    summarize,
    target,
)
from tierflow_dev.bench.cpu import rss_mb

WORKER_CACHE = 1000  # temporalio Worker default max_cached_workflows (build_worker keeps it)
TARGET_RSS_MB = 800.0
TARGET_EVICTED_P95_S = 0.2


@dataclass
class ScaleParams:
    count: int = 10_000
    probes: int = 100
    concurrency: int = 100


# tierflow bench scale --quick: seconds, for CI
QUICK = ScaleParams(count=40, probes=5, concurrency=20)


def _assigned(engine: Engine, prefix: str) -> int:
    return count_rows(engine, "service_request", prefix, "institution_id IS NOT NULL")


async def _time_actions(client: Any, request_ids: list[str]) -> list[float]:
    """Acknowledge each request one after another; return each update's seconds."""
    from workflows.service_request import ServiceRequestWorkflow

    took = []
    for rid in request_ids:
        handle = client.get_workflow_handle(workflow_id(rid))
        action = ActionRequest(
            action_id=f"b-{uuid.uuid4().hex}", kind=ActionKind.ACKNOWLEDGE, actor=OPERATOR
        )
        began = time.perf_counter()
        await handle.execute_update(ServiceRequestWorkflow.act, action, id=action.action_id)
        took.append(time.perf_counter() - began)
    return took


async def run_scale(stack: BenchStack, params: ScaleParams) -> dict[str, Any]:
    """Open N requests on a separate worker process; measure its RSS and action latency."""
    from tierflow.db.engine import make_engine
    from tierflow.db.migrate import upgrade

    upgrade(stack.database_url)
    engine = make_engine(stack.database_url)
    proc = start_worker_process(stack)
    pid = proc.pid()
    assert pid is not None
    try:
        client = await connect(stack)
        await asyncio.sleep(2)
        idle_rss, _ = rss_mb(pid)
        prefix = f"sc-{run_id()}"
        reqs = bench_requests(params.count, prefix)
        peak = [idle_rss]
        sampling = True

        async def sample() -> None:
            while sampling:
                peak.append(rss_mb(pid)[0])
                await asyncio.sleep(1.0)

        sampler = asyncio.create_task(sample())

        async def start(req: Any) -> None:
            await start_request(client, req, stack.task_queue)

        began = time.perf_counter()
        with progress(params.count, "opening requests") as advance:
            await gather_limited((start(r) for r in reqs), params.concurrency, advance)
        with progress(params.count, "assigned") as advance:
            done = 0
            while done < params.count:
                now = await asyncio.to_thread(_assigned, engine, prefix)
                advance(now - done)
                done = now
                if not proc.is_running():
                    raise RuntimeError(f"tierflow worker exited; see {proc.log_path}")
                await asyncio.sleep(1.0)
        open_s = time.perf_counter() - began
        await asyncio.sleep(3)
        open_rss, hwm = rss_mb(pid)
        probes = min(params.probes, max(1, params.count // 2))
        ids = [r.request_id for r in reqs]
        cached = await _time_actions(client, ids[-probes:])
        evicted = await _time_actions(client, ids[:probes])
        sampling = False
        await sampler
        final_rss, hwm = rss_mb(pid)
    finally:
        proc.stop(timeout=20)
        engine.dispose()
    console.log(f"scale: RSS {open_rss:.0f} MB with {params.count} open")
    cached_s, evicted_s = summarize(cached), summarize(evicted)
    rss_peak = max(max(peak), hwm)
    return {
        "params": {
            **params.__dict__,
            "worker_cache_capacity": WORKER_CACHE,
            "evicted_expected": params.count > WORKER_CACHE + probes,
            "worker": "separate process: python -m tierflow.cli worker",
        },
        "results": {
            "open_requests": params.count,
            "open_s": open_s,
            "opened_per_s": params.count / open_s,
            "rss_idle_mb": idle_rss,
            "rss_open_mb": open_rss,
            "rss_peak_mb": rss_peak,
            "rss_after_actions_mb": final_rss,
            "kb_per_open_request": (open_rss - idle_rss) * 1024 / params.count,
            "action_in_cache_s": cached_s,
            "action_evicted_s": evicted_s,
            "evicted_over_cached_p95": evicted_s["p95"] / cached_s["p95"]
            if cached_s["p95"]
            else None,
        },
        "targets": {
            "rss_peak_mb": target(rss_peak, TARGET_RSS_MB, "<="),
            "action_evicted_p95_s": target(evicted_s["p95"], TARGET_EVICTED_P95_S, "<="),
        },
    }
