"""Shared harness of the benchmarks: servers on free ports, the in-process worker, results.

Every scenario starts its own Temporal dev server, Kafka broker and (when asked) PostgreSQL
through the project's launchers in a temporary home, unless addresses are given, and writes
one JSON file with the command, machine, backend, parameters, results and targets.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
import tomllib
import urllib.request
import uuid
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil
import tomli_w
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table

from schemas.domain import Role
from schemas.request import Actor, RequestInput
from tierflow import constants
from tierflow.settings import Settings

if TYPE_CHECKING:
    from tierflow_dev.bench.same_activities import Slot

console = Console(stderr=True)
RESULTS_DIR = Path("docs/benchmarks")
CODE_DIRS = ("schemas", "workflows", "activities", "workers", "tierflow", "api", "devtools")


# --------------------------------------------------------------------------- statistics
def percentiles(data: Sequence[float]) -> list[float]:
    """Return the 99 cut points p1..p99 (inclusive method: within the sample's range).

    ``statistics.quantiles`` needs two values; one value is every percentile, none gives 0.0.
    """
    if len(data) < 2:
        return [float(data[0]) if data else 0.0] * 99
    return statistics.quantiles(data, n=100, method="inclusive")


def summarize(values: Iterable[float]) -> dict[str, float]:
    """Return count, mean, p50, p95, p99 and max of a sample (seconds stay seconds)."""
    data = list(values)
    cuts = percentiles(data)
    return {
        "count": len(data),
        "mean": statistics.fmean(data) if data else 0.0,
        "p50": cuts[49],
        "p95": cuts[94],
        "p99": cuts[98],
        "max": max(data) if data else 0.0,
    }


def target(value: float, limit: float, kind: str) -> dict[str, Any]:
    """Return a target record: ``kind`` is ">=" or "<="."""
    met = value >= limit if kind == ">=" else value <= limit
    return {"value": round(value, 4), "target": f"{kind} {limit:g}", "met": met}


# --------------------------------------------------------------------------- loading
CopyTable = tuple[str, Sequence[str], Iterable[Sequence[Any]], int]  # table, columns, rows, count


def copy_in(url: str, tables: Sequence[CopyTable]) -> float:
    """COPY each table's rows into the PostgreSQL database at ``url`` (a progress bar per
    table), then ANALYZE them; return the seconds taken."""
    import psycopg

    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    began = time.perf_counter()
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        for table, columns, rows, count in tables:
            with (
                cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy,
                progress(count, f"loading {table}") as advance,
            ):
                for n, row in enumerate(rows, 1):
                    copy.write_row(row)
                    if n % 5000 == 0:
                        advance(5000)
        conn.commit()
        for table, *_ in tables:
            cur.execute(f"ANALYZE {table}")
    return time.perf_counter() - began


# --------------------------------------------------------------------------- machine, output
def machine_info() -> dict[str, Any]:
    """Return nproc, RAM, CPU model and speed of this machine."""
    return {
        "nproc": os.cpu_count(),
        "ram_mb": psutil.virtual_memory().total // 2**20,
        "cpu_model": _cpu_model(),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "python_loop_ms": python_loop_ms(),
    }


def python_loop_ms(rounds: int = 5) -> float:
    """The best of ``rounds`` timings of one fixed pure-Python loop, in milliseconds.

    Hosts of one model name differ (a shared host, another generation): absolute rates of runs
    on two hosts compare only through a figure like this one; ratios within a run need none.
    """
    best = float("inf")
    for _ in range(rounds):
        began = time.perf_counter()
        total = 0
        for i in range(1_000_000):
            total += i
        best = min(best, time.perf_counter() - began)
    return round(best * 1000, 1)


def _cpu_model() -> str:
    """Return the CPU model name (psutil has none; Linux names it in /proc/cpuinfo)."""
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def write_results(name: str, out: Path | None, payload: dict[str, Any]) -> Path:
    """Write the scenario's JSON (command, date, machine first) and return its path."""
    path = out or RESULTS_DIR / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "scenario": name,
        "command": "tierflow bench " + " ".join(sys.argv[sys.argv.index(name) :])
        if name in sys.argv
        else f"tierflow bench {name}",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "code": code_version(),
        "machine": machine_info(),
        **payload,
    }
    path.write_text(json.dumps(doc, indent=2, default=str) + "\n")
    return path


