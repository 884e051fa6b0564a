"""The console's league table (考核排名) on the real app and database: the figures equal a
count made while generating the corpus, every column sorts on the server, each number opens
the rows it was counted from, the CSV export matches, and a caseworker is refused."""

from __future__ import annotations

import html
import re
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import event

from tests.fixtures.console import Console, signed_in
from tests.integration.test_assessment import (
    WIDE,
    _added_up,
    _corpus,
    _list_in_directory,
    _persist,
    _rate,
)
from tierflow.assessment import RATES

PERIOD = {"since": "2025-10-08", "until": "2025-11-08"}  # the corpus starts on 2025-10-09
ROW = re.compile(r'<tr id="inst-([^"]+)">(.*?)</tr>', re.S)
CELL = re.compile(r'data-figure="([a-z_]+)">(?:<a href="([^"]+)"[^>]*>)?([^<]*)')
BEHIND = re.compile(r"<tbody>(.*?)</tbody>", re.S)


def table(page: str) -> list[tuple[str, dict[str, tuple[str, str | None]]]]:
    """The league table's rows in order: institution, then figure -> (text, drill-down link)."""
    return [
        (
            unit,
            {
                name: (text, html.unescape(link) if link else None)
                for name, link, text in CELL.findall(body)
            },
        )
        for unit, body in ROW.findall(page)
    ]


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


async def test_league_table_sorts_and_drills_down_to_the_counted_requests(
    console: Console,
) -> None:
    records, counts = _corpus(seed=11, n=60)
    _persist(console.engine, records)
    async with signed_in(console, "admin") as client:
        page = await client.get("/console/assessment", params={**PERIOD, "sort": "reminders"})
        assert page.status_code == 200, page.text
        assert 'href="/console/assessment" aria-current="page"' in page.text  # in the navigation
        rows = table(page.text)
        assert [unit for unit, _ in rows] == sorted(
            counts, key=lambda u: (-counts[u]["reminders"], u)
        )
        for unit, cells in rows:
            c = counts[unit]
            assert cells["reminders"][0] == str(c["reminders"])
            assert cells["supervisions"][0] == str(c["supervisions"])
            assert cells["satisfaction_rate"][0] == percent(_rate(c["satisfied"], c["ratings"]))
            assert cells["response_rate"][0] == percent(_rate(c["responded_on_time"], c["holds"]))
        # a poor rate says so in more than its colour (a mark, and words for a screen reader)
        bodies = dict(ROW.findall(page.text))
        satisfied = [_rate(c["satisfied"], c["ratings"]) for c in counts.values()]
        assert any(r is not None and r < 0.7 for r in satisfied)  # the corpus has a poor one
        for unit, c in counts.items():
            rate = _rate(c["satisfied"], c["ratings"])
            cell = bodies[unit].split('data-figure="satisfaction_rate">')[1].split("</td>")[0]
            poor = rate is not None and rate < 0.7
            assert ("▼" in cell and "（较差：低于 70%）" in cell) is poor, (unit, rate)
        assert page.text.count('<figure class="chart"') == len(RATES)  # one chart per rate
        assert page.text.count('class="chart-row') == len(RATES) * len(counts)

        ascending = table(
            (
                await client.get(
                    "/console/assessment",
                    params={**PERIOD, "sort": "satisfaction_rate", "order": "asc"},
                )
            ).text
        )
        rates = [_rate(counts[u]["satisfied"], counts[u]["ratings"]) or 0.0 for u, _ in ascending]
        assert rates == sorted(rates)

        for unit, cells in rows:
            c = counts[unit]
            for figure, whole, part in (
                ("satisfaction_rate", "ratings", "satisfied"),
                ("reminders", "reminders", None),
                ("resolution_rate", "followed_up", "solved"),
            ):
                link = cells[figure][1]
                assert link is not None and urlsplit(link).path == "/console/assessment/requests"
                assert parse_qs(urlsplit(link).query)["group"] == [unit]
                behind = await client.get(link)
                assert behind.status_code == 200, behind.text
                heading = behind.text.split("<h1>")[1].split("</h1>")[0]
                assert f"：{unit}" in heading  # the figure, a Chinese colon, the unit
                listed = BEHIND.findall(behind.text)[0]
                assert listed.count('href="/console/requests/') == c[whole], (unit, figure)
                if part:
                    assert listed.count("badge-ok") == c[part], (unit, figure)

        csv = await client.get("/console/assessment.csv", params=PERIOD)
        assert csv.status_code == 200 and csv.text.startswith(
            "\ufeffgroup,institution_id,tier,holds"
        )
        assert len(csv.text.strip().splitlines()) == 1 + len(counts)

        unknown = await client.get(
            "/console/assessment/requests", params={**PERIOD, "group": "x", "figure": "nope"}
        )
        assert unknown.status_code == 404

    async with signed_in(console, "cw_own") as client:
        refused = await client.get("/console/assessment", params=PERIOD)
        assert refused.status_code == 403
        menu = await client.get("/console/")
        assert "/console/assessment" not in menu.text


