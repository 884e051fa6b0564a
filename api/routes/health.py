"""Unauthenticated operational endpoints: /healthz and /metrics (kept out of the OpenAPI doc)."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool

from api.deps import ApiContext, Ctx

router = APIRouter(include_in_schema=False)


def _db_ok(ctx: ApiContext) -> None:
    with ctx.engine.connect() as conn:
        conn.execute(text("SELECT 1"))


@router.get("/healthz")
async def healthz(ctx: Ctx) -> JSONResponse:
    """Answer 200 when Temporal is connected and the database answers, else 503.

    Unauthenticated, so a failure is named by its error type only, never its text.
    """
    checks: dict[str, str] = {}
    try:
        if ctx.client is None:
            raise RuntimeError("not connected yet")
        await ctx.client.service_client.check_health(timeout=timedelta(seconds=3))
        checks["temporal"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means "not healthy"
        checks["temporal"] = f"error: {type(exc).__name__}"  # no text: it may name hosts
    try:
        await run_in_threadpool(_db_ok, ctx)
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means "not healthy"
        checks["database"] = f"error: {type(exc).__name__}"
    ok = all(v == "ok" for v in checks.values())
    return JSONResponse({"status": "ok" if ok else "unhealthy", **checks}, 200 if ok else 503)


@router.get("/metrics")
def metrics(ctx: Ctx) -> Response:
    return Response(generate_latest(ctx.registry), media_type=CONTENT_TYPE_LATEST)
