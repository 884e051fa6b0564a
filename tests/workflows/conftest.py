"""Workflow-layer fixtures: a worker on a fresh task queue with stand-in activities."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from tests.workflows.harness import MADE, StandIns
from tierflow_dev.devstack.temporal import find_executable
from workers.notifier.rules import load_rules
from workers.notifier.templates import Templates


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


RULES, TEMPLATES = load_rules(), Templates()


@pytest.fixture(autouse=True)
def records_the_notifier_renders() -> Iterator[None]:
    """Every step a test's workflow recorded renders through the packaged notifier rules, in
    both languages: a template that reads a detail one path of the workflow leaves out would
    otherwise fail only in production, on that path (a bad conclusion rating did)."""
    MADE.clear()
    yield
    failed = set()
    for stand_ins in MADE:
        for record in stand_ins.persisted:
            for rule in RULES.for_event(record.event_type):
                if not rule.applies(record.details, record.actor.role):
                    continue
                for locale in ("zh-CN", "en"):
                    try:
                        TEMPLATES.render(rule.template, locale, record, "https://console/x")
                    except Exception as exc:  # noqa: BLE001 - each failure is named below
                        failed.add(
                            f"{rule.template} ({locale}) of {record.event_type.value} "
                            f"{sorted(record.details)}: {type(exc).__name__}: {exc}"
                        )
    MADE.clear()
    assert sorted(failed) == []