def code_version() -> str:
    """The commit the run measured, ``+changes`` if the work tree differed from it."""
    import subprocess

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], capture_output=True, text=True, check=False)
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--untracked-files=no", "--", *CODE_DIRS)
    return commit + ("+changes" if dirty else "")


def print_table(title: str, rows: Mapping[str, Any]) -> None:
    """Print a two-column rich table of metric -> value."""
    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in rows.items():
        shown = f"{value:,.4g}" if isinstance(value, float) else str(value)
        table.add_row(key, shown)
    Console().print(table)


@contextmanager
def progress(total: int, what: str, quiet: bool = False) -> Iterator[Any]:
    """Yield an ``advance(n=1)`` callable driving a rich progress bar on stderr."""
    if quiet or total <= 0:
        yield lambda n=1: None
        return
    bar = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )
    with bar:
        task = bar.add_task(what, total=total)
        yield lambda n=1: bar.advance(task, n)


# --------------------------------------------------------------------------- policy
def write_policy(
    path: Path,
    *,
    reopen_seconds: float = 1.0,
    response_seconds: float | None = None,
    warning_thresholds: list[float] | None = None,
    idle_priority: str | None = None,
) -> Path:
    """Write a copy of the packaged policy with a tiny reopen window (and short targets).

    The calendar is open round the clock (no weekends, no public holidays), so a bench that
    runs on a Saturday does not wait for Monday. With ``response_seconds``, requests of
    ``idle_priority`` get a far response target instead: they stay open without firing.
    """
    text = resources.files("tierflow.data").joinpath("sla_policy.toml").read_text("utf-8")
    data = tomllib.loads(text)
    data["version"] = f"bench-{uuid.uuid4().hex[:6]}"
    data["calendar"]["working_periods"] = [["00:00", "24:00"]]
    data["calendar"]["public_holidays"] = False
    data["calendar"]["weekend_days"] = []
    data["reopen_window_business_days"] = reopen_seconds / 86_400
    # no rating window: a lifecycle ends at its automatic close, as the bare baseline does
    data["rating_window_business_days"] = 0
    if warning_thresholds is not None:
        data["warning_thresholds"] = warning_thresholds
    if response_seconds is not None:
        hours = response_seconds / 3600
        for name, prio in data["targets"]["priority"].items():
            prio["response_hours"] = 1000 if name == idle_priority else hours
            prio["resolution_hours"] = 1000
        data["targets"]["category"] = {}
        data["targets"]["grade"] = {}
        # only the first tier's response clock fires: later tiers get very long targets
        far = {"response_factor": 1000.0, "resolution_factor": 1.0}
        data["targets"]["tier"] = dict.fromkeys(("municipal", "provincial", "national"), far)
    path.write_text(tomli_w.dumps(data))
    return path


# --------------------------------------------------------------------------- requests
def bench_requests(n: int, prefix: str, seed: int = 7) -> list[RequestInput]:
    """Return ``n`` valid, routable demo requests with ids unique to this run."""
    from tierflow_dev.demo import demo_requests

    return [
        r.model_copy(update={"request_id": f"{prefix}-{i:06d}"})
        for i, r in enumerate(demo_requests(n, seed=seed))
    ]


def run_id() -> str:
    return uuid.uuid4().hex[:8]


def count_rows(engine: Any, table: str, prefix: str, condition: str) -> int:
    """Return the rows of ``table`` about requests whose id starts with ``prefix`` that also
    meet ``condition`` (SQL)."""
    from sqlalchemy import text

    query = text(f"SELECT count(*) FROM {table} WHERE request_id LIKE :p AND {condition}")
    with engine.connect() as conn:
        return int(conn.execute(query, {"p": f"{prefix}%"}).scalar_one())


# --------------------------------------------------------------------------- servers
@dataclass
class StackOptions:
    """Which servers to start, or which running ones to use."""

    temporal_address: str | None = None
    kafka: str | None = None
    database_url: str | None = None
    postgres: bool = False  # start a PostgreSQL server for persistence
    sqlite_wal: bool = True  # dev server's --sqlite-pragma journal_mode=wal
    need_kafka: bool = True
    need_temporal: bool = True
    dynamic_config: dict[str, object] = field(default_factory=dict)
    # "cluster": the production topology's engines (``bench.cluster``), or, with addresses
    # given, servers of that topology (topics replicated as it replicates them)
    topology: str = "dev"


