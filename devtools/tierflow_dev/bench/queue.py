"""Scenario ``queue``: caseworker queue query latency over many requests in PostgreSQL.

Synthetic rows are bulk-loaded with COPY into a database migrated by Alembic, then
``repository.institution_queue`` (the ORM path the API uses) is timed for random institutions
(skewed: a few institutions hold most requests), against the same SQL sent raw via psycopg.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from schemas.domain import Category
from tierflow_dev.bench.common import BenchStack, console, copy_in, progress, summarize, target

TARGET_P99_S = 0.05
STATES = [
    ("assigned", 0.25),
    ("acknowledged", 0.15),
    ("in_progress", 0.2),
    ("awaiting_enterprise", 0.05),
    ("resolved", 0.1),
    ("closed", 0.22),
    ("rejected", 0.02),
    ("withdrawn", 0.01),
]
COLUMNS = [
    "request_id",
    "state",
    "tier",
    "institution_id",
    "category",
    "priority",
    "grade",
    "division_code",
    "enterprise_uscc",
    "enterprise_name",
    "subject",
    "description",
    "channel",
    "policy_version",
    "sla_status",
    "response_due_at",
    "resolution_due_at",
    "submitted_at",
    "updated_at",
    "escalation_count",
    "last_sequence",
]


@dataclass
class QueueParams:
    rows: int = 100_000
    institutions: int = 200
    queries: int = 2000
    limit: int = 50


# tierflow bench queue --quick: seconds, for CI
QUICK = QueueParams(rows=2000, queries=200)


def institution_ids(n: int) -> list[str]:
    return [f"inst-{i:04d}" for i in range(n)]


def synthetic_rows(params: QueueParams, seed: int = 11) -> Any:
    """Yield rows in COPY column order; institution sizes follow a Zipf-like skew."""
    rng = random.Random(seed)
    insts = institution_ids(params.institutions)
    weights = [1 / (i + 1) ** 0.8 for i in range(len(insts))]
    states, state_w = zip(*STATES, strict=True)
    tiers = ["county", "municipal", "provincial", "national"]
    cats = [c.value for c in Category]
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    for i in range(params.rows):
        submitted = t0 + timedelta(seconds=rng.randrange(300 * 86400))
        state = rng.choices(states, state_w)[0]
        due = submitted + timedelta(hours=rng.randrange(8, 200))
        yield (
            f"syn-{i:07d}",
            state,
            rng.choices(tiers, [70, 20, 8, 2])[0],
            rng.choices(insts, weights)[0],
            rng.choice(cats),
            rng.choice(["urgent", "high", "normal", "low"]),
            "none",
            "330106",
            "91330106MA2XXXXXX0",
            "synthetic enterprise",
            "synthetic subject",
            "",
            "portal",
            "2026.1",
            rng.choice(["on_track", "warning", "breached"]),
            submitted + timedelta(hours=8),
            due if state not in ("closed", "rejected", "withdrawn") else None,
            submitted,
            submitted,
            0,
            2,
        )


def load_rows(url: str, params: QueueParams) -> float:
    """COPY the synthetic rows in and ANALYZE; return seconds taken."""
    return copy_in(url, [("service_request", COLUMNS, synthetic_rows(params), params.rows)])


def _compiled_sql(engine: Any, institution: str, limit: int) -> tuple[str, dict[str, Any]]:
    """Return the SQL (pyformat) and parameters ``institution_queue`` sends."""
    from sqlmodel import Session

    from tierflow.db import repository

    captured: dict[str, Any] = {}

    def grab(conn: Any, cursor: Any, statement: str, parameters: Any, *a: Any) -> None:
        if "FROM service_request" in statement and "sql" not in captured:
            captured["sql"], captured["params"] = statement, parameters

    from sqlalchemy import event

    event.listen(engine, "before_cursor_execute", grab)
    try:
        with Session(engine) as session:
            repository.institution_queue(session, institution, limit=limit)
    finally:
        event.remove(engine, "before_cursor_execute", grab)
    return captured["sql"], captured["params"]


def time_queries(url: str, params: QueueParams) -> dict[str, Any]:
    """Time the ORM query and the raw SQL for random institutions; return both samples."""
    import psycopg
    from sqlmodel import Session

    from tierflow.db import repository
    from tierflow.db.engine import make_engine

    engine = make_engine(url)
    rng = random.Random(5)
    insts = institution_ids(params.institutions)
    picks = [rng.choice(insts) for _ in range(params.queries)]
    orm, raw, sizes = [], [], []
    with Session(engine) as session:  # warm the pool and the plan cache
        repository.institution_queue(session, insts[0], limit=params.limit)
    with progress(params.queries, "ORM queue queries") as advance:
        for inst in picks:
            began = time.perf_counter()
            with Session(engine) as session:
                rows = repository.institution_queue(session, inst, limit=params.limit)
            orm.append(time.perf_counter() - began)
            sizes.append(len(rows))
            advance()
    sql, sql_params = _compiled_sql(engine, insts[0], params.limit)
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as conn:
        for inst in picks:
            values = dict(sql_params) | _inst_param(sql_params, inst)
            began = time.perf_counter()
            conn.execute(sql, values).fetchall()
            raw.append(time.perf_counter() - began)
        biggest = _inst_param(sql_params, insts[0])
        plan = conn.execute("EXPLAIN ANALYZE " + sql, dict(sql_params) | biggest).fetchall()
        open_in_biggest = conn.execute(
            "SELECT count(*) FROM service_request WHERE institution_id = %s AND state IN "
            "('submitted', 'assigned', 'acknowledged', 'in_progress', 'awaiting_enterprise')",
            (insts[0],),
        ).fetchone()
    engine.dispose()
    return {
        "orm": orm,
        "raw": raw,
        "rows_returned_mean": sum(sizes) / len(sizes) if sizes else 0,
        "plan": [line[0] for line in plan],
        "largest_queue_open_rows": open_in_biggest[0] if open_in_biggest else 0,
    }


def _inst_param(sql_params: dict[str, Any], inst: str) -> dict[str, Any]:
    keys = [k for k, v in sql_params.items() if isinstance(v, str) and v.startswith("inst-")]
    return dict.fromkeys(keys, inst)


async def run_queue(stack: BenchStack, params: QueueParams) -> dict[str, Any]:
    """Load the rows, time the queries and return the results section."""
    import asyncio

    url = stack.migrated_postgres("tierflow_queue")
    load_s = await asyncio.to_thread(load_rows, url, params)
    console.log(f"queue: {params.rows} rows loaded in {load_s:.1f} s")
    timed = await asyncio.to_thread(time_queries, url, params)
    orm, raw = summarize(timed["orm"]), summarize(timed["raw"])
    return {
        "params": params.__dict__,
        "results": {
            "rows": params.rows,
            "load_s": load_s,
            "orm_query_s": orm,
            "raw_sql_query_s": raw,
            "p99_ratio_orm_over_raw": orm["p99"] / raw["p99"] if raw["p99"] else None,
            "rows_returned_mean": timed["rows_returned_mean"],
            "largest_queue_open_rows": timed["largest_queue_open_rows"],
            "plan_largest_queue": timed["plan"],
        },
        "targets": {"orm_query_p99_s": target(orm["p99"], TARGET_P99_S, "<=")},
    }
