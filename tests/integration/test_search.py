"""Search of the queue and of all requests in scope, its sorts and its CSV export, over HTTP on
SQLite and PostgreSQL; on PostgreSQL the trigram and bigram indexes serve Chinese terms."""

from __future__ import annotations

import asyncio
import csv
import io
import random
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import Engine, text
from sqlmodel import Session, select
from typer.testing import CliRunner

from api.app import create_app
from api.service.requests import COUNT_LIMIT
from schemas.domain import Category, Grade, Priority, SlaStatus, State, Tier
from tests.fixtures.console import sign_in
from tests.utils.api_helpers import Users, asgi_client, make_users, serve_in_thread
from tierflow.cli import app as cli_app
from tierflow.db.engine import make_engine
from tierflow.db.migrate import upgrade
from tierflow.db.models import ServiceRequest
from tierflow.db.search import search_condition
from tierflow.settings import Settings
from tierflow_dev.demo import make_uscc
from tierflow_dev.devstack.postgres import PostgresServer

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
HELD = "zj-330106-sme"  # cw_own's institution
ROWS: list[dict[str, Any]] = [
    {"rid": "s-1", "name": "杭州启明智能科技有限公司", "subject": "申请科技型中小企业信用贷款对接"},
    {
        "rid": "s-2",
        "name": "杭州西溪精密机械有限公司",
        "subject": "数字化改造诊断",
        "sla": "breached",
    },
    {"rid": "s-3", "name": "宁波港湾物流有限公司", "subject": "出海合规咨询：启明计划", "due": 2},
    {"rid": "s-4", "name": "100%_纯净水厂", "subject": "融资", "category": "certification"},
    {"rid": "s-5", "name": '=HYPERLINK("http://x")', "subject": "+cmd", "state": "closed"},
    {
        "rid": "s-6",
        "name": "杭州启明智能科技有限公司",
        "subject": "另一机构的请求",
        "held": "zj-330105-sme",
    },
]


def row(n: int, spec: dict[str, Any]) -> ServiceRequest:
    submitted = T0 + timedelta(hours=n)
    return ServiceRequest(
        request_id=spec["rid"],
        state=State(spec.get("state", "assigned")),
        tier=Tier.COUNTY,
        institution_id=spec.get("held", HELD),
        category=Category(spec.get("category", "financing")),
        priority=Priority.NORMAL,
        grade=Grade.NONE,
        division_code="330106",
        enterprise_uscc=make_uscc("330106", random.Random(spec["rid"])),
        enterprise_name=spec["name"],
        contact_name="王芳",
        contact_phone="13800000000",
        contact_email="wang@example.com",
        subject=spec["subject"],
        policy_version="test-1",
        sla_status=SlaStatus(spec.get("sla", "on_track")),
        resolution_due_at=submitted + timedelta(hours=spec.get("due", 48)),
        submitted_at=submitted,
        updated_at=submitted,
    )


class Api:
    def __init__(self, client: Any, users: Users, engine: Engine) -> None:
        self.client, self.users, self.engine = client, users, engine

    async def ids(self, who: str = "admin", **params: Any) -> list[str]:
        r = await self.client.get("/api/v1/requests", params=params, headers=self.users.auth(who))
        assert r.status_code == 200, r.text
        return [i["request_id"] for i in r.json()["items"]]

    async def get(self, path: str, who: str = "admin", **params: Any) -> Any:
        return await self.client.get(path, params=params, headers=self.users.auth(who))


@pytest_asyncio.fixture
async def api(db_url: str) -> AsyncIterator[Api]:
    engine = make_engine(db_url)
    with Session(engine) as session:
        session.add_all(row(n, spec) for n, spec in enumerate(ROWS))
        session.commit()
    try:
        async with asgi_client(create_app(Settings(database_url=db_url), None, engine)) as client:
            yield Api(client, make_users(engine), engine)
    finally:
        engine.dispose()


