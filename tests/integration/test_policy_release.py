"""On the real worker and API: an admin adds a candidate policy, promotes it from a date with
the what-if run that justified it, and new requests pin it from that date on, while a request
submitted before keeps the policy it pinned; a release dated later waits for its date. Only
the database joins the API and the worker (no restart, no shared file)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from prometheus_client import CollectorRegistry
from sqlmodel import Session

from schemas.lifecycle import RequestView
from tests.fixtures.console import Console, signed_in
from tests.utils.api_helpers import asgi_client
from tests.utils.eventually import eventually
from tests.utils.factories import make_request
from tests.utils.fast_policy import Targets, policy_text, policy_worker
from tests.utils.stack_helpers import start_request
from tierflow import policy_store
from tierflow.db.models import SlaPolicyVersion, WhatIfRun
from tierflow.metrics import WorkerMetrics
from tierflow.policy import parse_policy
from tierflow.policy_source import RecordedPolicy
from whatif.report import Report
from workflows.service_request import ServiceRequestWorkflow

V1 = "/api/v1"
FILE = Targets(response=3600, resolution=7200, version="file-1")  # the worker's policy file
CANDIDATE = Targets(response=1800, resolution=7200, version="2027.1")
LATER = Targets(response=900, resolution=7200, version="2027.2")


def save_run(console: Console, run_id: str, content: str, calendar: str | None = None) -> None:
    """A saved what-if run of the candidate (as the simulator saves one)."""
    version = parse_policy(content).version
    with Session(console.engine) as session:
        session.add(
            WhatIfRun(
                run_id=run_id,
                created_at=console.clock.now,
                run_by=console.users.ids["sup_prov"],
                candidate_version=version,
                candidate_content=content,
                candidate_calendar=calendar,
                requests=120,
                changed=7,
                report=json.dumps(Report(version, {}).as_dict(), default=str),
            )
        )
        session.commit()


async def test_the_console_offers_no_promotion_for_a_run_on_a_candidate_calendar(
    console: Console,
) -> None:
    candidate = policy_text(CANDIDATE)
    calendar = parse_policy(candidate).calendar_for(2027)
    save_run(console, "wi-own", candidate)
    save_run(console, "wi-calendar", candidate, calendar.model_dump_json())
    async with signed_in(console, "admin") as client:
        own = await client.get("/console/whatif/wi-own")
        tried = await client.get("/console/whatif/wi-calendar")
    assert own.status_code == tried.status_code == 200, (own.text, tried.text)
    assert "时限规则自带的日历" in own.text
    assert 'action="/console/whatif/wi-own/promote"' in own.text
    assert f"候选日历 {calendar.version}" in tried.text
    assert "不能作为发布时限规则的依据" in tried.text and "/promote" not in tried.text


async def post(client: httpx.AsyncClient, console: Console, path: str, **kw: Any) -> httpx.Response:
    headers = {**console.users.auth("admin"), **kw.pop("headers", {})}
    return await client.post(V1 + path, headers=headers, **kw)


async def pinned(handle: Any) -> tuple[str, float]:
    """The policy version a request pinned and its response target in seconds."""
    view: RequestView = await handle.query(ServiceRequestWorkflow.view)
    summary = view.summary
    assert summary.response_due_at is not None
    return summary.policy_version, (summary.response_due_at - summary.submitted_at).total_seconds()


async def test_a_promotion_reaches_new_requests_from_its_date(stack, console: Console) -> None:
    source = RecordedPolicy(console.engine, parse_policy(policy_text(FILE)), interval=0.05)
    metrics = WorkerMetrics(CollectorRegistry())
    try:
        async with (
            policy_worker(
                stack, FILE, metrics, "pol", engine=console.engine, policies=source
            ) as queue,
            asgi_client(console.app()) as client,
        ):
            before = await start_request(stack, make_request(), queue)
            assert (await pinned(before))[0] == "file-1"

            candidate = policy_text(CANDIDATE)
            added = await post(
                client,
                console,
                "/policies",
                content=candidate,
                headers={"Content-Type": "application/toml"},
            )
            assert added.status_code == 201, added.text
            assert added.json() == {"version": "2027.1", "new": True}
            upload = {"file": ("2027.2.toml", policy_text(LATER).encode(), "application/toml")}
            assert (await post(client, console, "/policies", files=upload)).status_code == 201
            save_run(console, "wi-2027-1", candidate)

            console.clock.now = datetime.now(UTC)  # the API's clock: the worker's is real time
            start = console.clock.now
            body = {"in_force_from": start.isoformat(), "whatif_run_id": "wi-2027-1"}
            done = await post(client, console, "/policies/2027.1/promote", json=body)
            assert done.status_code == 201, done.text
            release = done.json()
            assert release["promoted_by"] == console.users.ids["admin"]
            assert release["whatif_run_id"] == "wi-2027-1"
            later = {"in_force_from": (start + timedelta(days=30)).isoformat(), "note": "第二步"}
            # a misspelt field is named, not dropped (a release cannot be undone)
            misspelt = later | {"whatif_run": "wi-2027-1"}
            refused = await post(client, console, "/policies/2027.2/promote", json=misspelt)
            assert refused.status_code == 422 and "whatif_run" in refused.text
            assert (
                await post(client, console, "/policies/2027.2/promote", json=later)
            ).status_code == 201

            await eventually(lambda: len(source.releases()) == 2, what="both releases seen")
            after = await start_request(stack, make_request(), queue)
            version, response = await pinned(after)
            assert version == "2027.1"  # in force from its date; 2027.2 waits for its own
            assert response < 3600

            kept_version, kept_response = await pinned(before)
            assert kept_version == "file-1" and kept_response >= 3600

            listed = await client.get(V1 + "/policies", headers=console.users.auth("admin"))
            assert listed.status_code == 200
            found = listed.json()
            assert found["in_force"] == {"version": "2027.1", "release_id": release["id"]}
            assert [r["version"] for r in found["releases"]] == ["2027.1", "2027.2"]
            assert found["releases"][1]["note"] == "第二步"
            assert found["unparsed_releases"] == []
            # a stricter check in a later tierflow: 2027.2's policy no longer parses
            with Session(console.engine) as session:
                stored = session.get(SlaPolicyVersion, "2027.2")
                assert stored is not None
                stored.content = stored.content.replace("warning_thresholds", "warning_levels")
                session.add(stored)
                session.commit()
            policy_store._PARSED._found.clear()  # as a process of the later tierflow starts
            listed = await client.get(V1 + "/policies", headers=console.users.auth("admin"))
            found = listed.json()
            assert [r["version"] for r in found["releases"]] == ["2027.1", "2027.2"]
            assert found["unparsed_releases"] == [found["releases"][1]["id"]]
    finally:
        source.close()
    assert not source.failed


async def test_only_admins_promote_and_refusals_name_the_field(console: Console) -> None:
    async with asgi_client(console.app()) as client:
        toml = {"Content-Type": "application/toml"}
        for who in ("sup_prov", "cw_own", "sys_portal"):
            headers = console.users.auth(who)
            assert (await client.get(V1 + "/policies", headers=headers)).status_code == 403
            refused = await client.post(V1 + "/policies", headers=headers | toml, content="x")
            assert refused.status_code == 403

        bad = policy_text(CANDIDATE).replace("response_hours = 0.5", "response_hours = 0")
        answer = await post(client, console, "/policies", content=bad, headers=toml)
        assert answer.status_code == 422
        [problem] = answer.json()["detail"]
        assert problem["field"] == "policy" and "must be > 0" in problem["msg"]
        assert problem["text"].startswith("时限规则：")  # Chinese unless asked otherwise

        body = {"in_force_from": (console.clock.now + timedelta(days=1)).isoformat()}
        answer = await post(
            client,
            console,
            "/policies/2099.9/promote",
            json=body,
            headers={"Accept-Language": "en-GB,en;q=0.9"},
        )
        assert answer.status_code == 422
        [problem] = answer.json()["detail"]
        assert problem["loc"] == ["path", "version"]
        assert problem["text"] == problem["msg"]  # English when asked
        assert "2099.9 is not recorded" in problem["msg"]

        await post(client, console, "/policies", content=policy_text(CANDIDATE), headers=toml)
        past = {"in_force_from": (console.clock.now - timedelta(days=1)).isoformat()}
        answer = await post(client, console, "/policies/2027.1/promote", json=past)
        assert answer.status_code == 422
        assert answer.json()["detail"][0]["field"] == "in_force_from"
        unknown_run = body | {"whatif_run_id": "wi-none"}
        answer = await post(client, console, "/policies/2027.1/promote", json=unknown_run)
        assert answer.status_code == 422
        [problem] = answer.json()["detail"]
        assert problem["field"] == "whatif_run_id" and "没有推演 wi-none" in problem["text"]
        naive = {"in_force_from": "2027-01-01T00:00:00"}
        answer = await post(client, console, "/policies/2027.1/promote", json=naive)
        assert answer.status_code == 422
