"""Scenario ``search``: the queue search (``list_requests`` with ``search``) over many requests.

Rows with Chinese enterprise names and subjects are COPYed into a PostgreSQL database created
with LC_CTYPE C.UTF-8 (pg_trgm sees Chinese characters) and migrated by Alembic (0009 adds the
trigram indexes, 0014 the bigram ones). The service function the API calls is timed as a
national admin sees it (all requests in scope, closed ones included): the count (which stops at
1,000 matches) plus the first page of 50, by SLA risk.
Queries mix 2-, 3- and 4-character name fragments, subject words, USCC prefixes and request ids.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any, cast

from schemas.domain import Category, Role
from tierflow_dev.bench.common import BenchStack, console, copy_in, progress, summarize, target
from tierflow_dev.bench.queue import COLUMNS  # the read-model columns both scenarios COPY
from tierflow_dev.demo import make_uscc

TARGET_P99_S = 0.1
CITIES = ["杭州", "宁波", "温州", "嘉兴", "湖州", "绍兴", "苏州", "南京", "无锡", "常州", "合肥"]
CITIES += ["成都", "重庆", "武汉", "长沙", "西安", "郑州", "济南", "青岛", "厦门", "福州", "昆明"]
WORDS = ["启明", "华信", "精工", "恒通", "远航", "智联", "瑞丰", "博远", "新材", "海纳", "天成"]
WORDS += ["金桥", "云帆", "鼎盛", "万达", "中科", "创新", "星辰", "明德", "立信", "宏图", "汇川"]
TRADES = ["智能科技", "精密机械", "新材料", "生物医药", "电子", "软件", "物流", "纺织", "环保"]
SUFFIX = ["有限公司", "股份有限公司", "科技有限公司"]
SUBJECTS = [
    "申请科技型中小企业信用贷款对接",
    "数字化改造诊断服务",
    "专精特新企业认定咨询",
    "出海合规与海外市场拓展咨询",
    "高校科技成果转化对接",
    "高层次人才引进政策咨询",
    "设备更新贷款贴息政策咨询",
    "知识产权质押融资",
    "工业互联网平台接入",
    "中小企业服务券申领",
]
STATES = ["assigned", "acknowledged", "in_progress", "resolved", "closed", "closed"]


@dataclass
class SearchParams:
    rows: int = 100_000
    enterprises: int = 20_000
    queries: int = 2000
    limit: int = 50


# tierflow bench search --quick: seconds, for CI
QUICK = SearchParams(rows=2000, enterprises=400, queries=100)


def enterprises(params: SearchParams, rng: random.Random) -> list[tuple[str, str, str]]:
    """Return (USCC, name, division) per enterprise: city + brand + trade + suffix."""
    found = []
    for i in range(params.enterprises):
        division = rng.choice(["330106", "330203", "320581", "340104", "510104", "420106"])
        name = rng.choice(CITIES) + rng.choice(WORDS) + rng.choice(WORDS)
        name += rng.choice(TRADES) + rng.choice(SUFFIX)
        found.append((make_uscc(division, random.Random(i)), name, division))
    return found


def synthetic_rows(params: SearchParams, firms: list[tuple[str, str, str]], seed: int = 13) -> Any:
    """Yield rows in COPY column order: requests spread over the enterprises and 300 days."""
    rng = random.Random(seed)
    cats = [c.value for c in Category]
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    for i in range(params.rows):
        uscc, name, division = rng.choice(firms)
        submitted = t0 + timedelta(seconds=rng.randrange(300 * 86400))
        state = rng.choice(STATES)
        running = state not in ("resolved", "closed")
        yield (
            f"req-{i:07d}",
            state,
            rng.choices(["county", "municipal", "provincial", "national"], [70, 20, 8, 2])[0],
            f"inst-{division}",
            rng.choice(cats),
            rng.choice(["urgent", "high", "normal", "low"]),
            "none",
            division,
            uscc,
            name,
            rng.choice(SUBJECTS) + f"（{i % 997}）",
            "",
            "portal",
            "2026.3",
            rng.choice(["on_track", "warning", "breached"]) if running else "stopped",
            submitted + timedelta(hours=8) if running else None,
            submitted + timedelta(hours=rng.randrange(8, 200)) if running else None,
            submitted,
            submitted,
            0,
            2,
        )


def search_terms(params: SearchParams, firms: list[tuple[str, str, str]]) -> list[str]:
    """Return the timed searches: what caseworkers type, from short to exact."""
    rng = random.Random(7)
    terms = []
    for _ in range(params.queries):
        uscc, name, _division = rng.choice(firms)
        kind = rng.randrange(6)
        if kind == 0:
            terms.append(name[2:4])  # a brand: 2 characters
        elif kind == 1:
            terms.append(name[2:6])  # brand + brand: 4 characters
        elif kind == 2:
            terms.append(name[:5])  # city + 3 characters
        elif kind == 3:
            terms.append(rng.choice(SUBJECTS)[2:6])  # a subject word
        elif kind == 4:
            terms.append(uscc[: rng.choice([8, 12, 18])])  # USCC prefix or whole
        else:
            terms.append(f"req-{rng.randrange(params.rows):07d}")  # a request id
    return terms


def load_rows(url: str, params: SearchParams, firms: list[tuple[str, str, str]]) -> float:
    """COPY the synthetic rows in and ANALYZE; return seconds taken."""
    rows = synthetic_rows(params, firms)
    return copy_in(url, [("service_request", COLUMNS, rows, params.rows)])


def time_searches(url: str, params: SearchParams, terms: list[str]) -> dict[str, Any]:
    """Time ``list_requests`` with each search term; return latencies by kind and plans."""
    from api.deps import ApiContext
    from api.service.requests import QueueFilter, list_requests
    from tierflow.auth_store import Principal
    from tierflow.db.engine import make_engine

    engine = make_engine(url)
    ctx = cast(ApiContext, SimpleNamespace(engine=engine, clock=lambda: datetime.now(UTC)))
    admin = Principal(user_id="bench", role=Role.ADMIN)

    def search(term: str) -> int:
        where = QueueFilter(include_closed=True, search=term)
        return list_requests(ctx, admin, where, limit=params.limit).total

    search(terms[0])  # warm the pool and the plan cache
    timings: dict[str, list[float]] = {}
    matched: list[int] = []
    with progress(len(terms), "searches") as advance:
        for term in terms:
            began = time.perf_counter()
            matched.append(search(term))
            kind = _kind(term)
            timings.setdefault(kind, []).append(time.perf_counter() - began)
            advance()
    plans = {}
    with engine.connect() as conn:
        from sqlalchemy import func, select, text

        from tierflow.db.models import ServiceRequest
        from tierflow.db.search import search_condition

        for term in (terms[0], "杭州", "数字化改造"):  # the product's own condition
            query = select(func.count()).select_from(ServiceRequest)
            sql = query.where(search_condition(term, "postgresql")).compile(
                engine, compile_kwargs={"literal_binds": True}
            )
            plans[term] = [r[0] for r in conn.execute(text(f"EXPLAIN ANALYZE {sql}"))]
    engine.dispose()
    every = [t for values in timings.values() for t in values]
    return {"all": every, "by_kind": timings, "matched": matched, "plans": plans}


def _kind(term: str) -> str:
    if term.startswith("req-"):
        return "request_id"
    if term.isascii():
        return "uscc_prefix"
    return f"text_{len(term)}_chars"


async def run_search(stack: BenchStack, params: SearchParams) -> dict[str, Any]:
    """Load the rows, time the searches and return the results section."""
    url = stack.migrated_postgres("tierflow_search", ctype="C.UTF-8")
    firms = enterprises(params, random.Random(3))
    load_s = await asyncio.to_thread(load_rows, url, params, firms)
    console.log(f"search: {params.rows} rows loaded in {load_s:.1f} s")
    terms = search_terms(params, firms)
    timed = await asyncio.to_thread(time_searches, url, params, terms)
    overall = summarize(timed["all"])
    matched = sorted(timed["matched"])
    return {
        "params": params.__dict__,
        "results": {
            "rows": params.rows,
            "load_s": load_s,
            "search_s": overall,
            "search_s_by_kind": {k: summarize(v) for k, v in sorted(timed["by_kind"].items())},
            "matches_median": matched[len(matched) // 2] if matched else 0,
            "matches_max": matched[-1] if matched else 0,
            "plans": timed["plans"],
        },
        "targets": {"search_p99_s": target(overall["p99"], TARGET_P99_S, "<=")},
    }
