"""差评 first: the enterprise's rating of the conclusion is on the request's row, so the
follow-up desk's queue puts a bad rating's callback first and marks it; through the real
app on SQLite and PostgreSQL read models written by the real projection."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from activities.persistence import TransitionWriter
from schemas.domain import SlaStatus
from schemas.lifecycle import Awaiting
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


async def test_the_desk_orders_the_calls_by_their_own_deadlines(db_url: str) -> None:
    """待回访 rows are late or on track by the call's deadline, as the queue shows them: a
    request whose unit missed its deadline earlier but whose call is due later comes after a
    call due sooner (it came first as "late" while it showed on track)."""
    now = datetime.now(UTC)
    engine = make_engine(db_url)
    writer = TransitionWriter(engine)
    calls = {"req-unit-late": (SlaStatus.BREACHED, 5), "req-soon": (SlaStatus.STOPPED, 1)}
    calls["req-overdue"] = (SlaStatus.STOPPED, -1)
    for rid, (status, days) in calls.items():
        made = RecordFactory(make_request(rid), T0)
        records = [made.submitted(), made.assigned(COUNTY), made.resolved()]
        due = {
            "sla_status": status,
            "follow_up_due_at": now + timedelta(days=days),
            "awaiting": [Awaiting.FOLLOW_UP],
        }
        last = records[-1]
        records[-1] = last.model_copy(update={"summary": last.summary.model_copy(update=due)})
        writer.persist(records)
    async with read_model_client(engine, db_url) as (client, users):
        listed = await client.get(
            "/api/v1/requests",
            params={"sort": "risk", "awaiting": "follow_up"},
            headers=users.auth("desk_city"),
        )
    items = listed.json()["items"]
    assert [i["request_id"] for i in items] == ["req-overdue", "req-soon", "req-unit-late"]
    assert [i["sla_status"] for i in items] == ["breached", "on_track", "on_track"]
