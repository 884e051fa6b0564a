"""The caseworker HTTP API: ``create_app(settings, client, engine)``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from fastapi.exceptions import RequestValidationError
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine
from temporalio.client import Client

from api.deps import ApiContext, ApiLimits, ApiMetrics
from api.errors import on_validation_error
from api.middleware import BodyLimit, HttpMetrics
from api.routes import actions, health, reports, requests
from tierflow.settings import Settings
from workers.runtime import connect_temporal

API_PREFIX = "/api/v1"


def create_app(
    settings: Settings,
    client: Client | None,
    engine: Engine,
    *,
    registry: CollectorRegistry | None = None,
    limits: ApiLimits | None = None,
) -> FastAPI:
    """Build the app; with ``client=None`` it connects to Temporal in its own lifespan."""
    registry = registry if registry is not None else CollectorRegistry()
    ctx = ApiContext(
        settings, client, engine, registry, ApiMetrics(registry), limits or ApiLimits()
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if ctx.client is None:
            ctx.client = await connect_temporal(
                settings.temporal_address, settings.temporal_namespace
            )
        yield

    app = FastAPI(
        title="tierflow API",
        version="1.0.0",
        description="Service requests of the tiered SME service network: submit, queue, act.",
        lifespan=lifespan,
    )
    app.state.ctx = ctx
    app.add_exception_handler(RequestValidationError, on_validation_error)
    v1 = APIRouter(prefix=API_PREFIX)
    v1.include_router(requests.router)
    v1.include_router(actions.router)
    v1.include_router(reports.router)
    app.include_router(v1)
    app.include_router(health.router)
    app.add_middleware(BodyLimit, max_bytes=ctx.limits.max_body_bytes)
    app.add_middleware(HttpMetrics, metrics=ctx.metrics)
    return app
