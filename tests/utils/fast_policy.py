"""The one SLA policy builder for tests whose timers must fire within seconds.

The calendar is open round the clock (``00:00``-``24:00``, no weekends, no public holidays),
so a business second is a wall-clock second whatever day and hour the suite runs. The
result is validated here, so a bad policy fails in the test, not inside a worker.
:func:`policy_worker` runs the project's real worker (``build_worker``) with such a policy.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import uuid
from collections.abc import AsyncIterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w
from sqlalchemy import Engine

from schemas.domain import Priority, Tier
from tierflow import constants
from tierflow.directory import DirectorySource
from tierflow.kafka_io import make_producer
from tierflow.metrics import WorkerMetrics
from tierflow.policy import parse_policy
from tierflow.policy_source import PolicySource
from workers.worker import WorkerParts, build_worker

DAY_SECONDS = 86_400  # one business day on the round-the-clock calendar


@dataclass(frozen=True)
class Targets:
    """Targets in business (= wall-clock) seconds.

    Every priority gets ``response``/``resolution`` unless ``by_priority`` names its own
    ``(response, resolution)``. ``tier_factors`` multiplies a tier's targets
    (``(response_factor, resolution_factor)``), e.g. to keep tiers above the first quiet.
    """

    response: float = 3600
    resolution: float = 7200
    by_priority: Mapping[Priority, tuple[float, float]] = field(default_factory=dict)
    tier_factors: Mapping[Tier, tuple[float, float]] = field(default_factory=dict)
    warning_thresholds: tuple[float, ...] = (0.5,)
    reopen_window: float = 3
    rating_window: float = 0  # after an automatic close; 0: the workflow ends at the close
    utc_offset_minutes: int = 0
    version: str = "fast-1"


def policy_text(targets: Targets) -> str:
    """Return the TOML of a round-the-clock policy file with the given targets."""
    priorities: dict[str, Any] = {}
    for priority in Priority:
        response, resolution = targets.by_priority.get(
            priority, (targets.response, targets.resolution)
        )
        priorities[priority.value] = {
            "response_hours": response / 3600,
            "resolution_hours": resolution / 3600,
        }
    tiers = {
        tier.value: {"response_factor": response, "resolution_factor": resolution}
        for tier, (response, resolution) in targets.tier_factors.items()
    }
    data: dict[str, Any] = {
        "version": targets.version,
        "warning_thresholds": list(targets.warning_thresholds),
        "reopen_window_business_days": targets.reopen_window / DAY_SECONDS,
        "rating_window_business_days": targets.rating_window / DAY_SECONDS,
        "calendar": {
            "utc_offset_minutes": targets.utc_offset_minutes,
            "working_periods": [["00:00", "24:00"]],
            "public_holidays": False,
            "weekend_days": [],
            "horizon_years": 0,
        },
        "targets": {"priority": priorities, "tier": tiers},
    }
    text = tomli_w.dumps(data)
    parse_policy(text, "fast-policy.toml")  # fail here, not inside the worker
    return text


def write_policy(path: Path, targets: Targets) -> Path:
    """Write the policy file for a worker process to load; return its path."""
    path.write_text(policy_text(targets), encoding="utf-8")
    return path


@contextlib.asynccontextmanager
async def policy_worker(
    stack: Any,
    targets: Targets,
    metrics: WorkerMetrics,
    queue_prefix: str,
    *,
    task_queue: str | None = None,
    engine: Engine | None = None,
    events_topic: str = constants.EVENTS_TOPIC,
    directory: DirectorySource | None = None,
    policies: PolicySource | None = None,
) -> AsyncIterator[str]:
    """Run the real worker with a policy of ``targets`` on a task queue of its own; yield it.

    ``task_queue`` names the queue instead, e.g. to start a worker again on the queue of one
    that stopped (an outage); ``engine`` replaces the stack's read model (e.g. PostgreSQL);
    ``directory`` is the worker's directory source and ``policies`` its policy source (default:
    the ones ``build_worker`` makes).
    """
    task_queue = task_queue or f"{queue_prefix}-{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory(prefix="tierflow-policy-") as folder:
        policy_file = write_policy(Path(folder) / "policy.toml", targets)
        settings = stack.settings.model_copy(
            update={"policy_file": policy_file, "task_queue": task_queue}
        )
        producer = make_producer(stack.bootstrap)
        parts = WorkerParts(
            stack.client,
            engine or stack.engine,
            producer,
            metrics,
            task_queue,
            events_topic,
            settings=settings,
            directory=directory,
            policies=policies,
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
