"""Inputs bounded at the edge, on the real stack: the API answers 422 naming the field and the
ingress dead-letters the same inputs as ``schema_invalid`` naming the field; neither starts a
workflow."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest_asyncio
from temporalio.service import RPCError

from api.app import create_app
from schemas.dlq import DLQ_MESSAGE, DLQ_OFFSET, DLQ_REASON
from schemas.events import SUBMIT, command_event
from tests.integration.test_ingress import _committed, _ingress, _read_topic, _send, running
from tests.utils.api_helpers import Users, asgi_client, make_users, request_body
from tests.utils.factories import make_request
from tierflow.constants import workflow_id
from tierflow.kafka_io import header, make_producer

V1 = "/api/v1"


def _cases() -> list[tuple[str, dict[str, Any]]]:
    """(field, body) pairs: each body differs from a valid request in that one field."""
    later = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    changes: list[tuple[str, str, Any]] = [
        ("subject", "subject", "loan\x00request"),
        ("description", "description", "贷" * 10_001),  # 10,001 characters, 30,003 bytes
        ("submitted_at", "submitted_at", "2026-06-01T09:30:00"),  # no time zone
        ("submitted_at", "submitted_at", later),
        ("enterprise.division_code", "division_code", "３３０１０６"),
        ("enterprise.division_code", "division_code", "110199"),  # not in the division data
        ("enterprise.name", "name", "启明\x1b科技"),
        ("enterprise.contact_email", "contact_email", "w@example.com, x@example.org"),
        ("subject", "subject", "\u3000 "),  # white space only
    ]
    cases = []
    for field, key, value in changes:
        body = request_body(make_request())
        if field.startswith("enterprise."):
            body["enterprise"][key] = value
        else:
            body[key] = value
        cases.append((field, body))
    return cases


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def api(stack) -> AsyncIterator[tuple[Any, Users]]:
    app = create_app(stack.settings, stack.client, stack.engine)
    async with asgi_client(app) as client:
        yield client, make_users(stack.engine)


async def _never_started(stack, request_id: str) -> bool:
    try:
        await stack.client.get_workflow_handle(workflow_id(request_id)).describe()
    except RPCError:
        return True
    return False


async def test_the_api_refuses_bad_input_naming_the_field(api, stack) -> None:
    client, users = api
    for field, body in _cases():
        r = await client.post(V1 + "/requests", json=body, headers=users.auth("admin"))
        assert r.status_code == 422, (field, r.text)
        assert [e["field"] for e in r.json()["detail"]] == [field]
        assert await _never_started(stack, body["request_id"])
    good = request_body(make_request())
    good["enterprise"]["uscc"] = good["enterprise"]["uscc"].lower()  # normalised, accepted
    r = await client.post(V1 + "/requests", json=good, headers=users.auth("admin"))
    assert r.status_code == 202, r.text
    for county in ("440106", "510104"):  # Guangdong and Sichuan: in the national division data
        body = request_body(make_request())
        body["enterprise"]["division_code"] = county
        r = await client.post(V1 + "/requests", json=body, headers=users.auth("admin"))
        assert r.status_code == 202, (county, r.text)


async def test_an_action_with_a_nul_is_refused_by_the_api(api, stack) -> None:
    client, users = api
    body = request_body(make_request())
    r = await client.post(V1 + "/requests", json=body, headers=users.auth("admin"))
    assert r.status_code == 202
    rid = body["request_id"]
    r = await client.post(
        f"{V1}/requests/{rid}/actions/comment",
        json={"text": "hello\x00"},
        headers=users.auth("admin"),
    )
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "text", r.text
    r = await client.post(
        f"{V1}/requests/{rid}/actions/comment",
        json={"text": "评" * 10_001},  # 30,003 bytes
        headers=users.auth("admin"),
    )
    assert r.status_code == 422 and "limit 30000" in r.json()["detail"][0]["msg"], r.text
    r = await client.post(
        f"{V1}/requests/{rid}/actions/reassign",
        json={"text": "move", "institution_id": "zj-330105-sme\n"},
        headers=users.auth("admin"),
    )
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "institution_id", r.text


async def test_report_periods_need_a_time_zone(api) -> None:
    client, users = api
    naive = {"since": "2026-11-01T00:00:00", "until": "2026-11-30T00:00:00+08:00"}
    r = await client.get(V1 + "/reports/sla", params=naive, headers=users.auth("admin"))
    assert r.status_code == 422 and [e["field"] for e in r.json()["detail"]] == ["since"]
    aware = {"since": "2026-11-01T00:00:00Z", "until": "2026-11-30T00:00:00+08:00"}
    r = await client.get(V1 + "/reports/sla", params=aware, headers=users.auth("admin"))
    assert r.status_code == 200, r.text


async def test_the_ingress_dead_letters_bad_input_naming_the_field(stack, unique_topic) -> None:
    commands, dlq = unique_topic("edge-commands"), unique_topic("edge-dlq")
    cases = _cases()
    producer = make_producer(stack.bootstrap)
    try:
        for _, body in cases:
            value = command_event(SUBMIT, body, source="/tests/edge").to_json_bytes()
            _send(producer, commands, value, body["request_id"])
        comment = command_event(
            "comment",
            {"request_id": f"edge-{uuid.uuid4().hex[:8]}", "text": "nul\x00here"},
            source="/tests/edge",
        )
        _send(producer, commands, comment.to_json_bytes(), None)
    finally:
        producer.close(timeout=5)
    ingress = _ingress(stack, commands, dlq)
    async with running(ingress):
        await _committed(ingress, len(cases) + 1)
    parked = await asyncio.to_thread(_read_topic, stack.bootstrap, dlq, len(cases) + 1)
    parked.sort(key=lambda m: int(header(m, DLQ_OFFSET) or -1))  # lanes run concurrently
    assert [header(m, DLQ_REASON) for m in parked] == ["schema_invalid"] * (len(cases) + 1)
    messages = [header(m, DLQ_MESSAGE) or "" for m in parked]
    for (field, body), message in zip(cases, messages, strict=False):
        assert message.startswith(f"data.{field}: "), message
        assert await _never_started(stack, body["request_id"])
    assert messages[-1].startswith("data.text: ") and "U+0000" in messages[-1]
