"""A portal lists one enterprise's requests by its USCC, exactly: not another enterprise's
whose name or subject quotes the code (a search would find those). The real app on SQLite and
PostgreSQL read models written by the real projection."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from activities.persistence import TransitionWriter
from tests.utils.api_helpers import read_model_client
from tests.utils.factories import T0, RecordFactory, enterprise_uscc, make_request
from tierflow.db.engine import make_engine

V1 = "/api/v1"


async def test_a_portal_lists_one_enterprises_requests_by_its_uscc(db_url: str) -> None:
    engine = make_engine(db_url)
    mine = enterprise_uscc("330106")
    other = enterprise_uscc("330105")
    own = RecordFactory(make_request("req-own", uscc=mine), T0)
    quoting = make_request("req-quoting", division_code="330105", uscc=other)
    quoting = quoting.model_copy(update={"subject": f"与{mine}的合作"})
    theirs = RecordFactory(quoting, T0)
    TransitionWriter(engine).persist(
        [own.submitted(), own.assigned("zj-330106-sme"), theirs.submitted()]
    )
    async with read_model_client(engine, db_url) as (client, users):

        async def listed(**params: Any) -> Any:
            headers = users.auth("sys_portal")
            return await client.get(f"{V1}/requests", params=params, headers=headers)

        found = (await listed(uscc=mine, include_closed=True)).json()["items"]
        assert [item["request_id"] for item in found] == ["req-own"]
        searched = (await listed(search=mine)).json()["items"]
        assert {item["request_id"] for item in searched} == {"req-own", "req-quoting"}
        lower = (await listed(uscc=mine.lower())).json()["items"]  # read as upper case
        assert [item["request_id"] for item in lower] == ["req-own"]
        bad = await listed(uscc=mine[:-1] + ("0" if mine[-1] != "0" else "1"))
    assert bad.status_code == 422, bad.text
    assert [e["field"] for e in bad.json()["detail"]] == ["uscc"], bad.text


async def test_a_portal_polls_for_what_changed_since_it_last_looked(db_url: str) -> None:
    """``updated_since`` with ``sort=updated``: the changed requests in the order of their
    last step, a closed one too (its close is news), none changed before."""
    engine = make_engine(db_url)
    uscc = enterprise_uscc("330106")
    quiet = RecordFactory(make_request("req-quiet", uscc=uscc), T0)
    closing = RecordFactory(make_request("req-closing", uscc=uscc), T0)
    busy = RecordFactory(make_request("req-busy", uscc=uscc), T0)
    writer = TransitionWriter(engine)
    writer.persist([quiet.submitted(), closing.submitted(), busy.submitted()])
    writer.persist([closing.assigned("zj-330106-sme"), busy.assigned("zj-330106-sme")])
    seen = busy.now  # the portal looked here: both were assigned at T0 + 10 min
    writer.persist([busy.commented("已受理"), closing.resolved()])  # T0 + 20 min
    writer.persist([closing.closed()])  # T0 + 30 min
    async with read_model_client(engine, db_url) as (client, users):

        async def polled(**params: Any) -> Any:
            headers = users.auth("sys_portal")
            answer = await client.get(f"{V1}/requests", params=params, headers=headers)
            assert answer.status_code == 200, answer.text
            return [(i["request_id"], i["state"]) for i in answer.json()["items"]]

        since = {"updated_since": seen.isoformat(), "sort": "updated"}
        assert await polled(uscc=uscc, **since) == [
            ("req-busy", "assigned"),
            ("req-closing", "closed"),
        ]
        later = (seen + timedelta(minutes=15)).isoformat()
        assert await polled(uscc=uscc, updated_since=later, sort="updated") == [
            ("req-closing", "closed")
        ]
        naive = await client.get(
            f"{V1}/requests",
            params={"updated_since": "2026-01-01T00:00:00"},
            headers=users.auth("sys_portal"),
        )
    assert naive.status_code == 422 and naive.json()["detail"][0]["field"] == "updated_since"
