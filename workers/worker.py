"""``tierflow worker``: the Temporal worker for request workflows and their activities."""

from __future__ import annotations

import asyncio
import pkgutil
import signal
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from kafka import KafkaProducer
from sqlalchemy import Engine
from temporalio.client import Client
from temporalio.converter import DataConverter
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.worker import Interceptor, Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

import workflows
from activities.admission import AdmissionActivities
from activities.directory import DirectoryActivities
from activities.handlers import HandlerActivities
from activities.outbox import OutboxActivities
from activities.policy import PolicyActivities
from tierflow import constants
from tierflow.calendar_store import PinnableCalendars
from tierflow.codec import warn_if_in_clear
from tierflow.context_free_sandbox import ContextFreeSandboxRunner, takes_no_context
from tierflow.db.engine import make_engine
from tierflow.db.schema_head import wait_for_schema
from tierflow.directory import DirectorySource, DirectoryWatch
from tierflow.directory_source import RecordedDirectory
from tierflow.directory_store import (
    fill_institutions,
    is_recorded,
    load_version,
    newest_version,
    record_file,
)
from tierflow.grades import GradeRegistry
from tierflow.health import serve_metrics_and_health
from tierflow.kafka_connect import connect_kafka
from tierflow.metrics import (
    AssessmentCollector,
    ReadModelCollector,
    WorkerMetrics,
    process_registry,
)
from tierflow.policy import load_policy_file
from tierflow.policy_source import PolicySource, RecordedPolicy
from tierflow.settings import Settings, get_settings
from tierflow.temporal_client import connect_temporal
from workers.runtime import configure_logging, log
from workflows import request_types, service_request
from workflows.request_types import REQUEST_WORKFLOWS

# The workflow definitions run afresh in Temporal's sandbox for every new run; the pure
# helpers of ``workflows/`` do not (see ``workflow_runner``).
SANDBOXED = {service_request.__name__, request_types.__name__}


def pure_workflow_modules() -> list[str]:
    """Every module of the ``workflows`` package but the workflow definitions."""
    names = (f"{workflows.__name__}.{m.name}" for m in pkgutil.iter_modules(workflows.__path__))
    return sorted(name for name in names if name not in SANDBOXED)


def workflow_runner(converter: DataConverter | None = None) -> SandboxedWorkflowRunner:
    """Temporal's default sandbox with the pure workflow helpers passed through.

    The sandbox runs a workflow's module afresh for every new run, and with it every module
    that module imports into the sandbox: for the request workflow that was most of the
    worker's CPU per lifecycle beyond the bare baseline (``tierflow bench lifecycle``). The
    helpers are pure (no I/O, no clock, no randomness: the workflow tests run them under the
    full sandbox, and replay proves them deterministic), so the worker imports them once; the
    workflow module itself still runs in the sandbox, whose restrictions guard it.

    Given the worker's ``converter``, and if it takes no serialization context, the runner
    answers the SDK's context questions outside the sandbox (``tierflow.context_free_sandbox``).
    """
    restrictions = SandboxRestrictions.default.with_passthrough_modules(*pure_workflow_modules())
    if converter is not None and takes_no_context(converter):
        return ContextFreeSandboxRunner(restrictions=restrictions)
    return SandboxedWorkflowRunner(restrictions=restrictions)


@dataclass
class WorkerParts:
    """What a worker is built from; tests build one against their own servers."""

    client: Client
    engine: Engine
    producer: KafkaProducer
    metrics: WorkerMetrics
    task_queue: str = constants.TASK_QUEUE
    events_topic: str = constants.EVENTS_TOPIC
    settings: Settings | None = None
    directory: DirectorySource | None = None  # None: the database's newest, else the file
    policies: PolicySource | None = None  # None: the releases in the database, else the file
    interceptors: Sequence[Interceptor] = ()  # e.g. the benchmark's, noting activity inputs


def _record_directory(engine: Engine, watch: DirectoryWatch, path: Path | None) -> None:
    """Record the directory the worker starts with (imports record theirs), so the requests
    that pin it can still route by it after the next import. The file is read again only
    when its version is not recorded yet; the packaged directory (no file) only goes into an
    empty table, so it never displaces an import."""
    try:
        if is_recorded(engine, watch.current().version):
            return
        if path is None and newest_version(engine) is not None:
            return
        version, new = record_file(engine, path, imported_by="worker")
    except Exception as exc:  # noqa: BLE001 - routing goes on; only the pin may fall back
        log.warning("directory not recorded; pinned requests may route by a later one: %s", exc)
        return
    if new:
        log.info("directory version %s recorded", version)


