"""Start-up helpers shared by the processes: bounded waits for Temporal and Kafka."""

from __future__ import annotations

import asyncio
import logging
import time

from kafka import KafkaProducer
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import Runtime

from tierflow.kafka_io import make_producer

log = logging.getLogger("tierflow")
STARTUP_WAIT_SECONDS = 120.0


async def connect_temporal(
    address: str,
    namespace: str,
    runtime: Runtime | None = None,
    wait: float = STARTUP_WAIT_SECONDS,
) -> Client:
    """Connect to Temporal, retrying for ``wait`` seconds and saying what we wait for."""
    deadline = time.monotonic() + wait
    while True:
        try:
            return await Client.connect(
                address,
                namespace=namespace,
                data_converter=pydantic_data_converter,
                runtime=runtime,
            )
        except Exception as exc:  # noqa: BLE001 - retried until the deadline, then re-raised
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"Temporal at {address} not reachable after {wait:.0f} s"
                ) from exc
            log.warning("waiting for Temporal at %s: %s", address, exc)
            await asyncio.sleep(2)


def connect_kafka(bootstrap: str, wait: float = STARTUP_WAIT_SECONDS) -> KafkaProducer:
    """Create a producer, retrying for ``wait`` seconds while the broker is unreachable."""
    deadline = time.monotonic() + wait
    while True:
        try:
            return make_producer(bootstrap)
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
