"""``tierflow ingress``: the ingress as a process with /metrics and /healthz; signals stop it."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable

from sqlalchemy import Engine

from tierflow.accounts_source import Account, RecordedAccounts
from tierflow.checked_source import CheckedSource
from tierflow.codec import warn_if_in_clear
from tierflow.db.engine import make_engine
from tierflow.db.schema_head import wait_for_schema
from tierflow.directory import Directory, DirectoryWatch
from tierflow.directory_source import RecordedDirectory
from tierflow.health import serve_metrics_and_health
from tierflow.kafka_connect import connect_kafka
from tierflow.metrics import process_registry
from tierflow.partition_progress import Health
from tierflow.settings import Settings, get_settings
from tierflow.submission import read_model_holds
from tierflow.system_clients import load_system_clients
from tierflow.temporal_client import connect_temporal
from tierflow.tls import kafka_security_kwargs, trusts_sources
from workers.ingress.commands import Backoff
from workers.ingress.consumer import Ingress
from workers.runtime import configure_logging

log = logging.getLogger("tierflow.ingress")
READ_RETRY_SECONDS = 2.0


async def read_directory(
    engine: Engine, settings: Settings, stop: asyncio.Event
) -> Callable[[], Directory] | None:
    """The directory a regional client's caseworkers are placed by: the newest version
    recorded in the database, as the workers route by (an institution imported in the console
    lives there only), else the directory file. Waits until the database has been read once
    (None if stopped first): what it holds is unknown until then, not absent."""
    source = await asyncio.to_thread(
        RecordedDirectory,
        engine,
        DirectoryWatch(settings.directory_file),
        interval=settings.directory_refresh_seconds,
    )
    return source.current if await first_read(source, stop) else None


async def read_accounts(
    engine: Engine, settings: Settings, stop: asyncio.Event
) -> Callable[[str], Account | None] | None:
    """The accounts a named person is checked against, read as often as the directory; waits
    for a first read as ``read_directory`` does (None if stopped first)."""
    source = await asyncio.to_thread(
        RecordedAccounts, engine, interval=settings.directory_refresh_seconds
    )
    return source.find if await first_read(source, stop) else None


async def first_read(source: CheckedSource, stop: asyncio.Event) -> bool:
    """Wait until ``source`` has read the database once; False (and closed) if stopped first."""
    if source.checked_at is None:
        log.warning("waiting for the read model to read the %s: %s", source.what, source.error)
    while source.checked_at is None:
        try:
            await asyncio.wait_for(stop.wait(), READ_RETRY_SECONDS)
        except TimeoutError:
            if source.interval <= 0:  # no thread of its own checks again
                await asyncio.to_thread(source.refresh)
            continue
        source.close()
        return False
    return True


async def serve(settings: Settings | None = None) -> None:
    """Wait for Temporal and Kafka, then consume until SIGTERM or SIGINT."""
    settings = settings or get_settings()
    configure_logging()
    registry = process_registry()
    running: list[Ingress] = []
    health = serve_metrics_and_health(
        settings.ingress_metrics_port,
        registry,
        lambda: running[0].health() if running else Health("starting"),
        host=settings.metrics_host,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    engine = make_engine(settings.resolved_database_url)
    try:
        # starting (not ready), consuming nothing, while the schema predates this release:
        # its checks read the columns the release added
        if not await wait_for_schema(engine, stop=stop):
            return
        client = await connect_temporal(
            settings.temporal_address, settings.temporal_namespace, settings=settings
        )
        warn_if_in_clear(settings)
        producer = await asyncio.to_thread(
            lambda: connect_kafka(settings.kafka_bootstrap_servers, settings=settings)
        )
        directory = await read_directory(engine, settings, stop)
        accounts = await read_accounts(engine, settings, stop) if directory else None
        if directory is None or accounts is None:  # stopped while the database was down
            producer.close(timeout=5)
            return
        ingress = Ingress(
            client,
            settings.kafka_bootstrap_servers,
            task_queue=settings.task_queue,
            commands_topic=settings.commands_topic,
            dlq_topic=settings.dead_letter_topic,
            group_id=settings.ingress_group,
            registry=registry,
            producer=producer,
            consumer_config=kafka_security_kwargs(settings),
            backoff=Backoff(not_found_seconds=settings.ingress_not_found_seconds),
            max_in_flight=settings.ingress_max_in_flight,
            max_records=settings.ingress_max_poll_records,
            max_pending=settings.ingress_max_pending,
            stall_seconds=settings.ingress_stall_seconds,
            session_timeout=settings.ingress_session_timeout_seconds,
            clients=load_system_clients(settings.system_clients_file),
            directory=directory,
            accounts=accounts,
            # with SASL the broker knows who writes: only a client's own topic names it
            trust_sources=trusts_sources(settings),
            recorded=read_model_holds(engine),
        )
        running.append(ingress)
        await ingress.run(stop)
        producer.close(timeout=5)
    finally:
        health.close()
        engine.dispose()


def main() -> None:
    asyncio.run(serve())