def _fill_institutions(engine: Engine, watch: DirectoryWatch) -> None:
    """Give the console's names, the assessment's groups and the reports' regions an
    ``institution`` table to read, when nothing filled it yet."""
    try:
        filled = fill_institutions(engine, watch.current())
    except Exception as exc:  # noqa: BLE001 - routing goes on; only names and regions wait
        log.warning("institution table not filled: %s", exc)
        return
    if filled is not None:
        log.info("institution table filled from directory %s", filled.version)


def build_activities(parts: WorkerParts) -> list[Callable[..., Any]]:
    """Return the real activities a worker runs (the benchmark's baseline runs them too)."""
    settings = parts.settings or get_settings()
    outbox = OutboxActivities(
        parts.engine, parts.producer, parts.events_topic, parts.metrics, settings.event_source
    )
    watch = DirectoryWatch(settings.directory_file)
    _record_directory(parts.engine, watch, settings.directory_file)
    _fill_institutions(parts.engine, watch)
    current = parts.directory
    if current is None:
        interval = settings.directory_refresh_seconds
        current = RecordedDirectory(parts.engine, watch, interval=interval)
    policies = parts.policies
    if policies is None:
        fallback = load_policy_file(settings.policy_file)
        calendars = PinnableCalendars(parts.engine)  # recorded at start and on each check
        policies = RecordedPolicy(
            parts.engine,
            fallback,
            interval=settings.policy_refresh_seconds,
            on_check=calendars.record,
        )
    policy = PolicyActivities(
        policies,
        GradeRegistry(parts.engine),
        directory_version=lambda: current.current().version,
    )
    directory = DirectoryActivities(current, versions=lambda v: load_version(parts.engine, v))
    admission = AdmissionActivities(policy.load_policy, directory.resolve_institution)
    handlers = HandlerActivities(parts.engine)
    return [
        outbox.record_transitions,
        admission.admit_request,
        policy.load_policy,
        directory.resolve_institution,
        directory.check_target,
        handlers.check_handler,
    ]


def build_worker(parts: WorkerParts, executor: ThreadPoolExecutor) -> Worker:
    """Return a Worker with the lifecycle workflow and the real activities."""
    settings = parts.settings or get_settings()
    return Worker(
        parts.client,
        task_queue=parts.task_queue,
        workflows=[*REQUEST_WORKFLOWS],
        workflow_runner=workflow_runner(parts.client.data_converter),
        activities=build_activities(parts),
        interceptors=parts.interceptors,
        activity_executor=executor,
        max_cached_workflows=settings.worker_max_cached_workflows,
        max_concurrent_activities=settings.worker_max_concurrent_activities,
        max_concurrent_workflow_tasks=settings.worker_max_concurrent_workflow_tasks,
        graceful_shutdown_timeout=timedelta(seconds=10),
    )


async def run(settings: Settings) -> None:
    """Connect to everything, serve /metrics and /healthz, and poll until SIGTERM."""
    configure_logging()
    runtime = Runtime(
        telemetry=TelemetryConfig(
            metrics=PrometheusConfig(
                bind_address=f"{settings.metrics_host}:{settings.worker_sdk_metrics_port}"
            )
        )
    )
    registry = process_registry()
    metrics = WorkerMetrics(registry)
    ready = False
    health = serve_metrics_and_health(
        settings.worker_metrics_port, registry, lambda: ready, host=settings.metrics_host
    )
    client = await connect_temporal(
        settings.temporal_address, settings.temporal_namespace, runtime, settings=settings
    )
    warn_if_in_clear(settings)
    engine = make_engine(settings.resolved_database_url)
    registry.register(ReadModelCollector(engine))
    registry.register(AssessmentCollector(engine))
    producer = await asyncio.to_thread(
        lambda: connect_kafka(settings.kafka_bootstrap_servers, settings=settings)
    )
    parts = WorkerParts(client, engine, producer, metrics, settings.task_queue, settings=settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    # not ready, polling nothing, while the schema predates this release (a migration not run
    # or failed midway): its writes would fail on the columns it added, request after request
    if not await wait_for_schema(engine, stop=stop):
        producer.close(timeout=5)
        health.close()
        return
    with ThreadPoolExecutor(max_workers=settings.worker_max_concurrent_activities) as executor:
        worker = build_worker(parts, executor)
        async with worker:
            ready = True
            log.info("worker polling task queue %s", settings.task_queue)
            await stop.wait()
            ready = False
            log.info("worker shutting down")
    producer.close(timeout=5)
    health.close()


def main() -> None:
    asyncio.run(run(get_settings()))
