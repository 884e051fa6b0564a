"""``tierflow api``: the HTTP API (with /healthz and /metrics) under uvicorn."""

from __future__ import annotations

import asyncio

import uvicorn

from api.app import create_app
from tierflow.codec import warn_if_in_clear
from tierflow.db.engine import make_engine
from tierflow.settings import Settings, get_settings
from workers.runtime import configure_logging, log


async def serve(settings: Settings) -> None:
    """Serve the API until SIGINT/SIGTERM, connecting to Temporal once it answers (the app's
    lifespan: a replica started while Temporal is away serves the read model meanwhile)."""
    warn_if_in_clear(settings)
    engine = make_engine(settings.resolved_database_url)
    app = create_app(settings, None, engine)
    config = uvicorn.Config(
        app, host=settings.api_host, port=settings.api_port, log_level="info", access_log=False
    )
    log.info("API on http://%s:%d (docs at /docs)", settings.api_host, settings.api_port)
    try:
        await uvicorn.Server(config).serve()
    finally:
        engine.dispose()


def main() -> None:
    configure_logging()
    asyncio.run(serve(get_settings()))
