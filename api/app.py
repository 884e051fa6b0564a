"""The caseworker HTTP API: ``create_app(settings, client, engine)``."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime

from fastapi import Depends, FastAPI
from fastapi.exceptions import RequestValidationError
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException
from temporalio.client import Client
from temporalio.service import RPCError

from api.console.assessment import router as assessment_router
from api.console.directory import IMPORT_PATH
from api.console.directory import router as directory_router
from api.console.http_errors import console_http_error, console_validation_error
from api.console.inbox import router as inbox_router
from api.console.routes import router as console_router
from api.console.unavailable import for_console, on_fault
from api.console.whatif import router as whatif_console_router
from api.deps import ApiContext, ApiLimits, utc_now
from api.errors import on_database_error, on_temporal_error, refuse_unknown_query
from api.middleware import BodyLimit, HttpMetrics, PrivateAnswers
from api.routes import (
    API_PREFIX,
    COMMON_RESPONSES,
    actions,
    health,
    institutions,
    notifications,
    policies,
    reports,
    requests,
    whatif,
)
from tierflow.metrics import ApiMetrics, process_registry
from tierflow.settings import Settings
from tierflow.startup import DependencyUnavailable
from tierflow.temporal_client import client_options, connect_temporal

log = logging.getLogger("tierflow.api")

# Paths whose bodies are files: up to ``api_max_upload_bytes`` (the rest ``api_max_body_bytes``)
UPLOAD_PATHS = (IMPORT_PATH, "/console/whatif", f"{API_PREFIX}/whatif")

__all__ = ["API_PREFIX", "create_app"]


async def connect_when_up(ctx: ApiContext) -> None:
    """Connect to Temporal, however long it is away: the API serves meanwhile (the read
    model's reads; readyz says degraded, livez ok), so a replica started during an outage
    does not crash-loop. Actions answer 503 until it is connected."""
    settings = ctx.settings
    while ctx.client is None:
        try:
            ctx.client = await connect_temporal(
                settings.temporal_address, settings.temporal_namespace, settings=settings
            )
        except DependencyUnavailable as exc:
            log.error("%s; serving the read model meanwhile, still trying", exc)
    log.info("connected to Temporal at %s", settings.temporal_address)


def create_app(
    settings: Settings,
    client: Client | None,
    engine: Engine,
    *,
    registry: CollectorRegistry | None = None,
    clock: Callable[[], datetime] | None = None,
) -> FastAPI:
    """Build the app; with ``client=None`` it connects to Temporal in the background once it
    serves (``connect_when_up``)."""
    registry = registry if registry is not None else process_registry()
    ctx = ApiContext(
        settings,
        client,
        engine,
        registry,
        ApiMetrics(registry),
        ApiLimits.from_settings(settings),
        clock or utc_now,
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if ctx.client is not None:
            yield
            return
        client_options(settings)  # bad configuration stops the start, as it should
        connecting = asyncio.create_task(connect_when_up(ctx), name="connect-temporal")
        try:
            yield
        finally:
            connecting.cancel()

    app = FastAPI(
        title="tierflow API",
        version="1.0.0",
        description="Service requests of the tiered SME service network: submit, queue, act.",
        lifespan=lifespan,
        docs_url="/docs" if settings.api_docs else None,
        redoc_url="/redoc" if settings.api_docs else None,
    )
    app.state.ctx = ctx
    app.add_exception_handler(RequestValidationError, console_validation_error)
    app.add_exception_handler(StarletteHTTPException, console_http_error)
    app.add_exception_handler(SQLAlchemyError, for_console(on_database_error, "database"))
    app.add_exception_handler(RPCError, for_console(on_temporal_error, "temporal"))
    app.add_exception_handler(Exception, on_fault)  # 500: the server logs it as well
    api_routers = (
        requests.router,
        actions.router,
        reports.router,
        institutions.router,
        notifications.router,
        policies.router,
        whatif.router,
    )
    for router in api_routers:
        app.include_router(
            router, dependencies=[Depends(refuse_unknown_query)], responses=COMMON_RESPONSES
        )
    pages = (
        health.router,
        console_router,
        inbox_router,
        assessment_router,
        directory_router,
        whatif_console_router,
    )
    for router in pages:
        app.include_router(router)
    # the directory CSV; a what-if's policy and calendar files (the console's form, the API)
    uploads = dict.fromkeys(UPLOAD_PATHS, ctx.limits.max_upload_bytes)
    app.add_middleware(
        BodyLimit,
        max_bytes=ctx.limits.max_body_bytes,
        larger=uploads,
        answer=console_http_error,
    )
    app.add_middleware(PrivateAnswers)
    app.add_middleware(HttpMetrics, metrics=ctx.metrics)
    return app
