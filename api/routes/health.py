"""Unauthenticated operational endpoints: /healthz and /metrics (kept out of the OpenAPI doc)."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool

from api.deps import ApiContext, Ctx
from tierflow.db.schema_head import behind, revision_of

router = APIRouter(include_in_schema=False)


class SchemaBehind(RuntimeError):
    """The read model predates this release's schema: ``tierflow db upgrade`` was not run."""


def _db_ok(ctx: ApiContext) -> None:
    revision = revision_of(ctx.engine)
    if behind(revision):  # its reads would fail on columns the release added
        raise SchemaBehind(revision)


async def _checks(ctx: ApiContext, temporal_wait: timedelta) -> dict[str, str]:
    """Temporal's and the database's answer, a failure named by its error type only (the
    endpoints are unauthenticated; the text may name hosts)."""
    checks: dict[str, str] = {}
    try:
        if ctx.client is None:
            raise RuntimeError("not connected yet")
        await ctx.client.service_client.check_health(timeout=temporal_wait)
        checks["temporal"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means "not healthy"
        checks["temporal"] = f"error: {type(exc).__name__}"
    try:
        await run_in_threadpool(_db_ok, ctx)
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means "not healthy"
        checks["database"] = f"error: {type(exc).__name__}"
    return checks


@router.get("/healthz")
async def healthz(ctx: Ctx) -> JSONResponse:
    """Answer 200 when Temporal is connected and the database answers, else 503 (for
    monitoring: everything the API uses)."""
    checks = await _checks(ctx, timedelta(seconds=3))
    ok = all(v == "ok" for v in checks.values())
    return JSONResponse({"status": "ok" if ok else "unhealthy", **checks}, 200 if ok else 503)


@router.get("/readyz")
async def readyz(ctx: Ctx) -> JSONResponse:
    """Answer 200 while the database answers (the readiness probe): without Temporal the API
    still serves queues, cases and reports from the read model, and answers actions 503;
    taking every replica out of service would refuse the reads too. ``status`` says
    ``degraded`` then. Temporal is asked briefly: a probe that waited on it would time out
    (Kubernetes gives a probe one second) and take the replica out all the same."""
    checks = await _checks(ctx, timedelta(milliseconds=500))
    if checks["database"] != "ok":
        return JSONResponse({"status": "unhealthy", **checks}, 503)
    status = "ok" if checks["temporal"] == "ok" else "degraded"
    return JSONResponse({"status": status, **checks}, 200)


@router.get("/livez")
async def livez() -> JSONResponse:
    """Answer 200 while the process serves HTTP (the liveness probe): a restart mends no
    outage of Temporal or the database, and would drop the reads still served."""
    return JSONResponse({"status": "ok"})


@router.get("/metrics")
def metrics(ctx: Ctx) -> Response:
    return Response(generate_latest(ctx.registry), media_type=CONTENT_TYPE_LATEST)
