"""How the API answers a Temporal error that reaches it: 503 and Retry-After when a later
attempt can pass, 502 otherwise; the status named, Temporal's own message left to the log."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from temporalio.service import RPCError, RPCStatusCode

from api.errors import TEMPORAL_NOT_NOW, on_temporal_error

SECRET = "workflow request-7 said something"


def _app(code: RPCStatusCode) -> FastAPI:
    app = FastAPI()
    app.add_exception_handler(RPCError, on_temporal_error)

    @app.get("/call")
    async def call() -> None:
        raise RPCError(SECRET, code, b"")

    return app


async def _answer(code: RPCStatusCode) -> httpx.Response:
    transport = httpx.ASGITransport(app=_app(code))
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        return await client.get("/call")


@pytest.mark.parametrize("code", sorted(TEMPORAL_NOT_NOW))
async def test_what_a_later_attempt_can_pass_answers_503(code: RPCStatusCode) -> None:
    answer = await _answer(code)
    assert answer.status_code == 503 and answer.headers["Retry-After"] == "5"
    assert code.name in answer.json()["detail"] and SECRET not in answer.text


@pytest.mark.parametrize("code", [RPCStatusCode.INTERNAL, RPCStatusCode.PERMISSION_DENIED])
async def test_anything_else_answers_502_naming_the_status(code: RPCStatusCode) -> None:
    answer = await _answer(code)
    assert answer.status_code == 502 and "Retry-After" not in answer.headers
    assert code.name in answer.json()["detail"] and SECRET not in answer.text
