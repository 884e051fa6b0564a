"""The HTTP API on the real stack: every caseworker action, error codes, idempotency, reports."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance
from sqlmodel import Session
from temporalio.client import Client, RetryConfig, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from api import lookup
from api.app import create_app
from api.deps import ApiContext
from schemas.domain import Category, Priority
from schemas.lifecycle import RequestView, Wording
from tests.fixtures.console import page_csrf, sign_in
from tests.utils.api_helpers import Users, asgi_client, make_users, request_body, serve_in_thread
from tests.utils.factories import make_request
from tests.utils.stack_helpers import eventually, forget_workflow
from tierflow.auth_store import issue_token
from tierflow.codec import data_converter
from tierflow.constants import workflow_id
from tierflow.db import repository
from tierflow.i18n import translations
from tierflow.i18n.refusals import refusal_text
from tierflow_dev.devstack.procs import free_port
from tierflow_dev.devstack.temporal import TemporalDevServer

V1 = "/api/v1"


@dataclass
class Api:
    client: httpx.AsyncClient
    users: Users

    async def post(self, path: str, who: str, **kw: Any) -> httpx.Response:
        return await self.client.post(
            V1 + path, headers={**self.users.auth(who), **kw.pop("headers", {})}, **kw
        )

    async def get(self, path: str, who: str, **kw: Any) -> httpx.Response:
        return await self.client.get(V1 + path, headers=self.users.auth(who), **kw)

    async def act(self, rid: str, kind: str, who: str, **body: Any) -> httpx.Response:
        headers = {"Idempotency-Key": body.pop("key")} if "key" in body else {}
        return await self.post(f"/requests/{rid}/actions/{kind}", who, json=body, headers=headers)

    async def submit(self, req: Any, who: str = "admin") -> str:
        """Submit through the API and wait until the request is assigned and projected."""
        r = await self.post("/requests", who, json=request_body(req))
        assert r.status_code == 202, r.text
        rid = r.json()["request_id"]

        async def assigned() -> bool:
            d = await self.get(f"/requests/{rid}", "admin")
            row = d.json().get("request") if d.status_code == 200 else None
            return row is not None and row["state"] == "assigned"  # projected, not only queried

        await eventually(assigned, what=f"{rid} assigned")
        return rid


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def api(stack) -> AsyncIterator[Api]:
    app = create_app(stack.settings, stack.client, stack.engine)
    async with asgi_client(app) as client:
        yield Api(client, make_users(stack.engine))


async def test_caseworker_lifecycle_through_http(api: Api, stack) -> None:
    rid = await api.submit(make_request(), who="sys_portal")
    steps = [
        ("cw_own", "acknowledge", {}, "acknowledged"),
        ("cw_own", "start", {}, "in_progress"),
        ("cw_own", "comment", {"text": "visited the factory"}, "in_progress"),
        ("cw_own", "request_info", {"text": "send the audited accounts"}, "awaiting_enterprise"),
        ("sys_portal", "provide_info", {"text": "accounts attached"}, "in_progress"),
        ("cw_own", "resolve", {"text": "matched with a bank loan"}, "resolved"),
        ("cw_own", "reopen", {"text": "the bank withdrew"}, "in_progress"),
        ("cw_own", "resolve", {"text": "second bank approved"}, "resolved"),
    ]
    for who, kind, body, state in steps:
        r = await api.act(rid, kind, who, **body)
        assert r.status_code == 200, (kind, r.text)
        assert r.json()["state"] == state and r.json()["kind"] == kind

    detail = (await api.get(f"/requests/{rid}", "cw_own")).json()
    events = [e["event_type"] for e in detail["view"]["timeline"]]
    audit = [e["event_type"] for e in detail["timeline"]]  # the read model's full timeline
    assert audit[: len(events)] == events[: len(audit)] and audit[0] == "submitted"
    assert events[-3:] == ["resolved", "reopened", "resolved"]
    assert detail["request"]["state"] == "resolved"
    assert "reopen" in detail["allowed_actions"] and "rate" not in detail["allowed_actions"]

    # the actor comes from the token and lands in the audit trail
    with Session(stack.engine) as session:
        audit = repository.transitions(session, rid)
    assert audit[0].actor_id == api.users.ids["sys_portal"]
    ack = next(t for t in audit if t.event_type.value == "acknowledged")
    assert (ack.actor_id, ack.actor_role.value, ack.actor_institution_id) == (
        api.users.ids["cw_own"],
        "caseworker",
        "zj-330106-sme",
    )


async def test_scope_is_judged_on_the_read_model(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """An action, and a caller out of scope, send no query to the live workflow (each is a
    workflow task, and one beside another caller's update can be handed over out of order);
    a caller in scope reading the request gets the workflow's view."""
    rid = await api.submit(make_request())  # held by cw_own's unit
    queried: list[str] = []
    query_view = lookup.query_view

    async def spied(ctx: ApiContext, request_id: str) -> RequestView | None:
        queried.append(request_id)
        return await query_view(ctx, request_id)

    monkeypatch.setattr(lookup, "query_view", spied)
    assert (await api.get(f"/requests/{rid}", "cw_other")).status_code == 404
    assert (await api.act(rid, "comment", "cw_other", text="x")).status_code == 404
    signed = await api.act(rid, "sign_for", "cw_own")
    assert signed.status_code == 200 and signed.json()["state"] == "assigned", signed.text
    assert queried == []
    detail = await api.get(f"/requests/{rid}", "cw_own")
    assert detail.status_code == 200 and detail.json()["view"]["summary"]["signed_for_at"]
    assert queried == [rid]


async def test_escalate_hand_back_reassign_reject_follow_scope(api: Api) -> None:
    rid = await api.submit(make_request())
    r = await api.act(rid, "escalate", "cw_own", text="needs the city fund")
    assert r.status_code == 200 and r.json()["tier"] == "municipal", r.text
    assert r.json()["institution_id"] == "zj-330100-sme"
    # the county caseworker no longer holds it; the city caseworker and supervisor do, and
    # the county, which received it first, follows it read only (首问负责)
    followed = (await api.get(f"/requests/{rid}", "cw_own")).json()
    assert followed["received_first"] is True and followed["allowed_actions"] == []
    assert followed["view"]["summary"]["tier"] == "municipal"  # where it stands, live
    refused = await api.act(rid, "comment", "cw_own", text="企业来电询问进度")
    assert refused.status_code == 403 and "received request" in refused.text
    assert (await api.get(f"/requests/{rid}", "cw_city")).status_code == 200
    assert (await api.get(f"/requests/{rid}", "sup_city")).status_code == 200
    # 上报转入: the escalated filter lists it, and not a request never escalated
    calm = await api.submit(make_request())
    found = (await api.get("/requests", "sup_city", params={"escalated": "true"})).json()
    listed = {item["request_id"] for item in found["items"]}
    assert rid in listed and calm not in listed
    assert all(item["escalation_count"] > 0 for item in found["items"])

    r = await api.act(rid, "hand_back", "cw_city", text="county can handle it")
    assert r.status_code == 200 and r.json()["tier"] == "county", r.text
    # the directory is the judge of a reassignment's target (422 naming the field)
    for target, why in [
        ("zj-999999-sme", "is not in the directory"),
        ("zj-330100-sme", "is a municipal institution; the request is at the county tier"),
        ("js-320505-sme", "lies outside your region 3301"),
    ]:
        r = await api.act(rid, "reassign", "sup_city", text="x", institution_id=target)
        assert r.status_code == 422, r.text
        assert r.json()["detail"][0]["field"] == "institution_id" and why in r.text
    # a specialised centre takes only its categories: the financing centre, a talent request
    talent = await api.submit(make_request(category=Category.TALENT))
    r = await api.act(talent, "reassign", "sup_city", text="x", institution_id="zj-330110-fin")
    assert r.status_code == 422 and "zj-330110-fin does not serve talent" in r.text, r.text
    assert r.json()["detail"][0]["field"] == "institution_id"
    r = await api.act(
        rid, "reassign", "sup_city", text="neighbour county", institution_id="zj-330105-sme"
    )
    assert r.status_code == 200 and r.json()["institution_id"] == "zj-330105-sme", r.text
    assert (await api.get(f"/requests/{rid}", "cw_own")).json()["received_first"] is True
    # the city held it second and let it go: out of its sight
    assert (await api.get(f"/requests/{rid}", "cw_city")).status_code == 404
    r = await api.act(rid, "reject", "cw_other", text="out of scope")
    assert r.status_code == 200 and r.json()["state"] == "rejected", r.text
    # nothing more can happen to a finished request
    r = await api.act(rid, "comment", "cw_other", text="late note")
    assert r.status_code == 409, r.text

    report = (await api.get("/reports/escalations", "admin")).json()
    assert report["total"] >= 1
    assert any(
        row["from_tier"] == "county" and row["to_tier"] == "municipal" and row["cause"] == "manual"
        for row in report["rows"]
    )


async def test_a_retry_after_the_request_ended_brings_the_first_answer(api: Api, stack) -> None:
    """An action repeated with its Idempotency-Key after its run continued as new and the
    request ended (its first answer was lost on the way; Temporal keeps update ids per run)
    answers as it did, marked duplicate, from the audit trail; another actor's use of the key,
    or a new action, still hears that the request has finished."""
    rid = await api.submit(make_request())
    first = await api.act(rid, "comment", "cw_own", text="once", key="key-before-end-1")
    assert first.status_code == 200, first.text
    handle = stack.client.get_workflow_handle(workflow_id(rid))
    first_run = (await handle.describe()).run_id
    for n in range(60):  # the session's server suggests continue-as-new at 60 events
        if (await handle.describe()).run_id != first_run:
            break
        assert (await api.act(rid, "comment", "cw_own", text=f"note {n}")).status_code == 200
    assert (await handle.describe()).run_id != first_run
    assert (await api.act(rid, "reject", "cw_own", text="not ours")).status_code == 200

    async def completed() -> bool:
        return (await handle.describe()).status is WorkflowExecutionStatus.COMPLETED

    await eventually(completed, what=f"{rid} completed")
    again = await api.act(rid, "comment", "cw_own", text="once", key="key-before-end-1")
    assert again.status_code == 200, again.text
    assert again.json() == {**first.json(), "duplicate": True}
    for who, key, text in (
        ("cw_own", "key-after-end-1", "once"),  # a new action
        ("cw_mate", "key-before-end-1", "once"),  # the key, by another person
        ("cw_own", "key-before-end-1", "twice"),  # the key, for another action
    ):
        late = await api.act(rid, "comment", who, text=text, key=key)
        assert late.status_code == 409 and "has finished" in late.text, late.text


async def test_error_codes(api: Api, stack) -> None:
    rid = await api.submit(make_request())
    # 409: the action does not fit the state, with the workflow's reason
    r = await api.act(rid, "start", "cw_own")
    assert r.status_code == 409 and "cannot start a request in state assigned" in r.json()["detail"]
    reason = r.json()["reason"]  # the same reason as a catalog message, for other languages
    assert reason["message"].startswith("cannot %(kind)s a request in state %(state)s")
    assert (reason["values"]["kind"], reason["values"]["state"]) == ("start", "assigned")
    # 422: bad input names the field and the reason
    body = request_body(make_request())
    body["enterprise"]["uscc"] = body["enterprise"]["uscc"][:-1] + (
        "0" if body["enterprise"]["uscc"][-1] != "0" else "1"
    )
    r = await api.post("/requests", "admin", json=body)
    assert r.status_code == 422
    err = r.json()["detail"][0]
    assert err["field"] == "enterprise.uscc" and "check character" in err["msg"]
    # ... and words it for a client to read in its reader's language (the CLI)
    assert err["reason"]["message"] == (
        "USCC check character at position 18 is %(got)r, expected %(expected)r"
    )
    # a field the request or action does not have is named, not silently dropped
    body = request_body(make_request())
    body["contact_phone"] = "13900000000"  # enterprise.contact_phone
    r = await api.post("/requests", "admin", json=body)
    assert r.status_code == 422
    assert r.json()["detail"] == [
        {
            "loc": ["body", "contact_phone"],
            "msg": "unknown field (misspelt?)",
            "type": "extra_forbidden",
            "field": "contact_phone",
            "reason": {"message": "unknown field (misspelt?)", "values": {}},
        }
    ]
    assert (await api.get(f"/requests/{body['request_id']}", "admin")).status_code == 404
    r = await api.act(rid, "comment", "cw_own", text="x", stages="intake")
    assert r.status_code == 422
    assert r.json()["detail"] == [
        {
            "loc": ["body", "stages"],
            "msg": "unknown field (misspelt?)",
            "type": "extra_forbidden",
            "field": "stages",
            "reason": {"message": "unknown field (misspelt?)", "values": {}},
        }
    ]
    r = await api.act(rid, "acknowledge", "cw_own")
    assert r.status_code == 200
    r = await api.act(rid, "resolve", "cw_own")
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "text"
    r = await api.act(rid, "fly", "cw_own")
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "kind"
    # 404: unknown ids, and requests out of scope look the same
    r = await api.get("/requests/no-such-request", "admin")
    assert r.status_code == 404
    assert r.json() == {
        "detail": "request 'no-such-request' not found",
        "reason": {"message": "request %(id)r not found", "values": {"id": "no-such-request"}},
        "text": "找不到工单 'no-such-request'（或不在您的办理范围内）",  # Chinese unless asked
    }
    r = await api.act("no-such-request", "comment", "admin", text="x")
    assert r.status_code == 404
    assert (await api.act(rid, "comment", "cw_other", text="x")).status_code == 404
    # 403: a kind the role lacks; a system client without the grant
    r = await api.act(rid, "reassign", "cw_own", text="x", institution_id="zj-330105-sme")
    assert r.status_code == 403 and "caseworker may not reassign" in r.json()["detail"]
    assert (await api.act(rid, "resolve", "sys_portal", text="x")).status_code == 403
    assert (
        await api.post("/requests", "sys_none", json=request_body(make_request()))
    ).status_code == 403
    # 401: no token, or a wrong one
    assert (await api.client.get(V1 + "/requests")).status_code == 401
    r = await api.client.get(V1 + "/requests", headers={"Authorization": "Bearer tf_wrong"})
    assert r.status_code == 401
    # 413: body over the limit (declared and streamed)
    big = {"text": "x" * 300_000}
    r = await api.act(rid, "comment", "cw_own", **big)
    assert r.status_code == 413

    async def chunks() -> Any:
        for _ in range(40):
            yield b"x" * 10_000

    r = await api.client.post(
        V1 + f"/requests/{rid}/actions/comment",
        headers={**api.users.auth("cw_own"), "Content-Type": "application/json"},
        content=chunks(),
    )
    assert r.status_code == 413
    # 429: a tiny bucket per token, with Retry-After
    tiny_bucket = {"api_actions_per_second": 0.01, "api_actions_burst": 2}
    tight = create_app(stack.settings.model_copy(update=tiny_bucket), stack.client, stack.engine)
    async with asgi_client(tight) as client:
        codes = []
        for _ in range(3):
            resp = await client.post(
                V1 + f"/requests/{rid}/actions/comment",
                headers=api.users.auth("cw_own"),
                json={"text": "rate"},
            )
            codes.append(resp.status_code)
        assert codes == [200, 200, 429]
        assert int(resp.headers["Retry-After"]) >= 1
        # another token has its own bucket
        resp = await client.post(
            V1 + f"/requests/{rid}/actions/comment",
            headers=api.users.auth("admin"),
            json={"text": "x"},
        )
        assert resp.status_code == 200


async def test_reads_of_a_request_are_rate_limited_per_token(api: Api, stack) -> None:
    """Each read of a request asks its workflow for the view (a whole replay once it ended):
    a token past its read bucket gets 429 with Retry-After, on the API and the console's case
    page; another token reads on, and lists (read model only) are not counted. A system
    client's token serves many people: its bucket is larger."""
    rid = await api.submit(make_request())
    tiny_bucket = {
        "api_reads_per_second": 0.01,
        "api_reads_burst": 2,
        "api_system_rate_factor": 3,
    }
    tight = create_app(stack.settings.model_copy(update=tiny_bucket), stack.client, stack.engine)
    async with asgi_client(tight) as client:
        reads = [
            await client.get(V1 + f"/requests/{rid}", headers=api.users.auth("cw_own"))
            for _ in range(3)
        ]
        assert [r.status_code for r in reads] == [200, 200, 429]
        assert int(reads[-1].headers["Retry-After"]) >= 1
        assert "rate limit for reads" in reads[-1].text
        listed = await client.get(V1 + "/requests", headers=api.users.auth("cw_own"))
        assert listed.status_code == 200
        other = await client.get(V1 + f"/requests/{rid}", headers=api.users.auth("cw_mate"))
        assert other.status_code == 200
        assert (await sign_in(client, api.users.tokens["cw_mate"])).status_code == 303
        # the console's session signed in with that token shares its bucket: one read left
        pages = [await client.get(f"/console/requests/{rid}") for _ in range(2)]
        assert [p.status_code for p in pages] == [200, 429]
        assert "读取过于频繁" in pages[-1].text
        # a system client's token (a portal reading for many enterprises) has factor times
        # the bucket: 3 x 2 reads here
        portal = [
            await client.get(V1 + f"/requests/{rid}", headers=api.users.auth("sys_portal"))
            for _ in range(7)
        ]
        assert [r.status_code for r in portal] == [200] * 6 + [429]


def _from(app: Any, address: str) -> httpx.AsyncClient:
    """A client of ``app`` calling from ``address``."""
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://api")


async def test_an_address_sending_refused_tokens_is_locked_out(api: Api, stack) -> None:
    """登录失败处理: past the refused tokens allowed per window, an address's refused tokens
    are answered 429, in the API and at the console's sign-in (no audit record each); a good
    token from it is answered as ever (others behind the same NAT are not locked out), and
    another address is not locked out. Expired and revoked tokens count."""
    strict = {"api_sign_in_failures": 3, "api_sign_in_failure_window_seconds": 600}
    app = create_app(stack.settings.model_copy(update=strict), stack.client, stack.engine)
    wrong = {"Authorization": "Bearer tf_guessed-wrong"}
    async with _from(app, "203.0.113.7") as guesser, _from(app, "198.51.100.2") as other:
        for _ in range(3):
            assert (await guesser.get(V1 + "/requests", headers=wrong)).status_code == 401
        locked = await guesser.get(V1 + "/requests", headers=wrong)
        assert locked.status_code == 429, locked.text
        assert 1 <= int(locked.headers["Retry-After"]) <= 600
        assert locked.json()["reason"]["message"] == (
            "too many refused tokens from this address; retry in %(seconds)d s"
        )
        assert (await guesser.get(V1 + "/requests", headers=api.users.auth("admin"))).is_success
        assert (await guesser.get(V1 + "/requests")).status_code == 401  # no token: no guess
        # the console's sign-in counts and refuses the same way, in the reader's words
        page = await sign_in(guesser, "tf_guessed-again")
        assert page.status_code == 429 and "此地址发送的无效令牌过多" in page.text
        assert (await sign_in(guesser, api.users.tokens["admin"])).status_code == 303
        # another address calls as before, and is locked out by its own refused sign-ins
        assert (await other.get(V1 + "/requests", headers=api.users.auth("admin"))).is_success
        for _ in range(3):
            assert (await sign_in(other, "tf_another-guess")).status_code == 401
        assert (await sign_in(other, "tf_another-guess")).status_code == 429
    yesterday = datetime.now(UTC) - timedelta(days=1)
    expired = issue_token(stack.engine, api.users.ids["admin"], timedelta(hours=1), yesterday)
    async with _from(app, "192.0.2.9") as script:
        for _ in range(3):  # an expired token says so, and counts
            r = await script.get(V1 + "/requests", headers={"Authorization": f"Bearer {expired}"})
            assert r.status_code == 401 and "expired" in r.json()["detail"]
        r = await script.get(V1 + "/requests", headers={"Authorization": f"Bearer {expired}"})
        assert r.status_code == 429
        assert (await script.get(V1 + "/requests", headers=api.users.auth("admin"))).is_success


async def test_a_query_parameter_the_route_lacks_is_refused_not_ignored(api: Api) -> None:
    # the answer's field is institution_id, the filter institution: ignored, it answered all
    r = await api.get("/requests", "admin", params={"institution_id": "zj-330105-sme"})
    assert r.status_code == 422
    assert r.json()["detail"] == [
        {
            "loc": ["query", "institution_id"],
            "msg": "unknown parameter (did you mean institution?)",
            "type": "value_error",
            "field": "institution_id",
            "reason": {
                "message": "unknown parameter (did you mean %(name)s?)",
                "values": {"name": "institution"},
            },
        }
    ]
    r = await api.get("/reports/sla", "admin", params={"from": "2026-03-02T00:00:00Z"})
    assert r.status_code == 422
    assert [(e["field"], e["msg"]) for e in r.json()["detail"]] == [
        ("from", "unknown parameter (misspelt?)")
    ]
    # every unknown one is named; declared ones, repeated or not, still filter
    r = await api.get("/requests.csv", "admin", params={"b": "1", "a": "2", "limit": "5"})
    assert [e["field"] for e in r.json()["detail"]] == ["a", "b"]
    r = await api.get("/requests", "admin", params={"state": ["assigned", "closed"], "limit": 5})
    assert r.status_code == 200
    assert (await api.get("/notifications", "admin", params={"unread_only": "true"})).is_success


async def test_idempotency_key_returns_the_first_answer(api: Api) -> None:
    rid = await api.submit(make_request())
    first = await api.act(rid, "comment", "cw_own", text="once", key="key-comment-1")
    again = await api.act(rid, "comment", "cw_own", text="once", key="key-comment-1")
    assert first.status_code == again.status_code == 200

    # The same answer comes back: from Temporal's update-id dedupe, or (when the server no
    # longer has the first update's outcome at hand) from the workflow's own action-id
    # dedupe, which marks it ``duplicate``; either way nothing is applied twice.
    def without_flag(body: dict) -> dict:
        return {k: v for k, v in body.items() if k != "duplicate"}

    assert without_flag(first.json()) == without_flag(again.json())
    assert first.json()["action_id"] == "key-comment-1" and len(first.json()["event_ids"]) == 1
    # the key reused for another action (other text; another kind) is refused
    for kind, text in (("comment", "twice"), ("acknowledge", None)):
        other = await api.act(rid, kind, "cw_own", text=text, key="key-comment-1")
        assert other.status_code == 409, other.text
        assert "'key-comment-1' was used on this request for another action" in other.text
    timeline = (await api.get(f"/requests/{rid}", "cw_own")).json()["view"]["timeline"]
    assert [e["event_type"] for e in timeline].count("commented") == 1
    assert "acknowledged" not in [e["event_type"] for e in timeline]


async def test_queue_is_ordered_by_sla_risk_filtered_and_paged(api: Api) -> None:
    ids = {}
    for priority in (Priority.LOW, Priority.URGENT, Priority.NORMAL):
        ids[priority] = await api.submit(make_request(division_code="330108", priority=priority))
    r = await api.get("/requests", "admin", params={"institution": "zj-330108-sme", "limit": 500})
    page = r.json()
    assert r.status_code == 200 and page["total"] >= 3
    got = [i["request_id"] for i in page["items"]]
    assert set(ids.values()) <= set(got)
    # breached first, then nearest deadline first; no running deadline (paused) last
    keys = [
        (i["sla_status"] != "breached", i["next_due_at"] is None, i["next_due_at"] or "")
        for i in page["items"]
    ]
    assert keys == sorted(keys)
    mine = [rid for rid in got if rid in ids.values()]
    assert mine[0] == ids[Priority.URGENT]  # its sign-for deadline is 15 minutes away
    # unsigned, normal and low both wait a working day to be signed for; their response
    # deadlines tell them apart
    due = {i["request_id"]: i["response_due_at"] for i in page["items"]}
    assert due[ids[Priority.NORMAL]] < due[ids[Priority.LOW]]
    # filters and paging
    urgent = (
        await api.get(
            "/requests", "admin", params={"institution": "zj-330108-sme", "priority": "urgent"}
        )
    ).json()
    assert ids[Priority.URGENT] in [i["request_id"] for i in urgent["items"]]
    assert all(i["priority"] == "urgent" for i in urgent["items"])
    second = (
        await api.get(
            "/requests", "admin", params={"institution": "zj-330108-sme", "limit": 1, "offset": 1}
        )
    ).json()
    assert (
        second["total"] == page["total"] and [i["request_id"] for i in second["items"]] == got[1:2]
    )
    # a caseworker of another institution sees none of them, whatever the filter says
    other = (await api.get("/requests", "cw_own", params={"institution": "zj-330108-sme"})).json()
    assert other["total"] == 0 and other["items"] == []
    assert "contact_phone" not in page["items"][0]


async def test_reports(api: Api) -> None:
    rid = await api.submit(make_request())
    r = await api.act(
        rid, "escalate", "cw_own", text="需市级协调", reason_code="needs_coordination"
    )
    assert r.status_code == 200, r.text
    escalations = (await api.get("/reports/escalations", "admin")).json()
    codes = {(row["cause"], row["reason_code"]) for row in escalations["rows"]}
    assert ("manual", "needs_coordination") in codes  # classified by code, not by text
    r = await api.act(rid, "escalate", "admin", text="x", reason_code="sla_breach")
    assert r.status_code == 422  # the engine's own code
    summary = (await api.get("/reports/summary", "admin")).json()
    assert summary["total"] >= 1 and summary["by_tier"].get("municipal", 0) >= 1  # escalated
    assert sum(summary["by_state"].values()) == summary["total"]
    scoped = (await api.get("/reports/summary", "sup_other")).json()
    assert scoped["total"] < summary["total"]  # nothing from Hangzhou in Ningbo's region
    assert (await api.get("/reports/summary", "cw_own")).status_code == 403
    sla = (await api.get("/reports/sla", "sup_prov")).json()
    row = next(r for r in sla["rows"] if r["institution_id"] == "zj-330106-sme")
    assert row["holds"] >= 1 and 0.0 <= row["attainment"] <= 1.0
    r = await api.get(
        "/reports/sla",
        "admin",
        params={"since": "2030-01-02T00:00:00Z", "until": "2030-01-01T00:00:00Z"},
    )
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "since"


async def test_health_metrics_and_openapi_need_no_token(api: Api) -> None:
    r = await api.client.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok", "temporal": "ok", "database": "ok"}
    await api.client.get(V1 + "/requests", headers=api.users.auth("admin"))
    metrics = (await api.client.get("/metrics")).text
    assert (
        'tierflow_api_requests_total{method="GET",route="/api/v1/requests",status="200"}' in metrics
    )
    # a made-up method is counted as OTHER: no caller adds label values without end
    for n in range(5):
        await api.client.request(f"ZZ{n:05d}", "/metrics")
    metrics = (await api.client.get("/metrics")).text
    methods = set(re.findall(r'tierflow_api_requests_total\{method="([^"]*)"', metrics))
    assert "OTHER" in methods and not any(m.startswith("ZZ") for m in methods), methods
    doc = (await api.client.get("/openapi.json")).json()
    assert "/api/v1/requests/{request_id}/actions/{kind}" in doc["paths"]
    assert (await api.client.get("/docs")).status_code == 200
    refs = set(re.findall(r'"\$ref": "([^"]+)"', json.dumps(doc)))
    components = {f"#/components/schemas/{name}" for name in doc["components"]["schemas"]}
    assert refs and refs <= components  # a code generator resolves every reference
    # a 422 item as the API answers it: the field named, its reason worded for translation
    item = doc["components"]["schemas"]["FieldErrorOut"]
    assert {"field", "reason"} <= set(item["properties"]) and "field" in item["required"]
    nested = doc["components"]["schemas"]["ReasonOut"]["properties"]["values"]
    assert {"$ref": "#/components/schemas/ReasonOut"} in nested["additionalProperties"]["anyOf"]
    unexplained = [  # a client's author reads what each query parameter does
        f"{method.upper()} {path} {param['name']}"
        for path, operations in doc["paths"].items()
        for method, operation in operations.items()
        for param in operation.get("parameters", [])
        if param["in"] == "query" and not param.get("description")
    ]
    assert unexplained == []


def _fuzz_openapi(url: str, token: str, max_examples: int) -> list[str]:
    """Run schemathesis over every operation; return the operations it exercised."""
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    checks = [not_a_server_error, response_schema_conformance]
    headers = {"Authorization": f"Bearer {token}"}
    seen = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(
            max_examples=max_examples,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any) -> None:
            response = case.call(headers=headers, timeout=30)
            case.validate_response(response, checks=checks, headers=headers)

        check()
        seen.append(operation.label)
    return seen


async def test_openapi_contract_with_schemathesis(stack, api: Api) -> None:
    """Generated requests never get a 5xx and every answer matches the published schema."""
    app = create_app(stack.settings, None, stack.engine)
    with serve_in_thread(app) as url:
        seen = await asyncio.to_thread(_fuzz_openapi, url, api.users.tokens["admin"], 30)
    doc = (await api.client.get("/openapi.json")).json()
    published = {f"{m.upper()} {path}" for path, ops in doc["paths"].items() for m in ops}
    assert set(seen) == published  # every operation was exercised


WAIT = {"wait": "true"}


async def test_a_submit_reusing_a_request_id_with_other_content_is_a_conflict(api: Api) -> None:
    req = make_request()
    rid = await api.submit(req)
    again = await api.post("/requests", "admin", json=request_body(req))
    assert again.status_code == 202  # a retry of the same submit: the same request
    assert again.json()["status"] == "duplicate"  # it changed nothing, and says so
    other = request_body(req.model_copy(update={"subject": "Something else entirely"}))
    r = await api.post("/requests", "admin", json=other)
    assert r.status_code == 409
    assert r.json()["detail"] == f"request_id: {rid!r} was submitted before with different content"
    reason = Wording.model_validate(r.json()["reason"])  # for the CLI and console, in Chinese
    zh = refusal_text(reason.as_said(), translations("zh-CN"))
    assert zh == f"request_id：{rid!r} 此前已以不同内容提交"
    assert r.json()["text"] == zh  # for a client that shows it as it is: Chinese by default
    english = {"Accept-Language": "en-US,en;q=0.9"}
    r = await api.post("/requests", "admin", json=other, headers=english)
    assert r.json()["text"] == r.json()["detail"]  # in the caller's language


async def test_a_submit_that_waits_says_where_the_request_went(api: Api) -> None:
    """A walk-in registered for an enterprise another county serves goes to that county's
    unit: the caller is told so; the unit that registered it follows it read only (首问负责)."""
    own = await api.post("/requests", "cw_own", json=request_body(make_request()), params=WAIT)
    assert own.status_code == 202, own.text
    assert own.json() | {"request_id": ""} == {
        "request_id": "",
        "workflow_id": workflow_id(own.json()["request_id"]),
        "status": "accepted",
        "tier": "county",
        "institution_id": "zj-330106-sme",
        "in_scope": True,
    }
    walk_in = request_body(make_request(division_code="330105"))  # 拱墅区's enterprise
    elsewhere = await api.post("/requests", "cw_own", json=walk_in, params=WAIT)
    assert elsewhere.status_code == 202, elsewhere.text
    went = elsewhere.json()
    assert (went["tier"], went["institution_id"], went["in_scope"]) == (
        "county",
        "zj-330105-sme",
        False,
    )
    followed = (await api.get(f"/requests/{went['request_id']}", "cw_own")).json()
    assert followed["received_first"] is True and followed["allowed_actions"] == []
    assert followed["request"]["contact_masked"] is True
    quick = await api.post("/requests", "cw_own", json=request_body(make_request()))
    assert quick.json()["tier"] is None and quick.json()["in_scope"] is None  # not asked to wait


async def test_a_request_id_past_temporals_retention_is_not_started_again(api: Api, stack) -> None:
    """Temporal forgets a workflow after retention; the read model does not: a submit reusing
    the id (a client's retry days later, a replayed command) starts no second request."""
    req = make_request()
    rid = await api.submit(req)
    await forget_workflow(stack, rid)
    r = await api.post("/requests", "admin", json=request_body(req))
    assert r.status_code == 409, r.text
    assert r.json()["detail"].startswith(f"request_id: {rid!r} belongs to a request that has")
    assert "retention" in r.json()["detail"]
    assert r.json()["reason"]["values"] == {"id": rid}
    with pytest.raises(RPCError) as err:  # nothing was started under the id
        await stack.client.get_workflow_handle(workflow_id(rid)).describe()
    assert err.value.status is RPCStatusCode.NOT_FOUND
    fresh = await api.post("/requests", "admin", json=request_body(make_request()))
    assert fresh.status_code == 202, fresh.text  # a new id is started as ever


async def test_an_ended_request_past_retention_is_shown_from_the_read_model(
    api: Api, stack
) -> None:
    """Temporal deletes an ended request's workflow once the namespace's retention passes;
    the read model keeps it. Its GET and its case page show the row and the full audit trail
    and say why the workflow's view is missing, instead of sending the reader to a Temporal
    UI that has nothing."""
    rid = await api.submit(make_request())
    assert (await api.act(rid, "acknowledge", "cw_own")).status_code == 200
    assert (await api.act(rid, "resolve", "cw_own", text="已对接银行")).status_code == 200
    done = await api.act(rid, "follow_up", "desk_city", outcome="satisfied")
    assert done.status_code == 200 and done.json()["state"] == "closed", done.text
    kept = (await api.get(f"/requests/{rid}", "cw_own")).json()
    assert kept["view"] is not None and kept["view_missing"] is None
    await forget_workflow(stack, rid)

    detail = (await api.get(f"/requests/{rid}", "cw_own")).json()
    assert detail["view"] is None and detail["view_missing"] == "forgotten"
    assert detail["request"]["state"] == "closed" and detail["allowed_actions"] == []
    trail = [e["event_type"] for e in detail["timeline"]]
    assert trail[0] == "submitted" and "resolved" in trail and trail[-1] == "closed", trail
    (hold,) = detail["holds"]  # its stay at the county, from the read model
    assert (hold["tier"], hold["institution_id"], hold["left_by"]) == (
        "county",
        "zj-330106-sme",
        "resolved",
    )

    async with asgi_client(create_app(stack.settings, stack.client, stack.engine)) as client:
        assert (await sign_in(client, api.users.tokens["cw_own"])).status_code == 303
        page = await client.get(f"/console/requests/{rid}")
    assert page.status_code == 200, page.text
    assert "此工单的流程已不再保存（工单结束后超过保留期即删除）" in page.text
    assert page.text.count('<li class="ev ev-') == len(trail)  # the audit trail, every entry
    assert page.text.count('<li class="bar-row bar-county">') == 1  # its stay, as a bar
    assert "以上各层级办理情况取自留存的数据" in page.text
    assert "<dd>杭州市西湖区（330106）</dd>" in page.text  # the division by name, then its code
    assert "流程正在派单" not in page.text  # not "still routing"
    assert "在 Temporal 界面中打开流程" not in page.text  # nothing there to open


async def test_a_console_escalation_carries_the_reason_chosen(api: Api, stack) -> None:
    """The console's 提级 form offers the people's reasons (not the engine's breach), and the
    one chosen reaches the escalation report: every console escalation counted as "other"."""
    rid = await api.submit(make_request())
    async with asgi_client(create_app(stack.settings, stack.client, stack.engine)) as client:
        assert (await sign_in(client, api.users.tokens["cw_own"])).status_code == 303
        page = await client.get(f"/console/requests/{rid}")
        form = page.text[page.text.index('id="er-escalate"') :].split("</select>")[0]
        assert 'value="complex_case"' in form and "疑难复杂" in form
        assert 'value="sla_breach"' not in form  # the engine's own
        assert '<option value="" disabled selected>请选择…</option>' in form  # none by default
        assert "前申请退单" in page.text  # its unit is told until when it may return it
        csrf = await page_csrf(client)
        done = await client.post(
            f"/console/requests/{rid}/actions/escalate",
            data={
                "csrf_token": csrf,
                "idempotency_key": f"console-{rid}",
                "text": "涉及跨部门协调，需市级统筹",
                "reason_code": "complex_case",
            },
        )
    assert done.status_code == 303, done.text
    escalations = (await api.get("/reports/escalations", "admin")).json()
    codes = {(row["cause"], row["reason_code"]) for row in escalations["rows"]}
    assert ("manual", "complex_case") in codes


async def test_a_request_is_read_from_the_read_model_while_temporal_cannot_answer(
    api: Api, stack, tmp_path: Path
) -> None:
    """A Temporal outage does not take the requests' pages with it: a request the read model
    holds is read with its row and full audit trail, says why its view is missing and offers
    no action; an action answers 503 (retry later), as before."""
    rid = await api.submit(make_request())
    assert (await api.act(rid, "acknowledge", "cw_own")).status_code == 200
    server = TemporalDevServer(tmp_path / "temporal", port=free_port(), headless=True)
    server.start(timeout=60)
    try:
        # the SDK retries an unreachable server for 10 s by default: a shorter window here
        briefly = RetryConfig(max_elapsed_time_millis=500, max_retries=2)
        client = await Client.connect(
            server.address,
            namespace=server.namespace,
            data_converter=data_converter(stack.settings),
            retry_config=briefly,
        )
    finally:
        server.stop()  # the API's Temporal is gone from now on
    users = api.users
    settings = stack.settings.model_copy(update={"api_view_wait_seconds": 1})
    async with asgi_client(create_app(settings, client, stack.engine)) as http:
        read = await http.get(f"{V1}/requests/{rid}", headers=users.auth("cw_own"))
        acted = await http.post(
            f"{V1}/requests/{rid}/actions/comment", json={"text": "x"}, headers=users.auth("cw_own")
        )
        assert (await sign_in(http, users.tokens["cw_own"])).status_code == 303
        page = await http.get(f"/console/requests/{rid}")
    assert read.status_code == 200, read.text
    detail = read.json()
    assert detail["view"] is None and detail["view_missing"] == "unavailable"
    assert detail["request"]["state"] == "acknowledged" and detail["allowed_actions"] == []
    assert [e["event_type"] for e in detail["timeline"]][-1] == "acknowledged"
    assert acted.status_code == 503 and acted.headers["Retry-After"] == "5", acted.text
    assert page.status_code == 200, page.text
    assert "流程引擎暂时无法应答此工单" in page.text
    assert page.text.count('<li class="ev ev-') == len(detail["timeline"])


async def test_institutions_name_the_units_requests_route_to(api: Api) -> None:
    """Any signed-in caller reads the directory in force: a unit's name for its id, the units
    of a region or tier, or those whose name holds a word."""
    r = await api.get("/institutions", "cw_own", params=[("id", "zj-330106-sme"), ("id", "x-1")])
    assert r.status_code == 200
    [unit] = r.json()["items"]  # an id the directory lacks has no row
    assert (unit["id"], unit["name"], unit["tier"]) == (
        "zj-330106-sme",
        "杭州市西湖区中小企业服务中心",
        "county",
    )
    assert r.json()["total"] == 1
    r = await api.get("/institutions", "sys_portal", params={"region": "330100", "tier": "county"})
    counties = r.json()["items"]
    assert counties and all(u["division_code"].startswith("3301") for u in counties)
    assert {u["tier"] for u in counties} == {"county"}
    assert r.json()["total"] == len(counties)
    r = await api.get("/institutions", "sup_prov", params={"search": "西湖区", "limit": 1})
    assert [u["id"] for u in r.json()["items"]] == ["zj-330106-sme"]
    r = await api.get("/institutions", "admin", params={"search": "zj-3301", "limit": 500})
    assert r.json()["items"] and all(u["id"].startswith("zj-3301") for u in r.json()["items"])
    assert (await api.get("/institutions/zj-330100-sme", "cw_own")).json()["tier"] == "municipal"

    r = await api.get("/institutions/zj-999999-sme", "cw_own")
    assert r.status_code == 404
    assert r.json()["reason"]["message"] == "institution %(id)r is not in the directory"
    r = await api.get("/institutions", "cw_own", params={"region": "99", "tier": "town"})
    assert r.status_code == 422
    fields = {item["field"]: item for item in r.json()["detail"]}
    assert set(fields) == {"region", "tier"} and "6 digits" in fields["region"]["msg"]
    assert fields["region"]["reason"]["message"].startswith("division code must be 6 digits")
    many = [("id", f"zj-{n}") for n in range(201)]
    r = await api.get("/institutions", "cw_own", params=many)
    assert r.status_code == 422 and "at most 200 ids" in r.json()["detail"][0]["msg"]
    assert (await api.client.get(V1 + "/institutions")).status_code == 401
