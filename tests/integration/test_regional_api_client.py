"""A system client given a region over HTTP serves the requests from there only, as a
regional Kafka client does: it lists, reads, acts on and submits those, and its reports
count the units there. The real app on SQLite and PostgreSQL read models written by the
real projection."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from activities.persistence import TransitionWriter
from tests.utils.api_helpers import read_model_client, request_body
from tests.utils.factories import T0, RecordFactory, make_request
from tierflow.db.engine import make_engine

V1 = "/api/v1"
DAY = timedelta(days=1)


async def test_a_regional_client_serves_the_requests_from_its_region_only(db_url: str) -> None:
    engine = make_engine(db_url)
    zj = RecordFactory(make_request("req-zj", division_code="330106"), T0)
    js = RecordFactory(make_request("req-js", division_code="320505"), T0)
    TransitionWriter(engine).persist(
        [zj.submitted(), zj.assigned("zj-330106-sme"), js.submitted(), js.assigned("js-320505-sme")]
    )
    async with read_model_client(engine, db_url) as (client, users):

        async def get(path: str, who: str, **params: Any) -> Any:
            return await client.get(f"{V1}{path}", params=params, headers=users.auth(who))

        async def listed(who: str) -> set[str]:
            found = (await get("/requests", who)).json()["items"]
            return {item["request_id"] for item in found}

        assert await listed("sys_zj") == {"req-zj"}
        assert await listed("sys_portal") == {"req-zj", "req-js"}  # no region: every request
        assert (await get("/requests/req-zj", "sys_zj")).status_code == 200
        assert (await get("/requests/req-js", "sys_zj")).status_code == 404
        comment = await client.post(
            f"{V1}/requests/req-js/comments",
            json={"action_id": "c-1", "text": "x"},
            headers=users.auth("sys_zj"),
        )
        assert comment.status_code == 404, comment.text
        jiangsu = make_request("req-js-new", division_code="320505")
        submitted = await client.post(
            f"{V1}/requests", json=request_body(jiangsu), headers=users.auth("sys_zj")
        )
        assert submitted.status_code == 403, submitted.text
        assert submitted.json()["detail"] == (
            f"system {users.ids['sys_zj']} acts in region 330000; the enterprise is "
            "registered in 320505"
        )
        period = {"since": (T0 - timedelta(days=1)).isoformat(), "until": (T0 + DAY).isoformat()}

        async def assessed(who: str) -> set[str]:
            answer = await get("/reports/assessment", who, **period)
            assert answer.status_code == 200, answer.text
            found = answer.json()["rows"]
            return {row["institution_id"] for row in found}

        assert await assessed("sys_zj") == {"zj-330106-sme"}
        assert await assessed("admin") == {"zj-330106-sme", "js-320505-sme"}
