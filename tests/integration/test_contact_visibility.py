"""Who sees an enterprise's contact in full (PIPL: minimum necessary), through the real app on a
SQLite read model: the API's detail, the console's case page and the walk-in form's fill-in.

The requests are written by the real projection; Temporal stands in as one that keeps no
workflow (past retention), so every request is read from the read model alone.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio

from activities.persistence import TransitionWriter
from schemas.domain import Role
from schemas.lifecycle import EventType
from tests.fixtures.console import sign_in
from tests.utils.api_helpers import Users, read_model_client
from tests.utils.factories import T0, RecordFactory, enterprise_uscc, make_request
from tierflow.auth_store import AuthStoreError, create_user, issue_token
from tierflow.db.engine import make_engine

V1 = "/api/v1"
HELD, CO_HANDLER = "zj-330106-sme", "zj-330105-sme"
FULL = {"contact_name": "王芳", "contact_phone": "13800000000", "contact_email": "wang@example.com"}
MASKED = {
    "contact_name": "王*",
    "contact_phone": "138****0000",
    "contact_email": "w***@example.com",
}
# who sees the held request's contact in full, and who sees it masked (all in scope)
SEE_FULL = ["cw_own", "cw_mate", "sup_own", "desk_city", "disp_city", "sys_contact"]
SEE_MASKED = ["sup_city", "sup_prov", "admin", "sys_portal"]


@dataclass
class Rig:
    client: httpx.AsyncClient
    users: Users

    async def row(self, rid: str, who: str) -> dict[str, Any]:
        r = await self.client.get(f"{V1}/requests/{rid}", headers=self.users.auth(who))
        assert r.status_code == 200, (who, r.text)
        detail = r.json()
        assert detail["view_missing"] == "forgotten"
        row: dict[str, Any] = detail["request"]
        return row

    async def signed_in(self, who: str) -> None:
        self.client.cookies.clear()
        assert (await sign_in(self.client, self.users.tokens[who])).status_code == 303


@pytest_asyncio.fixture
async def rig(sqlite_url: str) -> AsyncIterator[Rig]:
    engine = make_engine(sqlite_url)
    writer = TransitionWriter(engine)
    held = RecordFactory(make_request("req-held"), T0)
    writer.persist([held.submitted(), held.assigned(HELD)])
    # 协办: held in 拱墅区, with an open part for 西湖区's unit
    shared = RecordFactory(make_request("req-shared", division_code="330105"), T0)
    part = {"co_handler": HELD, "part_due_at": (T0 + timedelta(days=5)).isoformat()}
    opened = shared.emit(EventType.CO_HANDLER_ADDED, details=part)
    writer.persist([shared.submitted(), shared.assigned(CO_HANDLER), opened])
    async with read_model_client(engine, sqlite_url) as (client, users):
        contact = f"sys_contact-{users.ids['admin']}"
        create_user(engine, contact, Role.SYSTEM, None, ["read", "contact"])
        users.tokens["sys_contact"] = issue_token(engine, contact)
        yield Rig(client, users)


def contact(row: dict[str, Any]) -> dict[str, Any]:
    return {k: row[k] for k in FULL}


async def test_the_detail_shows_the_contact_whole_to_those_who_reach_the_enterprise(
    rig: Rig,
) -> None:
    for who in SEE_FULL:
        row = await rig.row("req-held", who)
        assert (contact(row), row["contact_masked"]) == (FULL, False), who
    for who in SEE_MASKED:
        row = await rig.row("req-held", who)
        assert (contact(row), row["contact_masked"]) == (MASKED, True), who
    # the rest of the row is the same for both
    assert (await rig.row("req-held", "admin"))["enterprise_name"] == "杭州启明智能科技有限公司"
    # out of scope: not found, as ever
    other = await rig.client.get(f"{V1}/requests/req-held", headers=rig.users.auth("cw_other"))
    assert other.status_code == 404


async def test_a_co_handling_units_caseworkers_see_it_whole(rig: Rig) -> None:
    """协办: the caseworkers of the unit with an open part call the enterprise for it, as the
    holding unit's do; the city's supervisor oversees both units and sees it masked."""
    for who in ("cw_own", "cw_other"):  # the co-handler's caseworker, the holder's
        row = await rig.row("req-shared", who)
        assert (contact(row), row["contact_masked"]) == (FULL, False), who
    city = await rig.row("req-shared", "sup_city")
    assert (contact(city), city["contact_masked"]) == (MASKED, True)


async def test_the_queue_carries_no_contact(rig: Rig) -> None:
    r = await rig.client.get(f"{V1}/requests", headers=rig.users.auth("admin"))
    assert r.status_code == 200 and r.json()["items"]
    assert not any("contact" in key for key in r.json()["items"][0])


async def test_the_case_page_shows_the_contact_whole_or_partly_hidden(rig: Rig) -> None:
    for who, shown, hidden in [("cw_own", FULL, MASKED), ("disp_city", FULL, MASKED)]:
        await rig.signed_in(who)
        page = (await rig.client.get("/console/requests/req-held")).text
        assert "、".join(shown.values()) in page, who
        assert "已隐去部分信息" not in page and hidden["contact_phone"] not in page, who
    for who in ("sup_city", "admin"):
        await rig.signed_in(who)
        page = (await rig.client.get("/console/requests/req-held")).text
        assert "王*、138****0000、w***@example.com" in page, who
        assert "（已隐去部分信息）" in page, who
        assert "13800000000" not in page and "wang@example.com" not in page, who
    english = await rig.client.get("/console/requests/req-held", headers={"Accept-Language": "en"})
    assert "王*, 138****0000, w***@example.com" in english.text
    assert " (partly hidden)" in english.text


async def test_the_walk_in_form_fills_in_the_contact_for_the_holding_unit_only(rig: Rig) -> None:
    """带出企业信息 by USCC, a public code: its name and division for anyone who may see a
    request of it; its contact only for the unit that held that request."""
    uscc = enterprise_uscc("330106")
    for who in ("cw_own", "sup_own"):
        await rig.signed_in(who)
        page = (await rig.client.get("/console/submit", params={"uscc": uscc})).text
        assert 'value="13800000000"' in page and 'value="王芳"' in page, who
        assert 'value="wang@example.com"' in page, who
        assert "带出企业名称、行政区划和联系人，请核对。" in page, who
    for who in ("sup_city", "disp_city", "desk_city", "sup_prov", "admin"):
        await rig.signed_in(who)
        page = (await rig.client.get("/console/submit", params={"uscc": uscc})).text
        assert 'value="杭州启明智能科技有限公司"' in page and 'value="330106"' in page, who
        assert "13800000000" not in page and "王芳" not in page, who
        assert "wang@example.com" not in page and "138****" not in page, who
        assert "带出企业名称和行政区划，请核对。联系人仅对承办该工单的单位带出" in page, who


async def test_a_co_handling_unit_gets_no_contact_filled_in_from_a_request_it_did_not_hold(
    rig: Rig,
) -> None:
    """The caseworkers of 西湖区's unit see req-shared's contact on its page (their part), but
    a walk-in form is not the part: it fills in the contact of the unit's own requests only."""
    await rig.signed_in("cw_own")
    page = (
        await rig.client.get("/console/submit", params={"uscc": enterprise_uscc("330105")})
    ).text
    assert "req-shared" in page and 'value="330105"' in page
    assert "13800000000" not in page and "联系人仅对承办该工单的单位带出" in page