async def test_search_by_name_subject_uscc_and_id_within_scope(api: Api) -> None:
    assert await api.ids(search="启明") == ["s-3", "s-1", "s-6"]  # risk order, both fields
    assert await api.ids("cw_own", search="启明") == ["s-3", "s-1"]  # s-6 is held elsewhere
    assert await api.ids(search="西溪精密") == ["s-2"]
    uscc = make_uscc("330106", random.Random("s-2"))
    assert await api.ids(search=uscc) == ["s-2"]
    assert await api.ids(search=uscc[:14].lower()) == ["s-2"]  # a USCC prefix, any case
    assert await api.ids(search="s-4") == ["s-4"]
    assert await api.ids(search="  ") == await api.ids()  # blank: no search
    # combined with the filters, and closed requests only when asked
    assert await api.ids(search="启明", category="certification") == []
    assert await api.ids(search="HYPERLINK") == []
    assert await api.ids(search="HYPERLINK", include_closed="true") == ["s-5"]


async def test_like_wildcards_in_the_search_are_plain_characters(api: Api) -> None:
    assert await api.ids(search="%") == ["s-4"]
    assert await api.ids(search="00") == ["s-4"]  # two characters without case
    assert await api.ids(search="0%_") == ["s-4"]
    assert await api.ids(search="_") == ["s-4"]
    assert await api.ids(search="启明%公司") == []


async def test_sort_by_risk_or_date_and_page(api: Api) -> None:
    assert await api.ids(search="杭州") == ["s-2", "s-1", "s-6"]  # breached first
    assert await api.ids(search="杭州", sort="newest") == ["s-6", "s-2", "s-1"]
    assert await api.ids(search="杭州", sort="oldest") == ["s-1", "s-2", "s-6"]
    r = await api.get("/api/v1/requests", search="杭州", sort="oldest", limit=1, offset=1)
    assert (r.json()["total"], [i["request_id"] for i in r.json()["items"]]) == (3, ["s-2"])


async def test_counting_stops_at_the_limit_but_the_listing_and_the_csv_do_not(api: Api) -> None:
    """1,003 matches: the page says "more than 1,000", pages past it still list, the CSV's
    X-Total-Count is exact; a count under the limit stays exact."""
    extra = [
        {"rid": f"m-{n:04d}", "name": "温州瑞丰电子有限公司", "subject": "融资"}
        for n in range(1003)
    ]
    with Session(api.engine) as session:
        session.add_all(row(n, spec) for n, spec in enumerate(extra))
        session.commit()
    page = (await api.get("/api/v1/requests", search="瑞丰", limit=5)).json()
    assert (page["total"], page["total_exact"], len(page["items"])) == (COUNT_LIMIT, False, 5)
    late = (await api.get("/api/v1/requests", search="瑞丰", limit=50, offset=1000)).json()
    assert len(late["items"]) == 3
    csv_page = await api.get("/api/v1/requests.csv", search="瑞丰")
    assert csv_page.headers["x-total-count"] == "1003"
    few = (await api.get("/api/v1/requests", search="启明")).json()
    assert (few["total"], few["total_exact"]) == (3, True)
    assert (await sign_in(api.client, api.users.tokens["cw_own"])).status_code == 303
    console = await api.client.get("/console/", params={"q": "瑞丰"})
    assert console.status_code == 200 and "超过 1000 件工单" in console.text
    console = await api.client.get("/console/", params={"q": "启明"})
    assert "2 件工单，按超时风险" in console.text and "超过" not in console.text