async def test_the_league_table_adds_up_by_province_and_drills_into_one(
    console: Console,
) -> None:
    records, counts = _corpus(seed=13, n=80, units=WIDE)
    _persist(console.engine, records)
    _list_in_directory(console.engine, WIDE)
    expected = _added_up(counts, "province")
    async with signed_in(console, "admin") as client:
        page = await client.get(
            "/console/assessment", params={**PERIOD, "by": "province", "sort": "group"}
        )
        assert page.status_code == 200, page.text
        rows = table(page.text)
        assert [group for group, _ in rows] == sorted(expected, reverse=True)
        assert "浙江省" in page.text and "江苏省" in page.text and "名录中无此机构" in page.text
        assert 'aria-current="true">省</a>' in page.text
        cells = dict(rows)["330000"]
        assert cells["holds"][0] == str(expected["330000"]["holds"])
        link = cells["holds"][1]
        assert link is not None
        assert parse_qs(urlsplit(link).query)["by"] == ["province"]
        behind = await client.get(link)
        assert behind.status_code == 200
        listed = BEHIND.search(behind.text)
        assert listed is not None
        assert listed.group(1).count('href="/console/requests/') == expected["330000"]["holds"]


async def test_a_supervisor_sees_only_the_institutions_of_the_region(
    console: Console,
) -> None:
    records, counts = _corpus(seed=12, n=30)
    _persist(console.engine, records)
    async with signed_in(console, "sup_other") as client:  # Ningbo: none of the corpus
        page = await client.get("/console/assessment", params=PERIOD)
        assert page.status_code == 200 and table(page.text) == []
        leak: httpx.Response = await client.get(
            "/console/assessment/requests",
            params={**PERIOD, "group": next(iter(counts)), "figure": "holds"},
        )
        assert leak.status_code == 200 and 'href="/console/requests/' not in leak.text


async def test_a_drill_down_reads_the_rows_of_the_requests_it_lists_only(
    console: Console, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A year's figure may stand on hundreds of thousands of rows (more request ids than a
    statement takes): the page counts them all, lists the first ones, and reads the request
    rows of those alone, a batch of ids at a time."""
    records, counts = _corpus(seed=11, n=60)
    _persist(console.engine, records)
    unit = max(counts, key=lambda u: counts[u]["holds"])
    total = counts[unit]["holds"]
    assert total > 3
    monkeypatch.setattr("api.console.assessment.BEHIND_ROWS", 3)
    monkeypatch.setattr("api.service.assessment.ID_BATCH", 2)
    batches: list[int] = []

    def reads(conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001
        if "FROM service_request" in statement and "request_id IN" in statement:
            batches.append(len(parameters))

    event.listen(console.engine, "before_cursor_execute", reads)
    try:
        async with signed_in(console, "admin") as client:
            behind = await client.get(
                "/console/assessment/requests",
                params={**PERIOD, "group": unit, "figure": "response_rate"},
            )
    finally:
        event.remove(console.engine, "before_cursor_execute", reads)
    assert behind.status_code == 200, behind.text
    assert batches == [2, 1]  # the 3 listed requests' rows, 2 ids at a time
    listed = BEHIND.findall(behind.text)[0]
    assert listed.count('href="/console/requests/') == 3
    assert f"共 {total} 件，列出前 3 件。" in behind.text
