"""An admin finds the requests held for an operator: ``needs_operator=true`` on the listing
(and the queue page, and ``tierflow queue --operator``), through the real app on a read model
the projection wrote (SQLite and PostgreSQL)."""

from __future__ import annotations

from activities.persistence import TransitionWriter
from schemas.lifecycle import EventType
from tests.fixtures.console import sign_in
from tests.utils.api_helpers import read_model_client
from tests.utils.factories import T0, RecordFactory, make_request
from tierflow.db.engine import make_engine

V1 = "/api/v1"


async def test_an_admin_lists_the_requests_held_for_an_operator(db_url: str) -> None:
    engine = make_engine(db_url)
    fine = RecordFactory(make_request("req-fine"), T0)
    held = RecordFactory(make_request("req-held"), T0)
    records = [fine.submitted(), fine.assigned("zj-330106-sme")]
    records += [held.submitted(), held.assigned("zj-330106-sme")]
    needed = held.emit(EventType.OPERATOR_NEEDED, details={"step": "resolve_institution"})
    needed.summary.needs_operator = True
    TransitionWriter(engine).persist([*records, needed])
    async with read_model_client(engine, db_url) as (client, users):
        listed = await client.get(
            f"{V1}/requests", params={"needs_operator": "true"}, headers=users.auth("admin")
        )
        every = await client.get(f"{V1}/requests", headers=users.auth("admin"))
        assert (await sign_in(client, users.tokens["admin"])).status_code == 303
        page = (await client.get("/console/", params={"needs_operator": "true"})).text
    assert [item["request_id"] for item in listed.json()["items"]] == ["req-held"]
    assert {item["request_id"] for item in every.json()["items"]} == {"req-held", "req-fine"}
    assert "req-held" in page and "req-fine" not in page and "只看待运维处理的" in page