async def test_bad_searches_are_refused_with_the_reason(api: Api) -> None:
    r = await api.get("/api/v1/requests", search="启" * 101)
    assert r.status_code == 422 and "search" in r.text
    r = await api.get("/api/v1/requests", search="启明\x00")
    assert r.status_code == 422 and "control character U+0000" in r.text
    r = await api.get("/api/v1/requests", sort="popular")
    assert r.status_code == 422
    for where in ("/api/v1/requests", "/api/v1/requests.csv"):  # PostgreSQL refuses a NUL
        r = await api.get(where, institution="zj-330106-sme\x00")
        assert r.status_code == 422 and "institution" in r.text, (where, r.status_code)
    r = await api.get("/api/v1/requests/req-1%00")  # an id no request can have
    assert r.status_code == 422 and "request_id" in r.text
    acted = await api.client.post(
        "/api/v1/requests/req-1%00/actions/comment",
        json={"text": "x"},
        headers=api.users.auth("admin"),
    )
    assert acted.status_code == 422 and "request_id" in acted.text


async def test_ids_no_record_can_have_are_not_found_before_the_database_sees_them(
    api: Api,
) -> None:
    """PostgreSQL refuses a NUL in a query: that would read as a database outage (503)."""
    assert (await sign_in(api.client, api.users.tokens["admin"])).status_code == 303
    case = await api.client.get("/console/requests/s-1%00")
    assert case.status_code == 404 and "s-1\\x00" in case.text
    assert "找不到工单 &#39;s-1\\x00&#39;（或不在您的办理范围内）" in case.text  # in Chinese
    run = await api.client.get("/console/whatif/wi-1%00")
    assert run.status_code == 404


