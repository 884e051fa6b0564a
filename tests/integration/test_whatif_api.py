"""The what-if through the real API and console over a recorded audit trail.

Generated traffic is recorded once per module (the live workflow on the time-skipping server,
``tierflow_dev.whatif_traffic``); the app reads that read model. Supervisors and admins run
what-ifs (a supervisor within their region), every run is saved as the caller's, the report
comes back as JSON and CSV, refusals name the field, and an admin promotes a run's candidate
from the console, the release citing the run.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import timedelta, timezone
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlmodel import Session, col, func, select

from schemas.domain import Tier
from tests.fixtures.console import Clock, Console, page_csrf, signed_in
from tests.utils.api_helpers import asgi_client, make_users
from tierflow import policy_store
from tierflow.db.models import ServiceRequest, SlaPolicyRelease, WhatIfRun
from tierflow_dev.whatif_traffic import Trail, recorded_trail, scaled_policy

V1 = "/api/v1/whatif"
COUNT = 30
SEED = 2027


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def trail(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Trail]:
    async with recorded_trail(tmp_path_factory.mktemp("whatif-api"), COUNT, SEED) as found:
        yield found


@pytest.fixture(scope="module")
def site(trail: Trail) -> Console:
    """The test users on the recorded read model, the apps' clock at the recording's end."""
    clock = Clock()
    clock.now = trail.horizon
    return Console(trail.engine, make_users(trail.engine), clock, trail.url)


def in_region(trail: Trail, prefix: str, tiers: tuple[Tier, ...] = tuple(Tier)) -> int:
    """Requests from the region held at ``tiers`` now."""
    with Session(trail.engine) as session:
        query = select(func.count()).where(
            col(ServiceRequest.division_code).startswith(prefix),
            col(ServiceRequest.tier).in_(tiers),
        )
        return int(session.exec(query).one())


def halved_upload(version: str) -> dict[str, Any]:
    text = scaled_policy(version, 0.5).encode()
    return {"policy": (f"{version}.toml", text, "application/toml")}


async def refused(response: httpx.Response, field: str) -> dict[str, Any]:
    assert response.status_code == 422, response.text
    [item] = response.json()["detail"]
    assert item["field"] == field, item
    return dict(item)


async def test_a_supervisor_uploads_a_candidate_and_reads_the_run_back(
    trail: Trail, site: Console
) -> None:
    async with asgi_client(site.app()) as client:
        auth = site.users.auth("sup_prov")  # 浙江省: division prefix 33
        done = await client.post(V1, headers=auth, files=halved_upload("halved-prov"))
        assert done.status_code == 201, done.text
        run = done.json()
        assert run["run_by"] == site.users.ids["sup_prov"]
        assert run["candidate_version"] == "halved-prov"
        assert run["division_prefix"] == "33"
        provincial = (Tier.COUNTY, Tier.MUNICIPAL, Tier.PROVINCIAL)
        assert run["requests"] == in_region(trail, "33", provincial) > 0
        report = run["report"]
        assert report["after"]["breaches"] > report["before"]["breaches"]
        assert run["changed"] == len(report["changed"]) > 0
        assert all(c["request_id"] for c in report["changed"])

        listed = (await client.get(V1, headers=auth)).json()["runs"]
        assert listed[0]["run_id"] == run["run_id"]
        again = await client.get(f"{V1}/{run['run_id']}", headers=auth)
        assert again.status_code == 200
        assert again.json()["report"] == report

        figures = await client.get(f"{V1}/{run['run_id']}.csv", headers=auth)
        assert figures.status_code == 200
        assert figures.headers["content-type"].startswith("text/csv")
        lines = figures.text.splitlines()
        assert lines[0] == "\ufeffdimension,group,measure,before,after,change"
        assert any(line.startswith("total,all,breaches,") for line in lines)
        changed = await client.get(f"{V1}/{run['run_id']}/changed.csv", headers=auth)
        assert changed.status_code == 200
        assert len(changed.text.splitlines()) > run["changed"]  # a row per changed field

    with Session(trail.engine) as session:
        saved = session.get(WhatIfRun, run["run_id"])
        assert saved is not None and saved.run_by == site.users.ids["sup_prov"]


def recorded_2x(site: Console) -> str:
    """A recorded candidate version, whichever test of the file runs first."""
    if policy_store.load_version(site.engine, "recorded-2x") is None:
        policy_store.add_policy(
            site.engine, scaled_policy("recorded-2x", 2.0), added_by="test", configured=None
        )
    return "recorded-2x"


async def test_a_supervisors_run_covers_their_tier_and_below_as_their_reads_do(
    trail: Trail, site: Console
) -> None:
    """A request of the city's counties escalated to the province is the province's: the
    city's supervisor neither reads it nor simulates it, nor reads the province's run of the
    city, which holds it."""
    with Session(trail.engine) as session:
        row = session.exec(
            select(ServiceRequest).where(col(ServiceRequest.division_code).startswith("3301"))
        ).first()
        assert row is not None
        held, row.tier = row.tier, Tier.PROVINCIAL
        session.add(row)
        session.commit()
        escalated = row.request_id
    try:
        async with asgi_client(site.app()) as client:
            city = site.users.auth("sup_city")
            assert (
                await client.get(f"/api/v1/requests/{escalated}", headers=city)
            ).status_code == 404
            done = await client.post(V1, headers=city, files=halved_upload("halved-city"))
            assert done.status_code == 201, done.text
            run = done.json()
            below = (Tier.COUNTY, Tier.MUNICIPAL)
            assert run["requests"] == in_region(trail, "3301", below) < in_region(trail, "3301")
            assert escalated not in json.dumps(run["report"])
            # the run says what it left out, and its page too
            above = in_region(trail, "3301") - run["requests"]
            assert run["scope"]["held_above"] == above >= 1
            # the instant its data stood for (the API's clock): the run can be made again
            assert run["scope"]["as_of"] == run["report"]["as_of"] is not None
            province = site.users.auth("sup_prov")
            body = {"version": recorded_2x(site), "division_prefix": "3301"}
            of_city = (await client.post(V1, headers=province, json=body)).json()
            assert of_city["requests"] == in_region(trail, "3301", below + (Tier.PROVINCIAL,))
            listed = [r["run_id"] for r in (await client.get(V1, headers=city)).json()["runs"]]
            assert run["run_id"] in listed and of_city["run_id"] not in listed
            assert (await client.get(f"{V1}/{of_city['run_id']}", headers=city)).status_code == 404
            assert (
                await client.get(f"{V1}/{of_city['run_id']}", headers=province)
            ).status_code == 200
        async with signed_in(site, "sup_city") as console:
            page = (await console.get(f"/console/whatif/{run['run_id']}")).text
        assert 'id="held-above"' in page and f"有 {above} 件工单已上报、现由上级办理" in page
        assert "现由县级、市级办理" in page
        assert "<dt>数据截至</dt>" in page and 'class="as-of"' in page
    finally:
        with Session(trail.engine) as session:
            row = session.get(ServiceRequest, escalated)
            assert row is not None
            row.tier = held
            session.add(row)
            session.commit()


async def test_an_admin_tries_a_recorded_version_over_a_period(trail: Trail, site: Console) -> None:
    recorded_2x(site)
    with Session(trail.engine) as session:
        first = session.exec(select(func.min(ServiceRequest.submitted_at))).one()
    async with asgi_client(site.app()) as client:
        body = {
            "version": "recorded-2x",
            "since": first.isoformat(),
            "until": (first + timedelta(days=365)).isoformat(),
        }
        done = await client.post(V1, headers=site.users.auth("admin"), json=body)
        assert done.status_code == 201, done.text
        run = done.json()
        assert run["requests"] == COUNT
        assert run["division_prefix"] is None
        assert run["candidate_version"] == "recorded-2x"
        assert run["report"]["before"]["requests"] == COUNT

        # a city supervisor elsewhere neither lists nor reads a fleet-wide run
        other = site.users.auth("sup_other")
        assert run["run_id"] not in [
            r["run_id"] for r in (await client.get(V1, headers=other)).json()["runs"]
        ]
        assert (await client.get(f"{V1}/{run['run_id']}", headers=other)).status_code == 404
        assert (await client.get(f"{V1}/{run['run_id']}.csv", headers=other)).status_code == 404


async def test_refusals_name_the_field(trail: Trail, site: Console) -> None:
    recorded_2x(site)
    async with asgi_client(site.app()) as client:
        admin = site.users.auth("admin")
        bad = {"policy": ("bad.toml", b"version = \n", "application/toml")}
        item = await refused(await client.post(V1, headers=admin, files=bad), "policy")
        assert item["msg"].startswith("policy: candidate policy: invalid TOML: ")
        assert item["text"].startswith("时限规则：候选策略：不是有效的 TOML：")  # the parser's own
        # a policy that parses but does not validate: each problem in the reader's words
        lines = scaled_policy("lacking").splitlines()
        lacking = "\n".join(line for line in lines if not line.startswith("version"))
        incomplete = {"policy": ("lacking.toml", lacking.encode(), "application/toml")}
        item = await refused(await client.post(V1, headers=admin, files=incomplete), "policy")
        assert item["msg"] == "policy: candidate policy: version: is required"
        assert item["text"] == "时限规则：候选策略：version：为必填项"

        unknown = await client.post(V1, headers=admin, json={"version": "no-such-1"})
        item = await refused(unknown, "version")
        assert "no-such-1" in item["msg"] and "未" in item["text"]  # Chinese by default

        both = {"version": "recorded-2x", "policy": scaled_policy("x")}
        await refused(await client.post(V1, headers=admin, json=both), "policy")

        backwards = {
            "version": "recorded-2x",
            "since": "2026-12-02T00:00:00+08:00",
            "until": "2026-12-01T00:00:00+08:00",
        }
        await refused(await client.post(V1, headers=admin, json=backwards), "until")

        missing = await client.get(V1 + "/wi-no-such-run", headers=admin)
        assert missing.status_code == 404
        assert missing.json()["reason"]["message"] == "no what-if run %(run)s"  # for the CLI

        nested = "[" * 2000 + "]" * 2000  # deeper than Python's parser goes: not a 500
        deep = await client.post(
            V1, headers=admin | {"Content-Type": "application/json"}, content=nested
        )
        await refused(deep, "body")

        naive = {"version": "recorded-2x", "since": "2026-12-02T00:00:00"}
        await refused(await client.post(V1, headers=admin, json=naive), "since")

        calendar = {"version": "recorded-2x", "calendar": '{"version": "c"}'}
        item = await refused(await client.post(V1, headers=admin, json=calendar), "calendar")
        english = {"Accept-Language": "en", **site.users.auth("sup_city")}
        outside = {"version": "recorded-2x", "division_prefix": "3302"}
        item = await refused(
            await client.post(V1, headers=english, json=outside), "division_prefix"
        )
        assert item["text"] == item["msg"] == "division_prefix: 3302 is outside your region (3301)"

        caseworker = await client.post(V1, headers=site.users.auth("cw_own"), json=outside)
        assert caseworker.status_code == 403
        # refused before its body is read: not parsed (422) for someone who may not ask
        bulky = await client.post(V1, headers=site.users.auth("cw_own"), content=b"[" * 1_000_000)
        assert bulky.status_code == 403, bulky.text
        assert (await client.get(V1, headers=site.users.auth("cw_own"))).status_code == 403
        assert (await client.get(V1, headers=site.users.auth("sys_portal"))).status_code == 403

    async with asgi_client(site.app(whatif_max_requests=3)) as client:
        many = await client.post(V1, headers=admin, json={"version": "recorded-2x"})
        item = await refused(many, "scope")
        assert f"cover {COUNT} requests" in item["msg"] and "tierflow whatif" in item["msg"]
        assert "tierflow whatif" in item["text"]


async def test_an_admin_runs_and_promotes_from_the_console(trail: Trail, site: Console) -> None:
    async with signed_in(site, "admin") as client:
        page = await client.get("/console/whatif")
        assert page.status_code == 200
        assert 'href="/console/whatif"' in page.text  # in the navigation
        csrf = await page_csrf(client)
        form = {"csrf_token": csrf, "source": "file", "priorities": ["urgent", "high", "normal"]}
        text = scaled_policy("halved-console", 0.5).encode()
        files = {"policy": ("halved.toml", text, "application/toml")}
        done = await client.post("/console/whatif", data=form, files=files)
        assert done.status_code == 303, done.text
        run_url = done.headers["location"]
        run_id = run_url.rsplit("/", 1)[1]
        shown = await client.get(run_url)
        assert shown.status_code == 200
        assert "halved-console" in shown.text
        assert shown.text.count("chart whatif-chart") == 4
        changed = re.findall(r'href="/console/requests/([^"]+)"', shown.text)
        assert changed, "no changed request linked"
        for name in ("json", "csv"):
            download = await client.get(f"/console/whatif/{run_id}.{name}")
            assert download.status_code == 200
        assert (await client.get(f"/console/whatif/{run_id}/changed.csv")).status_code == 200

        start = (site.clock.now + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
        form = {"csrf_token": csrf, "in_force_from": start, "note": "推演后上线"}
        promoted = await client.post(f"{run_url}/promote", data=form)
        assert promoted.status_code == 303, promoted.text
        assert "promoted=" in promoted.headers["location"]
        after = await client.get(promoted.headers["location"])
        assert "推演后上线" in after.text and 'role="status"' in after.text

    with Session(trail.engine) as session:
        release = session.exec(
            select(SlaPolicyRelease).where(SlaPolicyRelease.whatif_run_id == run_id)
        ).one()
    assert release.version == "halved-console"
    assert release.promoted_by == site.users.ids["admin"]


async def test_the_console_promotes_no_other_content_under_the_workers_version(
    trail: Trail, site: Console, tmp_path
) -> None:
    """A candidate named as the worker's own policy file but saying otherwise is refused at
    its promotion, as the API refuses it: requests pinned to that version keep their meaning
    (the file's version need not be recorded yet)."""
    own = tmp_path / "own.toml"
    own.write_text(scaled_policy("site-own", 1.0), "utf-8")
    async with signed_in(site, "admin", policy_file=own) as client:
        csrf = await page_csrf(client)
        form = {"csrf_token": csrf, "source": "file", "priorities": ["normal"]}
        text = scaled_policy("site-own", 0.5).encode()  # the file's version, other targets
        files = {"policy": ("same-name.toml", text, "application/toml")}
        done = await client.post("/console/whatif", data=form, files=files)
        assert done.status_code == 303, done.text
        # after any release another test of the module made (the order is checked first)
        start = (site.clock.now + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M")
        promote = {"csrf_token": csrf, "in_force_from": start, "note": "同名"}
        refused = await client.post(f"{done.headers['location']}/promote", data=promote)
    assert refused.status_code == 422, refused.text
    assert "site-own 已记录为其他内容" in refused.text
    assert policy_store.load_version(trail.engine, "site-own") is None


async def test_a_promotion_from_a_narrowed_run_records_no_candidate(
    trail: Trail, site: Console
) -> None:
    """A run over part of the network justifies no release: refused before the candidate is
    recorded, so no version is left behind."""
    async with signed_in(site, "admin") as client:
        csrf = await page_csrf(client)
        form = {
            "csrf_token": csrf,
            "source": "file",
            "priorities": ["urgent", "high", "normal"],
            "division_prefix": "33",
        }
        files = {"policy": ("part.toml", scaled_policy("halved-part", 0.5).encode(), "text/plain")}
        done = await client.post("/console/whatif", data=form, files=files)
        assert done.status_code == 303, done.text
        start = (site.clock.now + timedelta(days=60)).strftime("%Y-%m-%dT%H:%M")
        promote = {"csrf_token": csrf, "in_force_from": start, "note": "部分"}
        refused = await client.post(f"{done.headers['location']}/promote", data=promote)
    assert refused.status_code == 422, refused.text
    assert "只覆盖了部分工单" in refused.text
    assert policy_store.load_version(trail.engine, "halved-part") is None


async def test_a_promotion_refused_for_its_date_records_no_candidate(
    trail: Trail, site: Console
) -> None:
    """The start is checked before the candidate is recorded: a refused promotion leaves no
    version behind, and the refusal shows the time as the admin gave it (Beijing time)."""
    async with signed_in(site, "admin") as client:
        csrf = await page_csrf(client)
        form = {"csrf_token": csrf, "source": "file", "priorities": ["normal"]}
        files = {"policy": ("past.toml", scaled_policy("halved-past", 0.5).encode(), "text/plain")}
        done = await client.post("/console/whatif", data=form, files=files)
        assert done.status_code == 303, done.text
        past = site.clock.now - timedelta(days=1)
        start = past.astimezone(timezone(timedelta(hours=8))).strftime("%Y-%m-%dT%H:%M")
        promote = {"csrf_token": csrf, "in_force_from": start, "note": "昨天"}
        refused = await client.post(f"{done.headers['location']}/promote", data=promote)
    assert refused.status_code == 422, refused.text
    assert f"{start}:00+08:00" in refused.text
    assert policy_store.load_version(trail.engine, "halved-past") is None


async def test_the_console_refuses_a_period_it_cannot_read(site: Console) -> None:
    """A day it cannot read (a raw post; the browser's date field sends none) or a period
    that ends before it starts is refused naming the field: it ran over every request."""
    async with signed_in(site, "admin") as client:
        csrf = await page_csrf(client)
        for since, until, said in (
            ("2026-13-40", "", "起：2026-13-40 不是 2000-01-01 至 2099-12-31 之间的日期"),
            ("1999-12-31", "", "起：1999-12-31 不是"),
            ("2026-12-02", "2026-12-01", "起：2026-12-02 晚于止：2026-12-01"),
        ):
            form = {"csrf_token": csrf, "source": "version", "version": recorded_2x(site)}
            refused = await client.post(
                "/console/whatif", data={**form, "since": since, "until": until}
            )
            assert refused.status_code == 422, refused.text
            assert said in refused.text


async def test_a_supervisor_sees_the_page_but_no_promotion(site: Console) -> None:
    async with signed_in(site, "sup_prov") as client:
        runs = (await client.get("/console/whatif")).text
        run_id = re.findall(r'href="/console/whatif/(wi-[^"]+)"', runs)[0]
        shown = await client.get(f"/console/whatif/{run_id}")
        assert shown.status_code == 200
        assert "/promote" not in shown.text
        csrf = await page_csrf(client)
        start = (site.clock.now + timedelta(days=9)).strftime("%Y-%m-%dT%H:%M")
        refused = await client.post(
            f"/console/whatif/{run_id}/promote", data={"csrf_token": csrf, "in_force_from": start}
        )
        assert refused.status_code == 403
    async with signed_in(site, "cw_own") as client:
        assert 'href="/console/whatif"' not in (await client.get("/console/")).text
        assert (await client.get("/console/whatif")).status_code == 403