class BenchStack:
    """Servers for one scenario in a temporary home; ``stop`` ends only what it started."""

    def __init__(self, opts: StackOptions, name: str) -> None:
        self.opts = opts
        self.home = Path(tempfile.mkdtemp(prefix=f"tierflow-bench-{name}-"))
        self.home.chmod(0o755)  # PostgreSQL runs as its own user when we are root
        self.run_id = run_id()  # scenarios prefix their request ids with it
        self.task_queue = f"bench-{name}-{self.run_id}"
        self.temporal: Any = None
        self.kafka: Any = None
        self.postgres: Any = None
        self.temporal_address = opts.temporal_address or ""
        self.bootstrap = opts.kafka or ""
        self.database_url = opts.database_url or ""
        self.policy_file: Path | None = None
        self.cluster: Any = None  # the ClusterStack of --topology cluster
        # tierflow processes a scenario started, by role: their CPU is measured too
        self.processes: dict[str, list[Any]] = {}

    def use_policy(self, **overrides: Any) -> None:
        """Write the bench policy (``write_policy`` with ``overrides``) for this stack's worker."""
        self.policy_file = write_policy(self.home / "policy.toml", **overrides)

    @property
    def replication(self) -> tuple[int, int]:
        """(replication factor, min in-sync replicas) of the topics a scenario creates."""
        if self.opts.topology == "cluster":
            from tierflow_dev.bench.cluster import REPLICATION

            return REPLICATION
        return 1, 1

    def start_cluster(self) -> None:
        """Start the production topology's engines (``--topology cluster``)."""
        from tierflow_dev.bench.cluster import start_engines

        given = (self.temporal_address, self.bootstrap, self.database_url)
        if any(given):
            if not all(given):
                raise ValueError(
                    "--topology cluster: give --temporal-address, --kafka and --database-url "
                    "of a running cluster, or none of them"
                )
            return
        console.log("starting the cluster topology's engines (PostgreSQL, Temporal, 3 brokers)")
        self.cluster = start_engines(self.home, console.log)
        self.temporal, self.kafka = self.cluster.temporal, self.cluster.kafka
        self.postgres = self.cluster.postgres
        self.temporal_address = self.cluster.temporal.address
        self.bootstrap = self.cluster.kafka.bootstrap
        self.database_url = self.cluster.database_url

    def start(self) -> BenchStack:
        from tierflow_dev.devstack.procs import free_port

        if self.opts.topology == "cluster":
            self.start_cluster()
        if self.opts.need_temporal and not self.temporal_address:
            from tierflow_dev.devstack.temporal import TemporalDevServer

            self.temporal = TemporalDevServer(
                self.home,
                port=free_port(),
                headless=True,
                sqlite_pragmas=self.opts.sqlite_wal,
                dynamic_config=self.opts.dynamic_config,
            )
            console.log(f"starting Temporal dev server on {self.temporal.address}")
            self.temporal.start(timeout=90)
            self.temporal_address = self.temporal.address
        if self.opts.need_kafka and not self.bootstrap:
            from tierflow_dev.devstack.kafka import KafkaBroker

            self.kafka = KafkaBroker(home=self.home, port=free_port(), controller_port=free_port())
            console.log(f"starting Kafka broker on {self.kafka.bootstrap}")
            self.kafka.start(timeout=180)
            self.kafka.ensure_topics(constants.TOPICS)
            self.bootstrap = self.kafka.bootstrap
        elif self.opts.need_kafka:
            # a given broker may lack them
            ensure_topics(self.bootstrap, constants.TOPICS, *self.replication)
        if self.opts.postgres and not self.database_url:
            self.database_url = self.start_postgres("tierflow_bench")
        if not self.database_url:
            self.database_url = f"sqlite:///{self.home / 'tierflow.db'}"
        return self

    def start_postgres(self, database: str, ctype: str | None = None) -> str:
        """Start a PostgreSQL server in the home (once) and return a fresh database's URL."""
        from tierflow_dev.devstack.postgres import PostgresServer
        from tierflow_dev.devstack.procs import free_port

        if self.postgres is None:
            self.postgres = PostgresServer(self.home, free_port())
            console.log(f"starting PostgreSQL on port {self.postgres.port}")
            self.postgres.start()
        if ctype is None:
            return self.postgres.create_database(database)
        return self.postgres.create_database(database, ctype=ctype)

    def migrated_postgres(self, database: str, ctype: str | None = None) -> str:
        """The scenario's database migrated to head: the one given on the command line, or
        a fresh ``database`` on a server started here."""
        from tierflow.db.migrate import upgrade

        if not self.database_url.startswith("postgresql"):
            self.database_url = self.start_postgres(database, ctype)
        upgrade(self.database_url)
        return self.database_url

    def stop(self) -> None:
        for procs in self.processes.values():
            for proc in procs:
                proc.stop(timeout=20)
        servers = [s for s in (self.postgres, self.kafka, self.temporal) if s is not None]
        stops = [(type(server).__name__, server.stop) for server in servers]
        if self.cluster is not None:  # down() stops Temporal before its PostgreSQL
            stops = [("the cluster", functools.partial(self.cluster.down, timeout=10))]
        for name, stop in stops:
            try:
                stop()
            except Exception as exc:  # noqa: BLE001 - keep stopping the others
                console.log(f"stopping {name} failed: {exc}")
        shutil.rmtree(self.home, ignore_errors=True)

    def server_pids(self) -> dict[str, list[int | None]]:
        """The pids of the servers this run started, by role (every broker of a cluster)."""
        pids: dict[str, list[int | None]] = {}
        if self.temporal is not None:
            pids["temporal_server"] = [self.temporal.process.pid()]
        if self.kafka is not None:
            nodes = getattr(self.kafka, "nodes", {0: self.kafka}).values()
            pids["kafka_broker"] = [node.process.pid() for node in nodes]
        if self.postgres is not None:
            pids["postgresql"] = [self.postgres.process.pid()]
        return pids

    def process_pids(self) -> dict[str, list[int | None]]:
        """The pids of the tierflow processes a scenario started, by role."""
        return {role: [p.pid() for p in procs] for role, procs in self.processes.items() if procs}

    def settings(self, **overrides: Any) -> Settings:
        from tierflow_dev.devstack.procs import free_port

        replication, min_isr = self.replication
        values: dict[str, Any] = {
            "home": self.home,
            "temporal_address": self.temporal_address,
            "kafka_bootstrap_servers": self.bootstrap or "127.0.0.1:9",
            "task_queue": self.task_queue,
            "database_url": self.database_url,
            "policy_file": self.policy_file,
            "worker_metrics_port": free_port(),
            "worker_sdk_metrics_port": free_port(),
            "kafka_replication_factor": replication,
            "kafka_min_insync_replicas": min_isr,
        }
        return Settings(**(values | overrides))

    def backend(self) -> dict[str, Any]:
        """Describe the stores: what a reader needs to compare runs."""
        persistence = self.database_url.split(":", 1)[0]
        if not self.temporal_address:
            store = "none (no Temporal needed)"
        elif self.cluster is not None:
            from tierflow_dev.bench.cluster import describe

            store = describe()["temporal"]
        elif self.temporal is not None:
            store = "dev server SQLite file " + (
                "with --sqlite-pragma journal_mode=wal, synchronous=normal"
                if self.opts.sqlite_wal
                else "with the default journal (no pragmas)"
            )
        else:
            store = f"external Temporal at {self.temporal_address}"
        if self.cluster is not None:
            from tierflow_dev.bench.cluster import describe

            kafka = describe()["kafka"] + " (started)"
        else:
            kafka = "local KRaft broker (started)" if self.kafka else (self.bootstrap or None)
        return {
            "topology": self.opts.topology,
            "temporal": store,
            "temporal_address": self.temporal_address,
            "kafka": kafka,
            "persistence": "postgresql" if persistence.startswith("postgresql") else persistence,
            "worker_max_cached_workflows": self.settings().worker_max_cached_workflows,
        }

    def __enter__(self) -> BenchStack:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, kind: type[BaseException] | None, *exc: object) -> None:
        if kind is not None:
            self.keep_logs()
        self.stop()

    def keep_logs(self) -> None:
        """Copy the servers' and processes' logs out of the home, which ``stop`` deletes."""
        kept = Path(tempfile.gettempdir()) / f"{self.home.name}-logs"
        for log in self.home.rglob("logs/*.log"):
            target = kept / log.relative_to(self.home)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(log, target)
        console.log(f"the run failed; its logs are in {kept}")


