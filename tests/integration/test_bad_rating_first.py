"""差评 first: the enterprise's rating of the conclusion is on the request's row, so the
follow-up desk's queue puts a bad rating's callback first and marks it; through the real
app on SQLite and PostgreSQL read models written by the real projection."""

from __future__ import annotations

from datetime import timedelta

from activities.persistence import TransitionWriter
from tests.fixtures.console import sign_in
from tests.utils.api_helpers import read_model_client
from tests.utils.factories import T0, RecordFactory, make_request
from tierflow.db.engine import make_engine

COUNTY = "zj-330106-sme"


async def test_the_desk_calls_a_bad_rating_back_first(db_url: str) -> None:
    engine = make_engine(db_url)
    writer = TransitionWriter(engine)
    content = RecordFactory(make_request("req-content"), T0)
    writer.persist([content.submitted(), content.assigned(COUNTY), content.resolved()])
    # resolved a day later, so it would come second by its deadline: its rating puts it first
    unhappy = RecordFactory(make_request("req-unhappy"), T0 + timedelta(days=1))
    writer.persist(
        [unhappy.submitted(), unhappy.assigned(COUNTY), unhappy.resolved(), unhappy.rated(2)]
    )
    happy = RecordFactory(make_request("req-happy"), T0 + timedelta(days=1))
    writer.persist([happy.submitted(), happy.assigned(COUNTY), happy.resolved(), happy.rated(5)])
    async with read_model_client(engine, db_url) as (client, users):
        listed = await client.get(
            "/api/v1/requests", params={"sort": "risk"}, headers=users.auth("desk_city")
        )
        items = listed.json()["items"]
        assert [i["request_id"] for i in items][0] == "req-unhappy"
        assert {i["request_id"]: i["rating"] for i in items} == {
            "req-unhappy": 2,
            "req-happy": 5,
            "req-content": None,
        }
        # a caseworker's queue keeps its own order: by its deadlines
        own = await client.get("/api/v1/requests", headers=users.auth("cw_own"))
        assert [i["request_id"] for i in own.json()["items"]][0] == "req-content"
        assert (await sign_in(client, users.tokens["desk_city"])).status_code == 303
        page = (await client.get("/console/", params={"awaiting": ""})).text
        assert page.count('class="tag bad-rating"') == 1 and "差评：2 分" in page
