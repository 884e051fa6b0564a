"""Start-up helpers shared by the processes: bounded waits for Temporal and Kafka."""

from __future__ import annotations

import asyncio
import logging
import time

from kafka import KafkaProducer
from temporalio.client import Client
from temporalio.runtime import Runtime

from tierflow.codec import data_converter
from tierflow.kafka_io import make_producer
from tierflow.settings import Settings, get_settings
from tierflow.tls import kafka_security_kwargs, temporal_tls

log = logging.getLogger("tierflow")
STARTUP_WAIT_SECONDS = 120.0


async def connect_temporal(
    address: str,
    namespace: str,
    runtime: Runtime | None = None,
    wait: float = STARTUP_WAIT_SECONDS,
    *,
    settings: Settings | None = None,
) -> Client:
    """Connect to Temporal, retrying for ``wait`` seconds and saying what we wait for.

    The payload codec and TLS come from ``settings``; bad configuration fails at once.
    """
    settings = settings or get_settings()
    converter = data_converter(settings)
    tls = temporal_tls(settings)
    deadline = time.monotonic() + wait
    while True:
        try:
            return await Client.connect(
                address,
                namespace=namespace,
                data_converter=converter,
                tls=tls,
                runtime=runtime,
            )
        except Exception as exc:  # noqa: BLE001 - retried until the deadline, then re-raised
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"Temporal at {address} not reachable after {wait:.0f} s"
                ) from exc
            log.warning("waiting for Temporal at %s: %s", address, exc)
            await asyncio.sleep(2)


def connect_kafka(
    bootstrap: str, wait: float = STARTUP_WAIT_SECONDS, *, settings: Settings | None = None
) -> KafkaProducer:
    """Create a producer, retrying for ``wait`` seconds while the broker is unreachable."""
    security = kafka_security_kwargs(settings or get_settings())
    deadline = time.monotonic() + wait
    while True:
        try:
            return make_producer(bootstrap, **security)
        except Exception as exc:  # noqa: BLE001 - retried until the deadline, then re-raised
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"Kafka at {bootstrap} not reachable after {wait:.0f} s"
                ) from exc
            log.warning("waiting for Kafka at %s: %s", bootstrap, exc)
            time.sleep(2)


def configure_logging() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