async def test_csv_export_of_the_result_for_excel_without_contacts(api: Api) -> None:
    r = await api.get(
        "/api/v1/requests.csv", "cw_own", search="启明", include_closed="true", sort="oldest"
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    assert r.headers["x-total-count"] == "2"
    assert r.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert [x["request_id"] for x in rows] == ["s-1", "s-3"]
    assert rows[0]["enterprise_name"] == "杭州启明智能科技有限公司"
    assert rows[0]["submitted_at"] == "2026-03-02 10:00"  # Asia/Shanghai
    assert not any("contact" in column for column in rows[0])
    assert list(rows[0])[list(rows[0]).index("next_due_at") + 1] == "follow_up_due_at"
    assert "13800000000" not in r.text and "王芳" not in r.text
    # a cell a spreadsheet would run as a formula is quoted
    r = await api.get("/api/v1/requests.csv", search="HYPERLINK", include_closed="true")
    [formula] = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert formula["enterprise_name"].startswith("'=") and formula["subject"] == "'+cmd"
    assert (await api.get("/api/v1/requests.csv", limit=10_001)).status_code == 422
    assert (await api.client.get("/api/v1/requests.csv")).status_code == 401


@pytest.mark.postgres
def test_indexes_serve_chinese_terms_of_two_characters_and_more(
    postgres_server: PostgresServer,
) -> None:
    """The product's own conditions: a 4-character term through the trigram indexes, a
    2-character one through the bigram indexes, a USCC prefix through its index; answers equal
    a plain substring check over the rows."""
    url = postgres_server.create_database(f"t_{uuid.uuid4().hex[:16]}", ctype="C.UTF-8")
    upgrade(url)
    engine = make_engine(url)
    specs = [{**ROWS[n % 4], "rid": f"p-{n}"} for n in range(400)]
    try:
        with Session(engine) as session:
            session.add_all(row(n, spec) for n, spec in enumerate(specs))
            session.commit()
        with engine.begin() as conn:
            conn.execute(text("ANALYZE service_request"))
            conn.execute(text("SET LOCAL enable_seqscan = off"))

            def plan(term: str) -> str:
                query = select(ServiceRequest.request_id).where(
                    search_condition(term, "postgresql")
                )
                sql = query.compile(engine, compile_kwargs={"literal_binds": True})
                return "\n".join(conn.execute(text(f"EXPLAIN {sql}")).scalars())

            four, two = plan("西溪精密"), plan("西溪")
            trigrams = conn.execute(text("SELECT show_trgm('西溪精密')")).scalar()
            found = {
                term: set(
                    conn.execute(
                        select(ServiceRequest.request_id).where(
                            search_condition(term, "postgresql")
                        )
                    ).scalars()
                )
                for term in ("西溪", "启明", "纯净", "00", "西溪精密", "%_")
            }
    finally:
        engine.dispose()
    assert "ix_service_request_name_trgm" in four and "ix_service_request_subject_trgm" in four
    assert "ix_service_request_name_bigrams" in two
    assert "ix_service_request_subject_bigrams" in two
    assert "request_id" not in two.split("Index Cond")[-1]  # no id prefix for a Chinese term
    assert trigrams  # LC_CTYPE C.UTF-8: Chinese characters make trigrams
    for term, ids in found.items():
        expected = {s["rid"] for s in specs if term in s["name"] or term in s["subject"]}
        assert ids == expected and ids, term


async def test_console_queue_searches_and_exports(api: Api) -> None:
    assert (await sign_in(api.client, api.users.tokens["cw_own"])).status_code == 303
    page = await api.client.get("/console/", params={"q": "启明", "sort": "oldest"})
    assert page.status_code == 200, page.text
    assert 'name="q" value="启明"' in page.text and "s-1" in page.text and "s-3" in page.text
    assert "s-2" not in page.text and "s-6" not in page.text
    assert page.text.index("s-1") < page.text.index("s-3")  # oldest first
    assert "/console/requests.csv?" in page.text
    none = await api.client.get("/console/", params={"q": "没有这家企业"})
    assert "没有找到匹配“没有这家企业”的工单。" in none.text  # zh-CN by default
    export = await api.client.get("/console/requests.csv", params={"q": "启明"})
    assert export.status_code == 200 and export.content.startswith(b"\xef\xbb\xbf")
    # not an institution id: no filter, as for an unknown state (PostgreSQL refuses a NUL)
    for where in ("/console/", "/console/requests.csv"):
        odd = await api.client.get(where, params={"institution": "zj-330106-sme\x00"})
        assert odd.status_code == 200, (where, odd.status_code)

    lines = export.content.decode("utf-8-sig").splitlines()
    # for people: headed and labelled in the page's language (the API's CSV keeps the codes)
    assert lines[0].startswith("工单编号,提交时间,企业,统一社会信用代码,")
    assert ",已派单," in lines[1] or ",已受理," in lines[1], lines[1]
    assert "assigned" not in lines[1] and "county" not in lines[1]
    english = await api.client.get(
        "/console/requests.csv", params={"q": "启明"}, headers={"Accept-Language": "en"}
    )
    assert english.content.decode("utf-8-sig").startswith("Request number,Submitted at,")
    assert [x.split(",")[0] for x in lines[1:]] == [
        "s-3",
        "s-1",
    ]


async def test_cli_queue_search_and_csv(api: Api, temporal_dev_server: Any, tmp_path: Path) -> None:
    # the served app connects to Temporal at start (client None), though a listing never asks it
    settings = Settings(
        database_url=api.engine.url.render_as_string(hide_password=False),
        temporal_address=temporal_dev_server.address,
    )
    app = create_app(settings, None, api.engine)
    env = {"TIERFLOW_HOME": str(tmp_path / "home"), "COLUMNS": "200", "TIERFLOW_LANG": "zh-CN"}

    def cli(*args: str) -> str:
        result = CliRunner().invoke(cli_app, list(args), env=env)
        assert result.exit_code == 0, result.output
        return result.output

    with serve_in_thread(app) as url:
        await asyncio.to_thread(cli, "login", "--url", url, "--token", api.users.tokens["cw_own"])
        out = await asyncio.to_thread(cli, "queue", "--search", "启明", "--sort", "oldest")
        assert "s-1" in out and "s-3" in out and "s-2" not in out
        assert out.index("s-1") < out.index("s-3")
        saved = tmp_path / "启明.csv"
        out = await asyncio.to_thread(cli, "queue", "-s", "启明", "--csv", str(saved))
        assert "共 2 件匹配的工单" in out  # the CLI speaks Chinese by default
    assert saved.read_bytes().startswith(b"\xef\xbb\xbf")
