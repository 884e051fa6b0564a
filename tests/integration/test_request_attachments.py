"""The documents an enterprise attached reach the unit: the read model keeps them, the API's
detail lists them, the case page links them (an http or https link only: a link stored before
the edges refused other kinds is shown as its name, never as something to click)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest_asyncio
from sqlalchemy import update

from activities.persistence import TransitionWriter
from schemas.edge import stored
from schemas.request import Attachment
from tests.fixtures.console import sign_in
from tests.utils.api_helpers import Users, read_model_client
from tests.utils.factories import T0, RecordFactory, make_request
from tierflow.db.engine import begin_write, make_engine
from tierflow.db.models import ServiceRequest

LICENCE = Attachment(
    name="营业执照.pdf",
    media_type="application/pdf",
    size_bytes=5120,
    url="https://files.example.org/req-docs/licence.pdf",
)
with stored():  # accepted before the edges checked links
    OLD_LINK = Attachment(name="旧链接.html", url="javascript:alert(document.cookie)")


@pytest_asyncio.fixture
async def app_on(sqlite_url: str) -> AsyncIterator[tuple[httpx.AsyncClient, Users]]:
    engine = make_engine(sqlite_url)
    writer = TransitionWriter(engine)
    with_docs = RecordFactory(make_request("req-docs"), T0)
    # stored as accepted before links were checked: the projection keeps what it was given
    with_docs.request.attachments = [LICENCE, OLD_LINK]
    before = RecordFactory(make_request("req-before"), T0)
    writer.persist([with_docs.submitted(), with_docs.assigned("zj-330106-sme")])
    writer.persist([before.submitted(), before.assigned("zj-330106-sme")])
    with begin_write(engine) as conn:  # projected before the read model kept attachments
        where = ServiceRequest.request_id == "req-before"  # type: ignore[arg-type]
        conn.execute(update(ServiceRequest).where(where).values(attachments=None))
    async with read_model_client(engine, sqlite_url) as (client, users):
        yield client, users


async def test_the_unit_reads_and_opens_what_the_enterprise_attached(
    app_on: tuple[httpx.AsyncClient, Users],
) -> None:
    client, users = app_on
    detail = await client.get("/api/v1/requests/req-docs", headers=users.auth("cw_own"))
    assert detail.status_code == 200, detail.text
    assert detail.json()["request"]["attachments"] == [
        LICENCE.model_dump(mode="json"),
        OLD_LINK.model_dump(mode="json"),
    ]
    before = await client.get("/api/v1/requests/req-before", headers=users.auth("cw_own"))
    assert before.json()["request"]["attachments"] == []

    assert (await sign_in(client, users.tokens["cw_own"])).status_code == 303
    page = (await client.get("/console/requests/req-docs")).text
    assert f'<a href="{LICENCE.url}" rel="noopener noreferrer">营业执照.pdf</a>' in page
    assert "旧链接.html" in page and "javascript:" not in page
    assert "附件" in (await client.get("/console/requests/req-docs")).text
    assert 'id="attachments"' not in (await client.get("/console/requests/req-before")).text
