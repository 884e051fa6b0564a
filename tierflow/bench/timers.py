"""Scenario ``timers``: lag from an SLA deadline to the escalation it causes.

M requests are opened with a short response target on an always-open calendar, so their
response clocks breach while all of them are open. The lag is read back from the audit trail:
the deadline in the ``sla_breached`` record's details against the escalation record's
``occurred_at`` (workflow time, after routing) and ``recorded_at`` (when the row was written).
The bare baseline runs M workflows that sleep until the same deadlines (same spread) and then
run one no-op activity.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, text

from tierflow.bench.common import (
    BenchStack,
    bare_worker,
    bench_requests,
    connect,
    console,
    gather_limited,
    progress,
    project_worker,
    run_id,
    start_request,
    summarize,
    target,
    write_policy,
)

TARGET_P95_S = 1.0
ESCALATION_EVENTS = ("escalated", "supervisor_alert")


@dataclass
class TimerParams:
    count: int = 5000
    response_seconds: float = 240.0
    concurrency: int = 100


def _aware(value: Any) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _escalations(engine: Engine, prefix: str) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                text(
                    "SELECT count(*) FROM transition WHERE request_id LIKE :p "
                    "AND event_type IN ('escalated', 'supervisor_alert')"
                ),
                {"p": f"{prefix}%"},
            ).scalar_one()
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


async def run_timers(stack: BenchStack, params: TimerParams) -> dict[str, Any]:
    """Open M requests, wait for every breach to escalate, then run the bare baseline."""
    from tierflow.db.engine import make_engine, upgrade

    stack.policy_file = write_policy(
        stack.home / "policy.toml",
        response_seconds=params.response_seconds,
        warning_thresholds=[0.5],
    )
    upgrade(stack.database_url)
    engine = make_engine(stack.database_url)
    client = await connect(stack)
    prefix = f"tm-{run_id()}"
    reqs = bench_requests(params.count, prefix)
    bare_queue = f"{stack.task_queue}-bare"
    async with project_worker(stack, client), bare_worker(client, bare_queue):

        async def start(req: Any) -> None:
            await start_request(client, req, stack.task_queue)

        began = time.perf_counter()
        with progress(params.count, "opening requests") as advance:
            await gather_limited((start(r) for r in reqs), params.concurrency, advance)
        ramp = time.perf_counter() - began
        console.log(f"timers: {params.count} started in {ramp:.1f} s")
        assigned, expected = 0, 0
        limit = time.monotonic() + 120 + params.count / 5
        while assigned < params.count and time.monotonic() < limit:
            await asyncio.sleep(1.0)
            assigned, expected = await asyncio.to_thread(_assigned, engine, prefix)
        wait = params.response_seconds + 120 + params.count / 10
        done = await _wait_for(engine, prefix, expected, wait)
        lags = await asyncio.to_thread(read_lags, engine, prefix)
        deadlines = await asyncio.to_thread(first_deadlines, engine, prefix)

        # bare: the same deadline spread, shifted to start after the bare workflows exist
        from tierflow.bench.bare import BareTimerWorkflow

        lead = timedelta(seconds=10 + params.count / 100)
        base = datetime.now(UTC) + lead
        bare_deadlines = [base + (d - deadlines[0]) for d in deadlines] if deadlines else []

        async def bare_start(i: int, due: datetime) -> Any:
            return await client.start_workflow(
                BareTimerWorkflow.run, due, id=f"{prefix}-bare-{i}", task_queue=bare_queue
            )

        with progress(len(bare_deadlines), "bare timers") as advance:
            handles = await gather_limited(
                (bare_start(i, d) for i, d in enumerate(bare_deadlines)), 100, advance
            )
        if bare_deadlines:  # collect after the last deadline: no thousands of long polls
            await asyncio.sleep(max(0.0, (bare_deadlines[-1] - datetime.now(UTC)).total_seconds()))
        stamps = await gather_limited((h.result() for h in handles), 50)
        bare_lags = [s - d.timestamp() for s, d in zip(stamps, bare_deadlines, strict=True)]
    engine.dispose()
    p95 = summarize(lags["escalation_event"])["p95"]
    bare_p95 = summarize(bare_lags)["p95"]
    return {
        "params": {**params.__dict__, "warning_thresholds": [0.5], "calendar": "always open"},
        "results": {
            "open_requests": params.count,
            "breaching_at_county": expected,
            "escalated": done,
            "ramp_s": ramp,
            "deadline_spread_s": (deadlines[-1] - deadlines[0]).total_seconds()
            if deadlines
            else 0.0,
            "escalation_event_lag_s": summarize(lags["escalation_event"]),
            "escalation_row_lag_s": summarize(lags["row_written"]),
            "breach_fired_lag_s": summarize(lags["breach_fired"]),
            "bare_timer_activity_lag_s": summarize(bare_lags),
            "p95_ratio_project_over_bare": p95 / bare_p95 if bare_p95 > 0 else None,
        },
        "targets": {"escalation_event_lag_p95_s": target(p95, TARGET_P95_S, "<=")},
    }
