"""Fixtures of the console's browser tests: a fast-SLA worker, the real app under uvicorn,
and Debian's Chromium driven by Playwright.

The worker runs the real workflow and activities on its own task queue with a policy on a
round-the-clock calendar: urgent requests breach their county response clock within seconds
(and escalate to a city tier with long targets), high ones warn after ten seconds, the rest
stay on track. The app under test submits to that queue (``Settings.task_queue``).
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest
import pytest_asyncio
import uvicorn
from fastapi import FastAPI
from playwright.async_api import Browser, async_playwright
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine

from api.app import create_app
from schemas.domain import Priority, Tier
from tests.fixtures.stack import Stack
from tests.utils.api_helpers import Users, make_users
from tests.utils.eventually import eventually_sync
from tests.utils.fast_policy import DAY_SECONDS, Targets, policy_worker, write_policy
from tierflow.metrics import WorkerMetrics
from tierflow.settings import Settings
from tierflow_dev.devstack.procs import free_port

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
URGENT_RESPONSE_SECONDS = 4
HIGH_RESPONSE_SECONDS = 1000  # warns after 1 % (10 s), breaches long after the tests
HOURS = 3600
E2E_TARGETS = Targets(
    response=8 * HOURS,
    resolution=40 * HOURS,
    by_priority={
        Priority.URGENT: (URGENT_RESPONSE_SECONDS, 1 * HOURS),
        Priority.HIGH: (HIGH_RESPONSE_SECONDS, 40 * HOURS),
    },
    # one breach at the county is enough: above it the clocks are long
    tier_factors={Tier.MUNICIPAL: (3600, 40), Tier.PROVINCIAL: (3600, 40)},
    warning_thresholds=(0.01,),
    reopen_window=DAY_SECONDS,
    utc_offset_minutes=480,
    version="e2e-console-1",
)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def fast_queue(stack: Stack) -> AsyncIterator[str]:
    """Run the real worker with the e2e policy; yield the task queue."""
    metrics = WorkerMetrics(CollectorRegistry())
    async with policy_worker(stack, E2E_TARGETS, metrics, "e2e-console") as task_queue:
        yield task_queue


@pytest.fixture(scope="module")
def on_fast_queue(stack: Stack, fast_queue: str) -> SimpleNamespace:
    """What ``start_request`` needs to start workflows on the fast worker."""
    return SimpleNamespace(client=stack.client, task_queue=fast_queue)


class AppServer:
    """The real API app (with the console) under uvicorn in a background thread."""

    def __init__(self, app: FastAPI, port: int) -> None:
        config = uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", access_log=False
        )
        self.app, self.server = app, uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="console-uvicorn", daemon=True)
        self.url = f"http://127.0.0.1:{port}"

    def start(self, timeout: float = 30.0) -> None:
        self.thread.start()

        def started() -> bool:
            if self.server.started:
                return True
            if not self.thread.is_alive():
                raise RuntimeError(f"console app on {self.url} stopped before it started")
            return False

        eventually_sync(started, timeout, f"console app started on {self.url}")
        connected = lambda: self.app.state.ctx.client is not None  # noqa: E731
        eventually_sync(connected, timeout, f"console app on {self.url} connected to Temporal")

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


@dataclass
class Console:
    url: str
    users: Users
    settings: Settings


@contextmanager
def served(app: FastAPI, engine: Engine, settings: Settings) -> Iterator[Console]:
    """Serve ``app`` on a free port while the block runs: the console of every e2e module,
    with the test users made in ``engine``."""
    server = AppServer(app, free_port())
    server.start()
    try:
        yield Console(server.url, make_users(engine), settings)
    finally:
        server.stop()


@pytest.fixture(scope="module")
def console(
    stack: Stack, fast_queue: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Console]:
    """Serve ``create_app`` (console included; Temporal connected in its own lifespan).

    The app reads the worker's policy file, as a deployment does: the console counts business
    time on the calendar the requests were pinned with (here round the clock)."""
    policy = write_policy(tmp_path_factory.mktemp("policy") / "policy.toml", E2E_TARGETS)
    update = {"task_queue": fast_queue, "policy_file": policy}
    settings = stack.settings.model_copy(update=update)
    with served(create_app(settings, None, stack.engine), stack.engine, settings) as console:
        yield console


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def browser() -> AsyncIterator[Browser]:
    """Debian's Chromium, headless, driven by Playwright (no downloaded browser)."""
    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"{CHROMIUM} is missing: apt-get install -y chromium")
    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            await chromium.close()
