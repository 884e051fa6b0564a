"""An action whose answer does not come in time answers 503, and the same key brings its one
result.

An action's Update answers once the action's records are written and published. While the
Kafka broker does not answer (here: stopped with SIGSTOP, as a hung host would be), the
worker's publishing waits and retries, so the answer waits too; the API waits
``TIERFLOW_API_ACTION_WAIT_SECONDS`` at most, then answers 503 naming the Idempotency-Key to
repeat, and the console keeps that key in the form. Once the broker is back, repeating with
the same key gives the result, and the action is applied once. Real worker, dev server,
Kafka broker and a SQLite file of the test's own.
"""

from __future__ import annotations

import re
from pathlib import Path

import httpx
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine, text

from api.app import create_app
from tests.fixtures.console import CSRF, sign_in
from tests.fixtures.stack import Stack
from tests.utils.api_helpers import asgi_client, make_users
from tests.utils.eventually import eventually
from tests.utils.factories import make_request
from tests.utils.fast_policy import Targets, policy_worker
from tests.utils.stack_helpers import frozen, start_request
from tierflow.metrics import WorkerMetrics
from tierflow.settings import Settings

WAIT = 2.0  # seconds an action waits for its answer here


async def test_an_action_without_an_answer_in_time_answers_503_and_applies_once(
    stack: Stack, sqlite_url: str, sqlite_engine: Engine, tmp_path: Path
) -> None:
    users = make_users(sqlite_engine)
    settings = Settings(home=tmp_path, database_url=sqlite_url, api_action_wait_seconds=WAIT)
    app = create_app(settings, stack.client, sqlite_engine)
    metrics = WorkerMetrics(CollectorRegistry())
    req = make_request()
    path = f"/api/v1/requests/{req.request_id}/actions/comment"
    api_key, console_key = "pending-api-1", "console-pending-1"
    async with policy_worker(stack, Targets(), metrics, "pending", engine=sqlite_engine) as queue:
        await start_request(stack, req, task_queue=queue)
        headers = users.auth("cw_own") | {"Idempotency-Key": api_key}
        async with asgi_client(app) as client:
            assert (await sign_in(client, users.tokens["cw_own"])).status_code == 303
            case = await client.get(f"/console/requests/{req.request_id}")
            match = CSRF.search(case.text)
            assert case.status_code == 200 and match, case.text
            form = {"csrf_token": match[1], "idempotency_key": console_key, "text": "请补充材料"}
            with frozen(stack.kafka.pid()):
                waited = await client.post(path, json={"text": "还在办理吗？"}, headers=headers)
                page = await client.post(
                    f"/console/requests/{req.request_id}/actions/comment", data=form
                )

            async def answered() -> httpx.Response | None:
                again = await client.post(path, json={"text": "还在办理吗？"}, headers=headers)
                return again if again.status_code == 200 else None

            done = await eventually(answered, timeout=60, what="the action's result")
            sent_again = await client.post(
                f"/console/requests/{req.request_id}/actions/comment", data=form
            )
        keys = await eventually(
            lambda: _comment_keys(sqlite_engine, req.request_id, 2),
            timeout=30,
            what="both comments in the audit trail",
        )
    assert waited.status_code == 503, waited.text
    assert waited.headers["Retry-After"] == "5" and waited.headers["Idempotency-Key"] == api_key
    detail = waited.json()["detail"]
    assert f"no answer after {WAIT:g} s" in detail and repr(api_key) in detail
    assert page.status_code == 503 and "暂未得到结果：该操作可能仍会生效" in page.text
    kept = re.findall(r'name="idempotency_key" value="([^"]+)"', page.text)
    assert console_key in kept, "the console's form lost the action's key"
    assert done.json()["event_ids"] and sent_again.status_code == 303, sent_again.text
    assert sorted(keys) == sorted([api_key, console_key])  # each applied once


async def _comment_keys(engine: Engine, request_id: str, count: int) -> list[str] | None:
    """The action ids of the request's comments in the audit trail, once ``count`` are there."""
    query = text(
        "SELECT action_id FROM transition WHERE request_id = :id AND event_type = 'commented'"
    )
    with engine.connect() as conn:
        keys = [row.action_id for row in conn.execute(query, {"id": request_id})]
    return keys if len(keys) >= count else None
