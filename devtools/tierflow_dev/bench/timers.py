"""Scenario ``timers``: lag from an SLA deadline to the escalation it causes.

``count`` requests are held open. Most are background: low priority, with a response target
too far off to fire. The last ``probes`` are opened at ``probe_rate`` per second with a short
response target on an always-open calendar, so their response clocks fall due at that rate
while every request is open. The lag is read back from the audit trail: the deadline in the
``sla_breached`` record's details against the escalation record's ``occurred_at`` (workflow
time, after routing) and ``recorded_at`` (when the row was written).

The bare baseline holds the same number of sleeping workflows and runs one workflow per
probe that sleeps until the same deadline (same spread) and then runs one no-op activity.
An earlier design opened all requests at once with one short target, so intake and firing
overlapped; that measured intake throughput more than timer lag (see docs/benchmarks).
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, text

from schemas.domain import Priority
from tierflow_dev.bench.common import (
    BenchStack,
    bench_requests,
    console,
    count_rows,
    gather_limited,
    paced,
    progress,
    side_by_side,
    start_request,
    summarize,
    target,
)

TARGET_P95_S = 1.0
ESCALATION_EVENTS = ("escalated", "supervisor_alert")


@dataclass
class TimerParams:
    count: int = 5000  # open requests, probes included
    probes: int = 1000  # opened last, their response clocks fire during the run
    probe_rate: float = 4.0  # probes opened, and so deadlines falling due, per second
    response_seconds: float = 60.0  # the probes' response target
    concurrency: int = 100  # background requests opened at once


# tierflow bench timers --quick: seconds, for CI
QUICK = TimerParams(count=50, probes=20, probe_rate=10.0, response_seconds=8.0, concurrency=25)


def _aware(value: Any) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _escalations(engine: Engine, prefix: str) -> int:
    return count_rows(
        engine, "transition", prefix, "event_type IN ('escalated', 'supervisor_alert')"
    )


def _assigned(engine: Engine, prefix: str) -> tuple[int, int]:
    """Return (requests assigned, of which at the county tier: those clocks breach)."""
    query = text(
        "SELECT count(*), coalesce(sum(CASE WHEN to_tier = 'county' THEN 1 ELSE 0 END), 0) "
        "FROM transition WHERE request_id LIKE :p AND event_type = 'assigned'"
    )
    with engine.connect() as conn:
        total, county = conn.execute(query, {"p": f"{prefix}%"}).one()
    return int(total), int(county)


def read_lags(engine: Engine, prefix: str) -> dict[str, list[float]]:
    """Return per-request lags (s) from the audit trail: fire, escalation event, row."""
    query = text(
        "SELECT request_id, event_type, occurred_at, recorded_at, details, sequence "
        "FROM transition WHERE request_id LIKE :p "
        "AND event_type IN ('sla_breached', 'escalated', 'supervisor_alert') "
        "ORDER BY request_id, sequence"
    )
    deadline: dict[str, datetime] = {}
    lags: dict[str, list[float]] = {"breach_fired": [], "escalation_event": [], "row_written": []}
    with engine.connect() as conn:
        for rid, kind, occurred, recorded, details, _seq in conn.execute(
            query, {"p": f"{prefix}%"}
        ):
            data = json.loads(details) if isinstance(details, str) else details
            if kind == "sla_breached" and rid not in deadline:
                deadline[rid] = _aware(data["deadline"])
                lags["breach_fired"].append((_aware(occurred) - deadline[rid]).total_seconds())
            elif kind in ESCALATION_EVENTS and rid in deadline:
                due = deadline.pop(rid)
                lags["escalation_event"].append((_aware(occurred) - due).total_seconds())
                lags["row_written"].append((_aware(recorded) - due).total_seconds())
    return lags


def first_deadlines(engine: Engine, prefix: str) -> list[datetime]:
    """Return each request's first response deadline, from its breach record."""
    query = text(
        "SELECT details FROM transition WHERE request_id LIKE :p AND event_type = 'sla_breached'"
    )
    with engine.connect() as conn:
        rows = conn.execute(query, {"p": f"{prefix}%"}).all()
    found = []
    for (details,) in rows:
        data = json.loads(details) if isinstance(details, str) else details
        found.append(_aware(data["deadline"]))
    return sorted(found)


