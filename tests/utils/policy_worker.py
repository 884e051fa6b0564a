"""Run the project's real worker (``build_worker``) with a test's own SLA policy file.

Tests that need SLA timers to fire within seconds write a round-the-clock policy (every
second a business second: ``public_holidays = false``, ``weekend_days = []``) and run the
same worker the ``tierflow worker`` process runs, on their own task queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from tierflow.kafka_io import make_producer
from tierflow.metrics import WorkerMetrics
from tierflow.policy import parse_policy
from workers.worker import WorkerParts, build_worker


@contextlib.asynccontextmanager
async def policy_worker(
    stack: Any, policy_text: str, metrics: WorkerMetrics, queue_prefix: str
) -> AsyncIterator[str]:
    """Run a worker with ``policy_text`` as its policy file; yield its task queue."""
    parse_policy(policy_text, "test-policy.toml")  # fail here, not inside the worker
    task_queue = f"{queue_prefix}-{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory(prefix="tierflow-policy-") as folder:
        policy_file = Path(folder) / "policy.toml"
        policy_file.write_text(policy_text, encoding="utf-8")
        settings = stack.settings.model_copy(
            update={"policy_file": policy_file, "task_queue": task_queue}
        )
        producer = make_producer(stack.bootstrap)
        parts = WorkerParts(
            stack.client, stack.engine, producer, metrics, task_queue, settings=settings
        )
        with ThreadPoolExecutor(max_workers=32) as executor:
            worker = build_worker(parts, executor)
            run = asyncio.create_task(worker.run())
            try:
                yield task_queue
            finally:
                await worker.shutdown()
                await asyncio.gather(run, return_exceptions=True)
                producer.close(timeout=5)
