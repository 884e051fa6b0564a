"""The SLA and escalation reports, summed in the database (a year is hundreds of thousands of
stays), on SQLite and PostgreSQL read models written by the real projection: the figures are
the ones the records make, in the caller's scope."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest_asyncio

from activities.persistence import TransitionWriter
from schemas.domain import State, Tier
from schemas.lifecycle import EventType
from tests.utils.api_helpers import Users, read_model_client
from tests.utils.factories import T0, RecordFactory, make_request
from tierflow.db.engine import make_engine

V1 = "/api/v1"
COUNTY, CITY, NEIGHBOUR = "zj-330106-sme", "zj-330100-sme", "zj-330105-sme"
PERIOD = {"since": "2025-10-01T00:00:00Z", "until": "2025-10-31T00:00:00Z"}


@pytest_asyncio.fixture
async def api(db_url: str) -> AsyncIterator[tuple[httpx.AsyncClient, Users]]:
    engine = make_engine(db_url)
    late = RecordFactory(make_request("req-late"), T0)  # breached, then escalated for it
    manual = RecordFactory(make_request("req-manual"), T0)  # sent up by hand
    calm = RecordFactory(make_request("req-calm"), T0)
    ningbo = RecordFactory(make_request("req-ningbo", division_code="330203"), T0)
    # sent to the wrong county, late there, returned (退单) and re-routed to the right one
    misrouted = RecordFactory(make_request("req-misrouted"), T0)
    TransitionWriter(engine).persist(
        [
            late.submitted(),
            late.assigned(COUNTY),
            late.breached("response"),
            late.escalated(CITY, Tier.MUNICIPAL),
            manual.submitted(),
            manual.assigned(COUNTY),
            manual.escalated(CITY, Tier.MUNICIPAL, reason="需市级协调"),
            calm.submitted(),
            calm.assigned(COUNTY),
            ningbo.submitted(),
            ningbo.assigned("zj-330203-sme"),
            ningbo.breached("resolution"),
            misrouted.submitted(),
            misrouted.assigned(NEIGHBOUR),
            misrouted.breached("response"),
            misrouted.emit(EventType.RETURN_APPROVED, State.ASSIGNED, institution_id=COUNTY),
        ]
    )
    async with read_model_client(engine, db_url) as (client, users):
        yield client, users


async def _report(api: tuple[httpx.AsyncClient, Users], name: str, who: str) -> Any:
    client, users = api
    r = await client.get(f"{V1}/reports/{name}", params=PERIOD, headers=users.auth(who))
    assert r.status_code == 200, r.text
    return r.json()


async def test_sla_attainment_per_unit_and_tier(api: tuple[httpx.AsyncClient, Users]) -> None:
    """Each unit's stays begun in the period; a stay an approved return (退单) ended was not
    its unit's to handle and is left out, as 考核 leaves it out (its time is routing's)."""
    rows = {
        (r["institution_id"], r["tier"]): r for r in (await _report(api, "sla", "admin"))["rows"]
    }
    county = rows[(COUNTY, "county")]
    assert (county["holds"], county["response_breached"], county["resolution_breached"]) == (
        4,
        1,
        0,
    )
    assert county["attainment"] == round(3 / 4, 4)
    assert (NEIGHBOUR, "county") not in rows
    city = rows[(CITY, "municipal")]
    assert (city["holds"], city["response_breached"], city["attainment"]) == (2, 0, 1.0)
    assert rows[("zj-330203-sme", "county")]["resolution_breached"] == 1
    # Hangzhou's supervisor: its region's stays only
    scoped = (await _report(api, "sla", "sup_city"))["rows"]
    assert {r["institution_id"] for r in scoped} == {COUNTY, CITY}


async def test_escalations_by_cause_and_code(api: tuple[httpx.AsyncClient, Users]) -> None:
    report = await _report(api, "escalations", "admin")
    found = {
        (r["from_tier"], r["to_tier"], r["cause"], r["reason_code"]): r["count"]
        for r in report["rows"]
    }
    assert found == {
        ("county", "municipal", "sla_breach", "sla_breach"): 1,
        ("county", "municipal", "manual", "other"): 1,
    }
    assert report["total"] == 2
    assert (await _report(api, "escalations", "sup_other"))["total"] == 0  # Ningbo's region
