"""首问负责: the unit that received a request first follows it, read only, once another unit
holds it; through the real app on SQLite and PostgreSQL read models written by the real
projection (the API's detail, listing and actions, the console's queue and case page).

Temporal stands in as one that keeps no workflow, so every request is read from the read
model alone, and an action refused before the workflow never reaches it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest_asyncio

from activities.persistence import TransitionWriter
from schemas.domain import Role, Tier
from schemas.request import Actor
from tests.fixtures.console import sign_in
from tests.integration.test_contact_visibility import FULL, MASKED, contact
from tests.utils.api_helpers import Users, read_model_client
from tests.utils.factories import T0, RecordFactory, caseworker, make_request
from tierflow.db.engine import make_engine

V1 = "/api/v1"
COUNTY, OTHER_COUNTY, CITY, PROVINCE = (
    "zj-330106-sme",
    "zj-330105-sme",
    "zj-330100-sme",
    ("zj-330000-sme"),
)


@dataclass
class Rig:
    client: httpx.AsyncClient
    users: Users

    async def detail(self, rid: str, who: str) -> httpx.Response:
        return await self.client.get(f"{V1}/requests/{rid}", headers=self.users.auth(who))

    async def listed(self, who: str, **params: Any) -> list[str]:
        r = await self.client.get(f"{V1}/requests", params=params, headers=self.users.auth(who))
        assert r.status_code == 200, r.text
        return [item["request_id"] for item in r.json()["items"]]


@pytest_asyncio.fixture
async def rig(db_url: str) -> AsyncIterator[Rig]:
    engine = make_engine(db_url)
    writer = TransitionWriter(engine)
    # first sent to the county, escalated to the city, then to the province
    up = RecordFactory(make_request("req-up"), T0)
    writer.persist(
        [
            up.submitted(),
            up.assigned(COUNTY),
            up.escalated(CITY, Tier.MUNICIPAL),
            up.escalated(PROVINCE, Tier.PROVINCIAL),
        ]
    )
    # registered at 西湖区's window, routed to 拱墅区's unit (its enterprise is registered there)
    walk_in = make_request("req-walk-in").model_copy(
        update={"submitted_by": caseworker(OTHER_COUNTY, "window-clerk")}
    )
    window = RecordFactory(walk_in, T0)
    writer.persist([window.submitted(), window.assigned(COUNTY)])
    # still held where it was first sent
    home = RecordFactory(make_request("req-home"), T0)
    writer.persist([home.submitted(), home.assigned(COUNTY)])
    # registered by the city's dispatch desk on a phone call, sent to the county: the desk's
    # institution's caseworkers did not receive it
    phoned = make_request("req-phoned").model_copy(
        update={"submitted_by": Actor(id="disp-1", role=Role.DISPATCHER, institution_id=CITY)}
    )
    by_phone = RecordFactory(phoned, T0)
    writer.persist([by_phone.submitted(), by_phone.assigned(COUNTY)])
    async with read_model_client(engine, db_url) as (client, users):
        yield Rig(client, users)


async def test_the_first_unit_follows_a_request_that_moved_on_read_only(rig: Rig) -> None:
    for who in ("cw_own", "sup_own"):  # the first unit's caseworker and its lead
        r = await rig.detail("req-up", who)
        assert r.status_code == 200, (who, r.text)
        detail = r.json()
        assert detail["received_first"] is True
        assert detail["allowed_actions"] == []
        assert (contact(detail["request"]), detail["request"]["contact_masked"]) == (MASKED, True)
        assert detail["request"]["institution_id"] == PROVINCE
        assert [e["event_type"] for e in detail["timeline"]][-1] == "escalated"
    # the province, which holds it now, sees it as its own
    held = (await rig.detail("req-up", "sup_prov")).json()
    assert held["received_first"] is False
    # the city held it second and let it go: no more sight than any other unit
    assert (await rig.detail("req-up", "cw_city")).status_code == 404
    assert (await rig.detail("req-up", "cw_other")).status_code == 404


async def test_the_unit_that_registered_a_walk_in_follows_it(rig: Rig) -> None:
    detail = (await rig.detail("req-walk-in", "cw_other")).json()
    assert detail["received_first"] is True
    assert contact(detail["request"]) == MASKED
    own = (await rig.detail("req-walk-in", "cw_own")).json()  # the holder: its own, in full
    assert (own["received_first"], contact(own["request"])) == (False, FULL)
    assert (await rig.detail("req-phoned", "cw_city")).status_code == 404


async def test_the_received_list_holds_what_the_unit_received_and_no_longer_holds(
    rig: Rig,
) -> None:
    assert await rig.listed("cw_own", received="true") == ["req-up"]
    assert await rig.listed("sup_own", received="true") == ["req-up"]
    assert await rig.listed("cw_other", received="true") == ["req-walk-in"]
    assert await rig.listed("cw_city", received="true") == []  # nor the desk's phone call
    # nobody else's scope is widened: the county's own queue keeps what it holds
    assert sorted(await rig.listed("cw_own")) == ["req-home", "req-phoned", "req-walk-in"]
    assert await rig.listed("cw_other") == []
    # a unit's people only: a desk or an administrator has no unit that received it
    assert await rig.listed("disp_city", received="true") == []
    assert await rig.listed("admin", received="true") == []


async def test_the_first_unit_may_not_act_on_it(rig: Rig) -> None:
    r = await rig.client.post(
        f"{V1}/requests/req-up/actions/comment",
        json={"text": "企业来电询问进度"},
        headers=rig.users.auth("cw_own"),
    )
    assert r.status_code == 403, r.text
    assert "received request req-up first" in r.text
    # out of sight altogether: not found, as ever
    r = await rig.client.post(
        f"{V1}/requests/req-up/actions/comment",
        json={"text": "企业来电询问进度"},
        headers=rig.users.auth("cw_city"),
    )
    assert r.status_code == 404


async def test_the_console_offers_the_list_and_says_the_case_is_followed(rig: Rig) -> None:
    assert (await sign_in(rig.client, rig.users.tokens["cw_own"])).status_code == 303
    queue = await rig.client.get("/console/", params={"received": "true"})
    assert queue.status_code == 200
    assert "req-up" in queue.text and "req-home" not in queue.text
    # held by the unit above, not co-handled: the row says so, not 协办
    row = queue.text[queue.text.index("req-up") :].split("</tr>")[0]
    assert "现由他单位办理" in row and "协办" not in row
    assert 'id="f-received"' in (await rig.client.get("/console/")).text
    case = await rig.client.get("/console/requests/req-up")
    assert case.status_code == 200
    assert 'id="received-first"' in case.text