async def _wait_for(engine: Engine, prefix: str, count: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    done = 0
    with progress(count, "escalations") as advance:
        while time.monotonic() < deadline:
            now = await asyncio.to_thread(_escalations, engine, prefix)
            advance(now - done)
            done = now
            if done >= count:
                break
            await asyncio.sleep(1.0)
    return done


async def _wait_assigned(engine: Engine, prefix: str, count: int) -> tuple[int, int]:
    """Wait until ``count`` requests under ``prefix`` are assigned; return (all, at county)."""
    assigned, county = 0, 0
    limit = time.monotonic() + 120 + count / 2
    while assigned < count and time.monotonic() < limit:
        await asyncio.sleep(1.0)
        assigned, county = await asyncio.to_thread(_assigned, engine, prefix)
    return assigned, county


async def run_timers(stack: BenchStack, params: TimerParams) -> dict[str, Any]:
    """Hold ``count`` requests open, let the probes' clocks fire, then run the bare baseline."""
    from tierflow.db.engine import make_engine

    stack.use_policy(
        response_seconds=params.response_seconds,
        warning_thresholds=[0.5],
        idle_priority=Priority.LOW.value,
    )
    engine = make_engine(stack.database_url)
    rid = stack.run_id
    background = [
        r.model_copy(update={"priority": Priority.LOW})
        for r in bench_requests(params.count - params.probes, f"tm-{rid}-b")
    ]
    probes = [
        r.model_copy(update={"priority": Priority.URGENT})
        for r in bench_requests(params.probes, f"tm-{rid}-p", seed=11)
    ]
    async with side_by_side(stack) as (client, bare_queue):

        async def start(req: Any) -> None:
            await start_request(client, req, stack.task_queue)

        began = time.perf_counter()
        with progress(len(background), "opening background requests") as advance:
            await gather_limited((start(r) for r in background), params.concurrency, advance)
            held, _ = await _wait_assigned(engine, f"tm-{rid}-b", len(background))
        background_s = time.perf_counter() - began
        console.log(f"timers: {len(background)} background requests open in {background_s:.1f} s")

        began = time.perf_counter()
        with progress(len(probes), f"opening probes at {params.probe_rate}/s") as advance:
            await paced((start(r) for r in probes), params.probe_rate, advance)
        probes_s = time.perf_counter() - began
        assigned, expected = await _wait_assigned(engine, f"tm-{rid}-p", len(probes))
        wait = params.response_seconds + 120 + params.probes / params.probe_rate
        done = await _wait_for(engine, f"tm-{rid}-p", expected, wait)
        lags = await asyncio.to_thread(read_lags, engine, f"tm-{rid}-p")
        deadlines = await asyncio.to_thread(first_deadlines, engine, f"tm-{rid}-p")
        lead = timedelta(seconds=params.response_seconds)
        bare_lags = await _bare_timers(client, bare_queue, rid, len(background), deadlines, lead)
    engine.dispose()
    p95 = summarize(lags["escalation_event"])["p95"]
    bare_p95 = summarize(bare_lags)["p95"]
    due_spread = spread(deadlines)
    return {
        "params": {**params.__dict__, "warning_thresholds": [0.5], "calendar": "always open"},
        "results": {
            "open_requests": held + assigned,
            "background_open_s": background_s,
            "probes_open_s": probes_s,
            "probes_breaching_at_county": expected,
            "escalated": done,
            "deadline_spread_s": due_spread,
            "deadlines_per_s": (len(deadlines) - 1) / due_spread if due_spread > 0 else 0.0,
            "escalation_event_lag_s": summarize(lags["escalation_event"]),
            "escalation_row_lag_s": summarize(lags["row_written"]),
            "breach_fired_lag_s": summarize(lags["breach_fired"]),
            "bare_timer_activity_lag_s": summarize(bare_lags),
            "p95_ratio_project_over_bare": p95 / bare_p95 if bare_p95 > 0 else None,
        },
        "targets": {"escalation_event_lag_p95_s": target(p95, TARGET_P95_S, "<=")},
    }


async def _until_sleeping(handle: Any, timeout: float = 600.0) -> None:
    """Wait until the workflow has started its timer: the worker has worked its first task."""
    from temporalio.api.enums.v1 import EventType as HistoryEvent

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        history = await handle.fetch_history()
        if any(e.event_type == HistoryEvent.EVENT_TYPE_TIMER_STARTED for e in history.events):
            return
        await asyncio.sleep(1.0)
    raise TimeoutError(f"{handle.id} did not start its timer within {timeout:.0f} s")


def spread(deadlines: list[datetime]) -> float:
    """Seconds between the first and the last deadline (0 for fewer than two)."""
    return (deadlines[-1] - deadlines[0]).total_seconds() if len(deadlines) > 1 else 0.0


async def _bare_timers(
    client: Any, queue: str, rid: str, holders: int, deadlines: list[datetime], lead: timedelta
) -> list[float]:
    """Hold ``holders`` sleeping workflows, fire one per deadline (same spread); return lags."""
    from tierflow_dev.bench.bare import BareTimerWorkflow

    far = datetime.now(UTC) + timedelta(days=1)

    async def bare_start(wid: str, due: datetime) -> Any:
        return await client.start_workflow(BareTimerWorkflow.run, due, id=wid, task_queue=queue)

    with progress(holders, "bare sleeping workflows") as advance:
        held = await gather_limited(
            (bare_start(f"tm-{rid}-bare-hold-{i}", far) for i in range(holders)), 100, advance
        )
    if held:  # as the project's background is assigned before its probes open
        await _until_sleeping(held[-1])
    # each probe starts ``lead`` before its deadline, at the pace the project's probes opened
    began = datetime.now(UTC)
    shifted = [began + lead + (d - deadlines[0]) for d in deadlines] if deadlines else []
    rate = (len(shifted) - 1) / spread(shifted) if spread(shifted) > 0 else 0.0
    with progress(len(shifted), "bare timers") as advance:
        starts = (bare_start(f"tm-{rid}-bare-{i}", d) for i, d in enumerate(shifted))
        if rate > 0:
            handles = await paced(starts, rate, advance)
        else:
            handles = await gather_limited(starts, 100, advance)
    if shifted:  # collect after the last deadline: no thousands of long polls
        await asyncio.sleep(max(0.0, (shifted[-1] - datetime.now(UTC)).total_seconds()))
    stamps = await gather_limited((h.result() for h in handles), 50)
    return [s - d.timestamp() for s, d in zip(stamps, shifted, strict=True)]