def ensure_topics(
    bootstrap: str, topics: Mapping[str, int], replication: int = 1, min_isr: int = 1
) -> None:
    """Create missing topics on any broker (auto-creation is off on ours)."""
    from tierflow_dev.devstack.kafka import ensure_topics as create

    create(bootstrap, dict(topics), replication, min_isr)


async def connect(stack: BenchStack) -> Any:
    """Return a client of the stack's Temporal with the project's data converter."""
    from tierflow.temporal_client import connect_temporal

    return await connect_temporal(stack.temporal_address, "default", wait=30)


@asynccontextmanager
async def worker_parts(
    client: Any, settings: Settings, interceptors: Sequence[Any] = ()
) -> AsyncIterator[Any]:
    """What a project worker is built from, on ``settings``' database and broker."""
    from prometheus_client import CollectorRegistry

    from tierflow.db.engine import make_engine
    from tierflow.kafka_io import make_producer
    from tierflow.metrics import WorkerMetrics
    from workers.worker import WorkerParts

    engine = make_engine(settings.resolved_database_url)
    producer = make_producer(settings.kafka_bootstrap_servers)
    metrics = WorkerMetrics(CollectorRegistry())
    try:
        yield WorkerParts(
            client,
            engine,
            producer,
            metrics,
            settings.task_queue,
            settings=settings,
            interceptors=interceptors,
        )
    finally:
        producer.close(timeout=5)
        engine.dispose()


