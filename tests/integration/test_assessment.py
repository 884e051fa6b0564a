"""考核 figures from the read model, checked against a computation made while generating them.

A seeded corpus of requests at three institutions goes through the real projection into a
real database (SQLite and PostgreSQL); the report's figures must equal what the generator
counted itself, for every institution and every figure.
"""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from activities.persistence import TransitionWriter
from api.app import create_app
from schemas.domain import Role, Tier
from schemas.lifecycle import EventType
from tests.utils.api_helpers import asgi_client
from tests.utils.factories import T0, RecordFactory, caseworker, make_request
from tierflow.auth_store import create_user, issue_token
from tierflow.settings import Settings

UNITS = ["zj-330106-sme", "zj-330105-sme", "zj-330108-sme"]


def _corpus(seed: int, n: int, start: datetime = T0) -> tuple[list[Any], dict[str, dict[str, int]]]:
    """Records of ``n`` requests from ``start`` on, and the figures counted while making them."""
    rng = random.Random(seed)
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    records = []
    for i in range(n):
        unit = rng.choice(UNITS)
        f = RecordFactory(make_request(f"req-assess-{seed}-{i}", division_code=unit[3:9]), start)
        rec = [f.submitted(), f.assigned(unit, Tier.COUNTY)]
        c = counts[unit]
        c["holds"] += 1
        cw = caseworker(unit)
        late_sign = rng.random() < 0.3
        if late_sign:
            rec.append(f.breached("sign_for"))
        rec.append(f.emit(EventType.SIGNED_FOR, actor=cw))
        c["sign_for_measured"] += 1
        c["sign_for_on_time"] += int(not late_sign)
        late_response = rng.random() < 0.25
        if late_response:
            rec.append(f.breached("response"))
            rec.append(f.emit(EventType.REMINDED, details={"clock": "response"}))
            c["reminders"] += 1
        c["responded_on_time"] += int(not late_response)
        if rng.random() < 0.2:
            rec.append(f.emit(EventType.EXTENSION_APPROVED, details={"days": 3}))
            c["extensions"] += 1
        late_resolution = rng.random() < 0.2
        if late_resolution:
            rec.append(f.breached("resolution"))
            rec.append(f.emit(EventType.SUPERVISION_OPENED, details={"clock": "resolution"}))
            c["supervisions"] += 1
            if rng.random() < 0.5:
                rec.append(f.emit(EventType.REPRIMANDED, details={"clock": "resolution"}))
                c["reprimands"] += 1
        rec.append(f.resolved())
        c["concluded"] += 1
        c["concluded_on_time"] += int(not late_resolution)
        outcome = rng.choice(["satisfied", "unsatisfied", "unreachable"])
        rec.append(f.emit(EventType.FOLLOWED_UP, details={"outcome": outcome, "attempt": 1}))
        if outcome != "unreachable":
            c["followed_up"] += 1
            c["solved"] += int(outcome == "satisfied")
        rating = rng.randint(1, 5)
        rec.append(f.rated(rating))
        excluded = rating <= 2 and rng.random() < 0.5
        if rating <= 2:
            rec.append(f.emit(EventType.RECTIFICATION_OPENED, details={"due_at": "x"}))
            c["rectifications"] += 1
            if rng.random() < 0.7:  # concluded, in time or late
                on_time = rng.random() < 0.6
                rec.append(
                    f.emit(
                        EventType.RECTIFICATION_CONCLUDED, actor=cw, details={"on_time": on_time}
                    )
                )
                c["rectifications_concluded"] += 1
                c["rectifications_on_time"] += int(on_time)
        if excluded:
            rec.append(f.emit(EventType.APPEAL_UPHELD, details={"rating": rating}))
        else:
            c["ratings"] += 1
            c["satisfied"] += int(rating >= 3)
        records.append(rec)
    return records, counts


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


async def test_the_figures_equal_an_independent_count(db_engine: Engine, tmp_path) -> None:
    records, counts = _corpus(seed=7, n=120)
    writer = TransitionWriter(db_engine)
    for rec in records:
        assert writer.persist(rec) == len(rec)
    create_user(db_engine, "assessor", Role.ADMIN)
    token = issue_token(db_engine, "assessor")
    app = create_app(Settings(home=tmp_path), None, db_engine)
    since, until = T0 - timedelta(days=1), T0 + timedelta(days=30)
    async with asgi_client(app) as client:
        r = await client.get(
            "/api/v1/reports/assessment",
            params={"since": since.isoformat(), "until": until.isoformat()},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert r.status_code == 200, r.text
        csv = await client.get(
            "/api/v1/reports/assessment.csv",
            params={"since": since.isoformat(), "until": until.isoformat()},
            headers={"Authorization": f"Bearer {token}"},
        )
    rows = {row["institution_id"]: row for row in r.json()["rows"]}
    assert set(rows) == set(counts)
    for unit, c in counts.items():
        row = rows[unit]
        assert row["holds"] == c["holds"]
        assert row["sign_for_on_time_rate"] == _rate(c["sign_for_on_time"], c["sign_for_measured"])
        assert row["response_rate"] == _rate(c["responded_on_time"], c["holds"])
        assert row["conclusion_on_time_rate"] == _rate(c["concluded_on_time"], c["concluded"])
        assert row["resolution_rate"] == _rate(c["solved"], c["followed_up"])
        assert row["satisfaction_rate"] == _rate(c["satisfied"], c["ratings"])
        assert row["rectification_on_time_rate"] == _rate(
            c["rectifications_on_time"], c["rectifications_concluded"]
        )
        for name in ("ratings", "extensions", "reminders", "supervisions", "reprimands"):
            assert row[name] == c[name], (unit, name)
        assert row["rectifications"] == c["rectifications"]
    assert csv.status_code == 200 and csv.text.startswith("\ufeffinstitution_id,tier,holds")
    assert len(csv.text.strip().splitlines()) == 1 + len(counts)
