"""The console's queue pages through every request in it, 200 rows a page: a unit with more
open requests than one page sees them all, in the same order, none twice."""

from __future__ import annotations

import re
from datetime import timedelta

from prometheus_client import CollectorRegistry

from activities.persistence import TransitionWriter
from api.console.routes import QUEUE_ROWS
from schemas.domain import Tier
from tests.fixtures.console import START, Console, signed_in
from tests.utils.factories import RecordFactory, make_request
from tierflow.metrics import WorkerMetrics

UNIT = "zj-330106-sme"


async def test_the_queue_pages_through_more_requests_than_a_page_holds(console: Console) -> None:
    writer = TransitionWriter(console.engine, WorkerMetrics(CollectorRegistry()))
    count = QUEUE_ROWS + 5
    for n in range(count):
        f = RecordFactory(make_request(f"page-{n:03d}"), start=START - timedelta(hours=n))
        writer.persist([f.submitted(), f.assigned(UNIT, Tier.COUNTY)])
    seen: list[str] = []
    async with signed_in(console, "cw_own") as client:
        url: str | None = "/console/?sort=oldest"
        while url is not None:
            page = await client.get(url)
            assert page.status_code == 200, page.text
            seen += re.findall(r'<small class="muted">(page-\d{3})</small>', page.text)
            # the pages are offered above the table too (a keyboard need not pass every row)
            pagers = re.findall(r'<nav class="pager" aria-label="([^"]+)">', page.text)
            assert pagers == ["分页（表格上方）", "分页"], pagers
            found = re.search(r'<a href="([^"]+)" rel="next">', page.text)
            url = found.group(1).replace("&amp;", "&") if found else None
        assert "第 201-205 件" in page.text and 'rel="prev"' in page.text
    assert len(seen) == count  # none twice ...
    assert sorted(seen) == [f"page-{n:03d}" for n in range(count)]  # ... and every one


async def test_the_dispatch_desk_sees_its_own_worklists_chosen(console: Console) -> None:
    """The dispatch desk's queue opens on its two worklists (退单待决定、延期待审批): the
    selector says so, where it said 全部事项 (anything) though the list was narrowed; choosing
    全部事项 shows everything, choosing its desk again its two lists."""
    async with signed_in(console, "disp_city") as client:
        opened = (await client.get("/console/")).text
        chosen = re.search(r'<option value="desk" selected>([^<]+)</option>', opened)
        assert chosen and chosen.group(1) == "本岗位待办：退单待决定、延期待审批", opened[:2000]
        anything = (await client.get("/console/?awaiting=")).text
        assert '<option value="" selected>全部事项</option>' in anything
        again = (await client.get("/console/?awaiting=desk")).text
        assert "<h1>退单待决定、延期待审批</h1>" in again