def test_a_system_client_may_be_granted_the_contact(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    try:
        user = create_user(engine, "portal-c", Role.SYSTEM, None, ["read", "contact"])
        assert user.grants == ["contact", "read"]
        with pytest.raises(AuthStoreError, match="only system clients have grants"):
            create_user(engine, "cw-c", Role.CASEWORKER, HELD, ["contact"])
        with pytest.raises(AuthStoreError, match=r"allowed: .*contact"):
            create_user(engine, "portal-x", Role.SYSTEM, None, ["contacts"])
    finally:
        engine.dispose()


async def test_the_apis_answers_are_kept_out_of_caches(rig: Rig) -> None:
    """A portal in a browser, or a proxy, keeps no copy of a request with its contact."""
    detail = await rig.client.get(f"{V1}/requests/req-held", headers=rig.users.auth("cw_own"))
    listing = await rig.client.get(f"{V1}/requests", headers=rig.users.auth("cw_own"))
    refused = await rig.client.get(f"{V1}/requests/req-held")  # no token: 401, no-store too
    for answer in (detail, listing, refused):
        assert answer.headers["cache-control"] == "no-store", answer.request.url
        assert answer.headers["x-content-type-options"] == "nosniff"
    assert detail.status_code == listing.status_code == 200 and refused.status_code == 401
    health = await rig.client.get("/healthz")  # not under /api/: as it was
    assert "cache-control" not in health.headers


@pytest.mark.parametrize(
    ("role", "unit"),
    [(Role.CASEWORKER, CO_HANDLER), (Role.DISPATCHER, "zj-330200-sme")],
)
async def test_a_contact_typed_elsewhere_is_not_filled_in(
    sqlite_url: str, role: Role, unit: str
) -> None:
    """Any unit's staff may register a request for any USCC (a public code): a contact typed
    at another unit's window or desk is not filled in for the unit that holds the request,
    or the enterprise's next request would go to whoever typed it."""
    engine = make_engine(sqlite_url)
    writer = TransitionWriter(engine)
    genuine = RecordFactory(make_request("req-genuine"), T0)
    writer.persist([genuine.submitted(), genuine.assigned(HELD)])
    planted = make_request("req-planted")
    planted.enterprise.contact_phone = "13911112222"
    planted.enterprise.contact_email = "evil@attacker.example"
    planted.submitted_at = T0 + timedelta(days=1)  # the newest: the one the form reads
    planted.submitted_by = planted.submitted_by.model_copy(
        update={"id": "staff-elsewhere", "role": role, "institution_id": unit}
    )
    later = RecordFactory(planted, T0 + timedelta(days=1))
    writer.persist([later.submitted(), later.assigned(HELD)])
    async with read_model_client(engine, sqlite_url) as (client, users):
        rig = Rig(client, users)
        await rig.signed_in("cw_own")
        page = await client.get("/console/submit", params={"uscc": enterprise_uscc("330106")})
    assert page.status_code == 200
    assert "13911112222" not in page.text and "evil@attacker.example" not in page.text
    assert "req-planted" in page.text and "联系人仅对承办该工单的单位带出" in page.text
