"""A request a province sent to a county of another city is overseen from that city: its
supervisors and desks list and read it, the enterprise's city no longer does; through the
real app on SQLite and PostgreSQL read models written by the real projection."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
from sqlalchemy import Engine

from activities.persistence import TransitionWriter
from schemas.domain import Role, State, Tier
from schemas.lifecycle import EventType
from schemas.request import Actor
from tests.integration.test_first_receiver import Rig
from tests.utils.api_helpers import read_model_client
from tests.utils.factories import T0, RecordFactory, make_request
from tierflow.db.engine import make_engine
from whatif.trail import Scope, request_ids

PROVINCE_DESK = Actor(
    id="disp-zj", role=Role.DISPATCHER, institution_id="zj-330000-sme", tier=Tier.PROVINCIAL,
    division_code="330000",
)  # fmt: skip


def project(engine: Engine) -> None:
    """A Hangzhou request sent to Ningbo and escalated there, and one at home."""
    writer = TransitionWriter(engine)
    # a Hangzhou enterprise's request, returned as 非本辖区 and sent by the province to 鄞州区
    moved = RecordFactory(make_request("req-moved", division_code="330106"), T0)
    writer.persist([moved.submitted(), moved.assigned("zj-330106-sme")])
    moved.scope_division = "330212"
    writer.persist(
        [
            moved.emit(
                EventType.RETURN_APPROVED,
                State.ASSIGNED,
                actor=PROVINCE_DESK,
                tier=Tier.COUNTY,
                institution_id="zj-330212-sme",
            )
        ]
    )
    # 鄞州区's unit escalates it to Ningbo's city unit, where it is overseen from now
    moved.scope_division = "330200"
    writer.persist([moved.escalated("zj-330200-sme", Tier.MUNICIPAL, "manual")])
    home = RecordFactory(make_request("req-home", division_code="330106"), T0)
    writer.persist([home.submitted(), home.assigned("zj-330106-sme")])


@pytest_asyncio.fixture
async def rig(db_url: str) -> AsyncIterator[Rig]:
    engine = make_engine(db_url)
    project(engine)
    async with read_model_client(engine, db_url) as (client, users):
        yield Rig(client, users)


def test_a_supervisors_what_if_covers_the_requests_of_its_queue(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        project(engine)
        city = (Tier.COUNTY, Tier.MUNICIPAL)  # a city supervisor's reach
        assert request_ids(engine, Scope(overseen_prefix="3302", tiers=city)) == ["req-moved"]
        assert request_ids(engine, Scope(overseen_prefix="3301", tiers=city)) == ["req-home"]
        # an administrator's run by the enterprise's division: both are Hangzhou's
        assert request_ids(engine, Scope(division_prefix="3301")) == ["req-home", "req-moved"]
    finally:
        engine.dispose()


async def test_the_holders_city_oversees_it_and_the_enterprises_city_does_not(rig: Rig) -> None:
    assert await rig.listed("sup_other") == ["req-moved"]  # 宁波's supervisors, at the city
    assert (await rig.detail("req-moved", "sup_other")).status_code == 200
    assert await rig.listed("sup_city") == ["req-home"]  # 杭州's
    assert (await rig.detail("req-moved", "sup_city")).status_code == 404
    assert await rig.listed("disp_city") == ["req-home"]
    # the province oversees both, as before
    assert sorted(await rig.listed("sup_prov")) == ["req-home", "req-moved"]
    moved = (await rig.detail("req-moved", "sup_prov")).json()["request"]
    assert (moved["division_code"], moved["scope_division"]) == ("330106", "330200")


async def test_each_units_stays_and_escalations_count_in_its_own_regions_reports(
    rig: Rig,
) -> None:
    async def report(kind: str, who: str) -> dict:
        r = await rig.client.get(
            f"/api/v1/reports/{kind}",
            params={"since": "2025-01-01T00:00:00Z"},
            headers=rig.users.auth(who),
        )
        assert r.status_code == 200, r.text
        return r.json()

    def units(sla: dict) -> set[str]:
        return {row["institution_id"] for row in sla["rows"]}

    # 西湖区's stay before the return is Hangzhou's; 鄞州区's and the city's are Ningbo's
    assert units(await report("sla", "sup_city")) == {"zj-330106-sme"}
    assert units(await report("sla", "sup_other")) == {"zj-330212-sme", "zj-330200-sme"}
    assert units(await report("sla", "sup_prov")) == {
        "zj-330106-sme",
        "zj-330212-sme",
        "zj-330200-sme",
    }
    # the escalation out of 鄞州区 is Ningbo's to count
    assert (await report("escalations", "sup_other"))["total"] == 1
    assert (await report("escalations", "sup_city"))["total"] == 0
    assert (await report("escalations", "admin"))["total"] == 1
