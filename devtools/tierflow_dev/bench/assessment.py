"""Scenario ``assessment``: the league-table query (考核排名) over many requests in PostgreSQL.

Synthetic requests are COPYed into a database migrated by Alembic, with what the projection
writes for them: a stay at a county, municipal or provincial institution (sign-for, response
and conclusion kept or breached), the lifecycle events the figures count and the ones they
do not, and a rating (some excluded by an upheld appeal). The directory lists every
institution. The service function the API and the console call is timed as a national admin
and as a provincial supervisor sees it, per institution and added up by tier, province and
city, over the last 30 days, the last quarter and the whole year.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any, cast

from schemas.divisions import DIVISION_INFO
from schemas.domain import Category, Role, Tier
from schemas.enterprise import division_for_tier
from tierflow_dev.bench.common import BenchStack, console, copy_in, progress, summarize, target
from tierflow_dev.bench.queue import COLUMNS  # the read-model columns the scenarios COPY

TARGET_P99_S = 0.2
YEAR_START = datetime(2026, 1, 1, tzinfo=UTC)
DAYS = 360
# lifecycle events the figures do not count, as many as a request has of them
OTHER_EVENTS = ["submitted", "assigned", "signed_for", "acknowledged", "started", "commented"]
COUNTED_EVENTS: list[tuple[str, dict[str, Any], float]] = [
    ("reminded", {"clock": "response"}, 0.25),
    ("supervision_opened", {"clock": "resolution"}, 0.1),
    ("reprimanded", {"clock": "resolution"}, 0.04),
    ("extension_approved", {"days": 3}, 0.15),
]
TRANSITION_COLUMNS = [
    "event_id",
    "request_id",
    "sequence",
    "event_type",
    "occurred_at",
    "actor_id",
    "actor_role",
    "institution_id",
    "to_state",
    "to_tier",
    "policy_version",
    "details",
    "recorded_at",
]
HOLD_COLUMNS = [
    "request_id",
    "tier",
    "institution_id",
    "since",
    "until",
    "response_breached",
    "resolution_breached",
    "paused_seconds",
    "left_by",
    "signed_for_at",
    "sign_for_breached",
    "opened_by",
]
DIRECTORY_COLUMNS = ["id", "name", "tier", "division_code", "categories"]
RATING_COLUMNS = [
    "request_id",
    "rating",
    "rated_by",
    "institution_id",
    "tier",
    "created_at",
    "excluded",
    "event_id",
]


@dataclass
class AssessmentParams:
    rows: int = 10_000
    counties: int = 240
    queries: int = 600


# tierflow bench assessment --quick: seconds, for CI
QUICK = AssessmentParams(rows=1000, counties=40, queries=60)


@dataclass(frozen=True)
class Place:
    id: str
    tier: Tier
    division: str


def institutions(params: AssessmentParams, rng: random.Random) -> tuple[list[Place], list[Place]]:
    """Return (county institutions, every institution): counties drawn across the provinces,
    with the municipal and provincial institutions above them."""
    codes = sorted(c for c, info in DIVISION_INFO.items() if info.level == Tier.COUNTY.value)
    counties = [Place(f"inst-{c}", Tier.COUNTY, c) for c in rng.sample(codes, params.counties)]
    above = {
        (tier, division_for_tier(p.division, tier))
        for p in counties
        for tier in (Tier.MUNICIPAL, Tier.PROVINCIAL)
    }
    uppers = [Place(f"inst-{code}", tier, code) for tier, code in sorted(above)]
    return counties, [p for p in counties + uppers if p.division in DIVISION_INFO]


def synthetic(
    params: AssessmentParams, counties: list[Place], seed: int = 17
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]], list[Any]]:
    """Rows of service_request, tier_hold, rating and transition for ``params.rows`` requests."""
    rng = random.Random(seed)
    requests: list[tuple[Any, ...]] = []
    holds: list[tuple[Any, ...]] = []
    ratings: list[tuple[Any, ...]] = []
    events: list[tuple[Any, ...]] = []
    weights = [1 / (i + 1) ** 0.6 for i in range(len(counties))]
    cats = [c.value for c in Category]
    for i in range(params.rows):
        rid = f"req-{i:07d}"
        county = rng.choices(counties, weights)[0]
        tier = rng.choices([Tier.COUNTY, Tier.MUNICIPAL, Tier.PROVINCIAL], [80, 15, 5])[0]
        unit = f"inst-{division_for_tier(county.division, tier)}"
        at = YEAR_START + timedelta(seconds=rng.randrange(DAYS * 86400))
        done = at + timedelta(hours=rng.randrange(4, 200))
        requests.append(
            (
                rid, "closed", tier.value, unit, rng.choice(cats), "normal", "none",
                county.division, "91330106MA2XXXXXX0", "synthetic enterprise",
                "synthetic subject", "", "portal", "2026.3", "stopped", None, None, at, done,
                0, 12,
            )
        )  # fmt: skip
        late_sign = rng.random() < 0.2
        holds.append(
            (
                rid, tier.value, unit, at, done, rng.random() < 0.2, rng.random() < 0.15, 0,
                "resolved", at + timedelta(minutes=30), late_sign, f"{rid}:2",
            )
        )  # fmt: skip
        made: list[tuple[str, datetime, dict[str, Any]]] = []

        def event(
            kind: str, when: datetime, details: dict[str, Any], made: list[Any] = made
        ) -> None:
            made.append((kind, when, details))

        for kind in OTHER_EVENTS:
            event(kind, at, {})
        for kind, details, chance in COUNTED_EVENTS:
            if rng.random() < chance:
                event(kind, at + timedelta(hours=30), details)
        event("resolved", done, {})
        outcome = rng.choice(["satisfied", "satisfied", "unsatisfied", "unreachable"])
        event("followed_up", done + timedelta(days=1), {"outcome": outcome, "attempt": 1})
        if outcome == "unsatisfied" and rng.random() < 0.5:
            event("reopened", done + timedelta(days=1), {"cause": "follow_up"})
        rating = rng.choices([1, 2, 3, 4, 5], [3, 5, 12, 40, 40])[0]
        rated = done + timedelta(days=2)
        event("rated", rated, {"rating": rating})
        ratings.append(
            (rid, rating, "enterprise", unit, tier.value, rated, False, f"{rid}:{len(made)}")
        )
        if rating <= 2:
            event("rectification_opened", rated, {"due_at": "x"})
            event("rectification_concluded", rated + timedelta(days=9), {"on_time": True})
        events.extend(
            (
                f"{rid}:{n}", rid, n, kind, when, "bench", "caseworker", unit, "in_progress",
                tier.value, "2026.3", json.dumps(details), when,
            )
            for n, (kind, when, details) in enumerate(made, 1)
        )  # fmt: skip
    return requests, holds, ratings, events


def load(url: str, places: list[Place], data: Any) -> float:
    """COPY the rows and the directory in and ANALYZE; return seconds taken."""
    requests, holds, ratings, events = data
    directory = [(p.id, p.id, p.tier.value, p.division, "[]") for p in places]
    return copy_in(
        url,
        [
            ("service_request", COLUMNS, requests, len(requests)),
            ("tier_hold", HOLD_COLUMNS, holds, len(holds)),
            ("rating", RATING_COLUMNS, ratings, len(ratings)),
            ("transition", TRANSITION_COLUMNS, events, len(events)),
            ("institution", DIRECTORY_COLUMNS, directory, len(directory)),
        ],
    )


def time_queries(url: str, params: AssessmentParams, province: str) -> dict[str, Any]:
    """Time the league table as the console asks for it; return latencies per shape."""
    from api.deps import ApiContext
    from api.service.assessment import assessment
    from tierflow.assessment import GROUPINGS
    from tierflow.auth_store import Principal
    from tierflow.db.engine import make_engine

    engine = make_engine(url)
    ctx = cast(ApiContext, SimpleNamespace(engine=engine, clock=lambda: datetime.now(UTC)))
    viewers = {
        "admin": Principal(user_id="bench", role=Role.ADMIN),
        "province": Principal(
            user_id="sup",
            role=Role.SUPERVISOR,
            institution_id=f"inst-{province}",
            tier=Tier.PROVINCIAL,
            division_code=province,
        ),
    }
    year_end = YEAR_START + timedelta(days=DAYS)
    periods = {"30d": 30, "quarter": 91, "year": DAYS}
    rng = random.Random(9)
    shapes = [(v, by, p) for v in viewers for by in GROUPINGS for p in periods]
    timings: dict[str, list[float]] = {}
    rows_seen: dict[str, int] = {}
    assessment(ctx, viewers["admin"], YEAR_START, year_end)  # warm the pool and the plans
    with progress(params.queries, "league tables") as advance:
        for _ in range(params.queries):
            viewer, by, period = rng.choice(shapes)
            start = year_end - timedelta(days=periods[period])
            began = time.perf_counter()
            report = assessment(ctx, viewers[viewer], start, year_end, by)
            key = f"{viewer}/{by}/{period}"
            timings.setdefault(key, []).append(time.perf_counter() - began)
            rows_seen[key] = len(report.rows)
            advance()
    engine.dispose()
    every = [t for values in timings.values() for t in values]
    return {"all": every, "by_shape": timings, "rows": rows_seen}


async def run_assessment(stack: BenchStack, params: AssessmentParams) -> dict[str, Any]:
    """Load the corpus, time the league tables and return the results section."""
    url = stack.migrated_postgres("tierflow_assessment")
    rng = random.Random(3)
    counties, places = institutions(params, rng)
    data = synthetic(params, counties)
    load_s = await asyncio.to_thread(load, url, places, data)
    console.log(f"assessment: {params.rows} requests, {len(data[3])} events in {load_s:.1f} s")
    busiest = division_for_tier(counties[0].division, Tier.PROVINCIAL)  # most requests
    timed = await asyncio.to_thread(time_queries, url, params, busiest)
    overall = summarize(timed["all"])
    return {
        "params": params.__dict__,
        "results": {
            "requests": params.rows,
            "transitions": len(data[3]),
            "institutions": len(places),
            "load_s": load_s,
            "league_table_s": overall,
            "league_table_s_by_shape": {
                k: summarize(v) | {"rows": timed["rows"][k]}
                for k, v in sorted(timed["by_shape"].items())
            },
        },
        "targets": {"league_table_p99_s": target(overall["p99"], TARGET_P99_S, "<=")},
    }