@asynccontextmanager
async def project_worker(
    stack: BenchStack,
    client: Any,
    task_queue: str | None = None,
    interceptors: Sequence[Any] = (),
    **overrides: Any,
) -> AsyncIterator[Any]:
    """Run the project's worker (real activities) in this process while the block runs, on
    the stack's settings (``overrides`` replace some)."""
    from workers.worker import build_worker

    settings = stack.settings(task_queue=task_queue or stack.task_queue, **overrides)
    async with worker_parts(client, settings, interceptors) as parts:
        with ThreadPoolExecutor(max_workers=32) as executor:
            async with build_worker(parts, executor) as worker:
                yield worker


async def start_request(
    client: Any, req: RequestInput, task_queue: str, wid: str | None = None
) -> Any:
    """Start the request workflow for ``req`` (id from its request id unless given)."""
    from schemas.lifecycle import WorkflowState
    from tierflow.constants import workflow_id
    from workflows.service_request import ServiceRequestWorkflow

    return await client.start_workflow(
        ServiceRequestWorkflow.run,
        WorkflowState(request=req),
        id=wid or workflow_id(req.request_id),
        task_queue=task_queue,
    )


def start_worker_process(stack: BenchStack, name: str = "bench-worker") -> Any:
    """Start ``tierflow worker`` against the stack's servers; return its ManagedProcess.

    A worker of its own (as deployed) has its own GIL: the bench process then only drives load.
    Several run side by side under names of their own (``name``: its pidfile and log).
    """
    settings = stack.settings()
    env = {
        "TIERFLOW_WORKER_METRICS_PORT": str(settings.worker_metrics_port),
        "TIERFLOW_WORKER_SDK_METRICS_PORT": str(settings.worker_sdk_metrics_port),
    }
    port = settings.worker_metrics_port
    return start_tierflow_process(stack, settings, "worker", env, port, name=name)


def worker_env(stack: BenchStack, settings: Settings) -> dict[str, str]:
    """The environment that points a process's ``get_settings()`` at the stack's servers."""
    env = {
        "TIERFLOW_HOME": str(stack.home),
        "TIERFLOW_TEMPORAL_ADDRESS": settings.temporal_address,
        "TIERFLOW_KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "TIERFLOW_TASK_QUEUE": settings.task_queue,
        "TIERFLOW_DATABASE_URL": settings.database_url,
        "TIERFLOW_KAFKA_REPLICATION_FACTOR": str(settings.kafka_replication_factor),
        "TIERFLOW_KAFKA_MIN_INSYNC_REPLICAS": str(settings.kafka_min_insync_replicas),
    }
    if settings.policy_file is not None:
        env["TIERFLOW_POLICY_FILE"] = str(settings.policy_file)
    return env


def start_tierflow_process(
    stack: BenchStack,
    settings: Settings,
    command: str,
    env: dict[str, str],
    health_port: int,
    name: str | None = None,
) -> Any:
    """Start ``tierflow <command>`` on the stack's servers; return it once /healthz answers."""
    from tierflow_dev.devstack.procs import ManagedProcess, wait_until

    env = worker_env(stack, settings) | env
    proc = ManagedProcess(
        name=name or f"bench-{command}",
        argv=[sys.executable, "-m", "tierflow.cli", command],
        home=stack.home,
        env=env,
        cwd=stack.home,  # no stray .env from the caller's folder
    )
    proc.start()
    url = f"http://127.0.0.1:{health_port}/healthz"

    def ready() -> bool:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return bool(resp.status == 200)

    wait_until(ready, 120, f"tierflow {command} /healthz", log=proc.log_path, alive=proc.is_running)
    return proc


