"""The Temporal client every process uses: payload codec and TLS from settings, and a wait."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.runtime import Runtime

from tierflow.codec import data_converter
from tierflow.settings import Settings, get_settings
from tierflow.startup import STARTUP_WAIT_SECONDS, wait_for_async
from tierflow.tls import temporal_tls


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

    async def attempt() -> Client:
        return await Client.connect(
            address, namespace=namespace, data_converter=converter, tls=tls, runtime=runtime
        )

    return await wait_for_async(f"Temporal at {address}", wait, attempt)
