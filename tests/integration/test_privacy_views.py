"""A request whose contact was erased still reads, through the real app: its API detail gives
the contact fields as null and its case page shows no contact, to the unit that held it and to
an admin alike. Temporal no longer keeps such a request's workflow (it ended long before the
erasure), as here: the session's dev server never ran it."""

from __future__ import annotations

from datetime import UTC, datetime

from temporalio.client import Client

from api.app import create_app
from tests.fixtures.console import Console, sign_in
from tests.utils.api_helpers import asgi_client
from tests.utils.ended_requests import closed, contacts, persist
from tierflow.privacy import erase_contacts
from tierflow.settings import Settings

NOW = datetime(2029, 1, 6, 1, 0, tzinfo=UTC)


async def test_a_request_without_its_contact_reads_in_the_api_and_the_console(
    console: Console, temporal_client: Client
) -> None:
    persist(console.engine, closed("v-erased"))
    assert erase_contacts(console.engine, ended_before=NOW, by="cli:ops", now=NOW) == 1
    assert contacts(console.engine, "v-erased") == (None, None, None)
    app = create_app(
        Settings(database_url=console.url), temporal_client, console.engine, clock=console.clock
    )
    async with asgi_client(app) as client:
        for who in ("cw_own", "admin"):  # the holding unit; an admin overseeing it
            auth = {"Authorization": f"Bearer {console.users.tokens[who]}"}
            r = await client.get("/api/v1/requests/v-erased", headers=auth)
            assert r.status_code == 200, (who, r.text)
            detail = r.json()
            assert detail["view_missing"] == "forgotten", who
            row = detail["request"]
            assert row["state"] == "closed" and row["description"], who
            assert (row["contact_name"], row["contact_phone"], row["contact_email"]) == (
                None,
                None,
                None,
            ), who
        assert (await sign_in(client, console.users.tokens["cw_own"])).status_code == 303
        page = await client.get("/console/requests/v-erased")
    assert page.status_code == 200, page.text
    assert "<dt>联系人</dt><dd>—" in page.text
    assert "王芳" not in page.text and "13800000000" not in page.text
    assert "需要500万元流动资金贷款" in page.text  # the rest of the request reads as before
