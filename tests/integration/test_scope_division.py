"""A request a province sent to a county of another city is overseen from that city: its
supervisors and desks list and read it, the enterprise's city no longer does; through the
real app on SQLite and PostgreSQL read models written by the real projection."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from activities.persistence import TransitionWriter
from schemas.domain import Role, State, Tier
from schemas.lifecycle import EventType
from schemas.request import Actor
from tests.integration.test_first_receiver import Rig
from tests.utils.api_helpers import read_model_client
from tests.utils.factories import T0, RecordFactory, make_request
from tierflow.db.engine import make_engine

PROVINCE_DESK = Actor(
    id="disp-zj", role=Role.DISPATCHER, institution_id="zj-330000-sme", tier=Tier.PROVINCIAL,
    division_code="330000",
)  # fmt: skip


@pytest_asyncio.fixture
async def rig(db_url: str) -> AsyncIterator[Rig]:
    engine = make_engine(db_url)
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
    home = RecordFactory(make_request("req-home", division_code="330106"), T0)
    writer.persist([home.submitted(), home.assigned("zj-330106-sme")])
    async with read_model_client(engine, db_url) as (client, users):
        yield Rig(client, users)


async def test_the_holders_city_oversees_it_and_the_enterprises_city_does_not(rig: Rig) -> None:
    assert await rig.listed("sup_other") == ["req-moved"]  # 宁波's supervisors
    assert (await rig.detail("req-moved", "sup_other")).status_code == 200
    assert await rig.listed("sup_city") == ["req-home"]  # 杭州's
    assert (await rig.detail("req-moved", "sup_city")).status_code == 404
    assert await rig.listed("disp_city") == ["req-home"]
    # the province oversees both, as before
    assert sorted(await rig.listed("sup_prov")) == ["req-home", "req-moved"]
    moved = (await rig.detail("req-moved", "sup_prov")).json()["request"]
    assert (moved["division_code"], moved["scope_division"]) == ("330106", "330212")
