"""Scenario ``whatif``: the what-if's verify property at scale, and its simulation rate.

1. A corpus is recorded: ``verify_count`` of the demo's requests run through the live workflow
   on the time-skipping server with the real activities (``tierflow_dev.whatif_traffic``),
   people acting at random instants, into a SQLite read model.
2. ``run_verify`` replays every one under its own pinned policy: all must agree, event by
   event and instant by instant.
3. For the rate, the corpus is cloned to ``count`` requests (new ids, each copy shifted by
   whole weeks so its deadlines fall on other days) and ``run_whatif`` simulates them all
   under its own policy and a stricter candidate: two replays per request, in ``processes``
   processes. The rate counts requests (each replayed twice) per minute.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, insert, select

from tierflow.db.engine import make_engine
from tierflow.db.migrate import upgrade
from tierflow.db.models import BusinessCalendar, ServiceRequest, Transition
from tierflow_dev.bench.common import target
from tierflow_dev.whatif_traffic import recorded_trail, scaled_policy
from whatif.run import Candidate, VerifyJob, WhatIfJob, run_verify, run_whatif
from whatif.trail import Scope

TARGET_PER_MINUTE = 100_000
SEED = 2026


@dataclass
class WhatIfParams:
    verify_count: int = 10_000  # generated requests recorded and verified
    count: int = 100_000  # requests the rate is measured over
    processes: int = 2


QUICK = WhatIfParams(verify_count=40, count=400)


async def record(home: Path, count: int) -> tuple[str, datetime, dict[str, int]]:
    """Record ``count`` generated requests under ``home``; return the URL, horizon and counts."""
    async with recorded_trail(home, count, SEED) as trail:
        traffic = trail.traffic
        counts = {"requests": len(traffic.requests), "actions_applied": traffic.applied}
        refused = {"actions_refused": traffic.refused, "took_calendar": traffic.took_calendar}
        return trail.url, trail.horizon, counts | refused


def clone(source: Engine, target_url: str, count: int) -> tuple[int, timedelta]:
    """Fill ``target_url`` with ``count`` requests copied from ``source``; return the events
    written and the latest copy's shift (its data stands for the recording's horizon plus it)."""
    with source.connect() as conn:
        requests = [dict(r._mapping) for r in conn.execute(select(ServiceRequest.__table__))]  # type: ignore[attr-defined]
        events = [dict(r._mapping) for r in conn.execute(select(Transition.__table__))]  # type: ignore[attr-defined]
        calendars = [dict(r._mapping) for r in conn.execute(select(BusinessCalendar.__table__))]  # type: ignore[attr-defined]
    by_request: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        by_request.setdefault(event["request_id"], []).append(event)
    upgrade(target_url)
    engine = make_engine(target_url)
    written, latest = 0, timedelta(0)
    try:
        with engine.begin() as conn:  # the calendar published midway, by version: as it is
            conn.execute(insert(BusinessCalendar.__table__), calendars)  # type: ignore[attr-defined]
        copy = 0
        while copy * len(requests) < count:
            shift = timedelta(weeks=copy % 52)
            latest = max(latest, shift)
            rows, trail = [], []
            for row in requests[: count - copy * len(requests)]:
                request_id = f"{row['request_id']}-c{copy}"
                rows.append(_moved(row, shift) | {"request_id": request_id})
                for event in by_request.get(row["request_id"], []):
                    trail.append(
                        _moved(event, shift)
                        | {
                            "request_id": request_id,
                            "event_id": f"{request_id}:{event['sequence']}",
                        }
                    )
            with engine.begin() as conn:
                conn.execute(insert(ServiceRequest.__table__), rows)  # type: ignore[attr-defined]
                conn.execute(insert(Transition.__table__), trail)  # type: ignore[attr-defined]
            written += len(trail)
            copy += 1
    finally:
        engine.dispose()
    return written, latest


def _moved(row: dict[str, Any], shift: timedelta) -> dict[str, Any]:
    return {k: v + shift if isinstance(v, datetime) else v for k, v in row.items()}


def run_whatif_bench(home: Path, params: WhatIfParams) -> dict[str, Any]:
    """Record, verify, clone and simulate; return the results section of the JSON."""
    started = time.perf_counter()
    corpus, horizon, counts = asyncio.run(record(home, params.verify_count))
    recorded_s = time.perf_counter() - started
    started = time.perf_counter()
    verified = run_verify(VerifyJob(corpus, Scope(), horizon, processes=params.processes))
    verify_s = time.perf_counter() - started
    bench = f"sqlite:///{home / 'bench.db'}"
    source = make_engine(corpus)
    try:
        events, latest = clone(source, bench, params.count)
    finally:
        source.dispose()
    # the data stands for the latest copy's horizon: an earlier copy still open then keeps
    # firing reminders a few weeks longer than its recording did, no more
    job = WhatIfJob(
        bench,
        Scope(),
        horizon + latest,
        processes=params.processes,
        candidate=Candidate(scaled_policy("bench-x0.8", 0.8)),
    )
    started = time.perf_counter()
    report = run_whatif(job).as_dict()
    simulate_s = time.perf_counter() - started
    per_minute = report["requests"] / simulate_s * 60
    return {
        "results": {
            "recorded": counts | {"seconds": round(recorded_s, 1)},
            "verify": {
                "requests": verified.requests,
                "agreed": verified.agreed,
                "disagreements": len(verified.disagreements),
                "skipped": len(verified.skipped),
                "max_drift_seconds": verified.max_drift.total_seconds(),
                "seconds": round(verify_s, 1),
                "first_disagreements": [d.describe() for d in verified.disagreements[:5]],
            },
            "simulate": {
                "requests": report["requests"],
                "events_in_trail": events,
                "replays": 2 * report["requests"],
                "as_of": (horizon + latest).isoformat(),
                "processes": params.processes,
                "seconds": round(simulate_s, 1),
                "requests_per_minute": round(per_minute),
                "replays_per_minute": round(2 * per_minute),
                "changed": len(report["changed"]),
                "skipped": len(report["skipped"]),
                "breaches_before": report["before"]["breaches"],
                "breaches_after": report["after"]["breaches"],
            },
        },
        "targets": {
            "verify_holds": target(float(verified.holds), 1.0, ">="),
            "requests_per_minute": target(round(per_minute), TARGET_PER_MINUTE, ">="),
        },
    }
