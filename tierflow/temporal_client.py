"""The Temporal client every process uses: payload codec and TLS from settings, and a wait."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.converter import DataConverter
from temporalio.runtime import Runtime
from temporalio.service import TLSConfig

from tierflow.codec import data_converter
from tierflow.settings import Settings, get_settings
from tierflow.startup import STARTUP_WAIT_SECONDS, wait_for_async
from tierflow.tls import temporal_tls


def client_options(settings: Settings) -> tuple[DataConverter, TLSConfig | bool]:
    """The payload codec and TLS the client uses; raises on bad configuration (at once,
    unlike an unreachable server, which is waited for)."""
    return data_converter(settings), temporal_tls(settings)


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
    converter, tls = client_options(settings)

    async def attempt() -> Client:
        return await Client.connect(
            address, namespace=namespace, data_converter=converter, tls=tls, runtime=runtime
        )

    return await wait_for_async(f"Temporal at {address}", wait, attempt)