@asynccontextmanager
async def bare_worker(
    client: Any, task_queue: str, same: Sequence[Slot] = (), settings: Settings | None = None
) -> AsyncIterator[Any]:
    """Run the bare baseline worker in this process: no-op activities, and with ``same`` (the
    calibration's local activities) the project's real ones on ``settings``' servers."""
    from temporalio.worker import Worker

    from tierflow_dev.bench.bare import BareTimerWorkflow, BareWorkflow, noop, stamp
    from tierflow_dev.bench.same_activities import SameActivities
    from workers.worker import build_activities

    async with AsyncExitStack() as stack:
        activities: list[Any] = [noop, stamp]
        if same:
            assert settings is not None, "the real activities need the stack's settings"
            parts = await stack.enter_async_context(worker_parts(client, settings))
            repeat = SameActivities(build_activities(parts), list(same))
            activities += [repeat.admit, repeat.record]
        executor = stack.enter_context(ThreadPoolExecutor(max_workers=32))
        worker = Worker(
            client,
            task_queue=task_queue,
            workflows=[BareWorkflow, BareTimerWorkflow],
            activities=activities,
            activity_executor=executor,
            max_concurrent_activities=32,
        )
        async with worker:
            yield worker


Calibrate = Callable[[Any], Awaitable[list["Slot"]]]


@asynccontextmanager
async def side_by_side(
    stack: BenchStack, workers: int = 0, calibrate: Calibrate | None = None
) -> AsyncIterator[tuple[Any, str]]:
    """Migrate, connect, run the project's and the bare baseline's workers in this process,
    or with ``workers``, that many worker processes of each (``worker_procs``).

    ``calibrate`` runs a lifecycle through the project's worker and returns its local
    activities, which the bare baseline then repeats (``same_activities``); without it the
    baseline's activities are no-ops. Yield the client and the bare baseline's task queue.
    """
    from tierflow.db.migrate import upgrade

    upgrade(stack.database_url)
    client = await connect(stack)
    slots = await calibrate(client) if calibrate is not None else []
    bare_queue = f"{stack.task_queue}-bare-{run_id()}"  # one per run: no stale pollers
    if workers:
        from tierflow_dev.bench.worker_procs import start_workers, stop_workers

        await start_workers(stack, workers, bare_queue, slots)
        try:
            yield client, bare_queue
        finally:
            await asyncio.to_thread(stop_workers, stack)
        return
    settings = stack.settings()
    async with (
        project_worker(stack, client),
        bare_worker(client, bare_queue, slots, settings),
    ):
        yield client, bare_queue


async def gather_limited(
    coros: Iterable[Any], limit: int, advance: Any = None, return_exceptions: bool = False
) -> list[Any]:
    """Await coroutines with at most ``limit`` in flight; return results in order."""
    sem = asyncio.Semaphore(limit)

    async def one(coro: Any) -> Any:
        async with sem:
            result = await coro
        if advance is not None:
            advance()
        return result

    return await asyncio.gather(*(one(c) for c in coros), return_exceptions=return_exceptions)


async def paced(coros: Iterable[Awaitable[Any]], rate: float, advance: Any = None) -> list[Any]:
    """Start one coroutine every ``1 / rate`` seconds, not waiting for the last; return results.

    A fixed offered load, as opposed to ``gather_limited``'s fixed concurrency.
    """
    began = time.monotonic()
    tasks: list[asyncio.Future[Any]] = []
    for i, coro in enumerate(coros):
        wait = began + i / rate - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        task = asyncio.ensure_future(coro)
        if advance is not None:
            task.add_done_callback(lambda _t: advance())
        tasks.append(task)
    return await asyncio.gather(*tasks)


def clock() -> float:
    return time.perf_counter()


# The bench acts as an admin: every request is in its scope and every step is its to take (a
# supervisor does not take a unit's own steps), so the lifecycle and scale scenarios can take
# any caseworker action on any request.
OPERATOR = Actor(id="bench-operator", role=Role.ADMIN)
