"""督办待回复 of a 整改 whose request moved on: the rated unit owes the reply, so its
caseworkers' worklist holds it and the holding unit's does not; through the real app on
SQLite and PostgreSQL read models written by the real projection."""

from __future__ import annotations

from activities.persistence import TransitionWriter
from schemas.domain import Tier
from schemas.lifecycle import Awaiting
from tests.utils.api_helpers import read_model_client
from tests.utils.factories import T0, RecordFactory, make_request
from tierflow.db.engine import make_engine

COUNTY, CITY = "zj-330106-sme", "zj-330100-sme"


def _held_by_the_city(rid: str, owed: Awaiting, rectifying: str | None) -> list:
    """A request escalated to the city whose last summary says who owes a reply."""
    made = RecordFactory(make_request(rid), T0)
    records = [made.submitted(), made.assigned(COUNTY), made.escalated(CITY, Tier.MUNICIPAL)]
    last = records[-1]
    summary = last.summary.model_copy(update={"awaiting": [owed], "rectifying_unit": rectifying})
    records[-1] = last.model_copy(update={"summary": summary})
    return records


async def test_the_rated_unit_finds_the_reply_it_owes_for_its_rectification(db_url: str) -> None:
    engine = make_engine(db_url)
    writer = TransitionWriter(engine)
    writer.persist(_held_by_the_city("req-rated", Awaiting.RECTIFICATION_REPLY, COUNTY))
    writer.persist(_held_by_the_city("req-city-owes", Awaiting.SUPERVISION_REPLY, None))
    async with read_model_client(engine, db_url) as (client, users):

        async def worklist(who: str, code: Awaiting) -> set[str]:
            page = await client.get(
                "/api/v1/requests", params={"awaiting": code.value}, headers=users.auth(who)
            )
            assert page.status_code == 200, page.text
            return {item["request_id"] for item in page.json()["items"]}

        assert await worklist("cw_own", Awaiting.SUPERVISION_REPLY) == {"req-rated"}
        assert await worklist("cw_city", Awaiting.SUPERVISION_REPLY) == {"req-city-owes"}
        assert await worklist("sup_city", Awaiting.SUPERVISION_REPLY) == {
            "req-rated",
            "req-city-owes",
        }
        assert await worklist("cw_own", Awaiting.RECTIFICATION_REPLY) == {"req-rated"}
        assert await worklist("cw_city", Awaiting.RECTIFICATION_REPLY) == set()
