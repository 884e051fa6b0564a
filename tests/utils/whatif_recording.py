"""A read model holding generated traffic, for the what-if's API and console tests.

The traffic runs on the time-skipping server through the live workflow and real activities
under the packaged policy (``tierflow_dev.whatif_traffic``); what the API reads is the audit
trail it leaves in a SQLite file.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from tierflow.db.engine import make_engine, upgrade
from tierflow.policy import parse_policy
from tierflow_dev.devstack.temporal import find_executable
from tierflow_dev.whatif_traffic import (
    Traffic,
    generate,
    packaged_policy_text,
    recording_worker,
    settled,
)


@dataclass
class Trail:
    url: str
    engine: Engine
    horizon: datetime  # when the traffic had settled: the instant the data stands for
    traffic: Traffic


@asynccontextmanager
async def recorded_trail(folder: Path, count: int, seed: int) -> AsyncIterator[Trail]:
    """Record ``count`` generated requests into a new SQLite read model under ``folder``."""
    url = f"sqlite:///{folder / 'trail.db'}"
    upgrade(url)
    engine = make_engine(url)
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(find_executable("temporal-test-server")),
        data_converter=pydantic_data_converter,
    )
    try:
        try:
            text = packaged_policy_text()
            async with recording_worker(env, engine, parse_policy(text), text) as queue:
                traffic = await generate(env, queue, count, seed)
                horizon = await settled(env, engine, traffic)
        finally:
            await env.shutdown()
        yield Trail(url, engine, horizon, traffic)
    finally:
        engine.dispose()
