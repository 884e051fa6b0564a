"""Workflow-layer fixtures: a worker on a fresh task queue with stand-in activities."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest_asyncio
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from tests.workflows.harness import StandIns
from tierflow_dev.devstack.temporal import find_executable


@pytest_asyncio.fixture
async def stand_ins() -> StandIns:
    return StandIns()


@pytest_asyncio.fixture
async def ts_worker(stand_ins: StandIns) -> AsyncIterator[tuple[WorkflowEnvironment, str]]:
    """Run a worker for the lifecycle workflow on a time-skipping server of its own.

    One server per test: skipped time and idle timers of other tests' workflows would
    otherwise interfere (the test server skips time for all workflows at once).
    """
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(find_executable("temporal-test-server")),
        data_converter=pydantic_data_converter,
    )
    queue = f"wf-{uuid.uuid4().hex[:8]}"
    try:
        async with stand_ins.worker(env.client, queue):
            yield env, queue
    finally:
        await env.shutdown()
