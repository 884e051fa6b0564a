"""The whole local stack: Temporal dev server, Kafka, the database and the four processes."""

from __future__ import annotations

import asyncio
import shutil
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from tierflow import constants
from tierflow.settings import Settings
from tierflow_dev.devstack.procs import (
    ManagedProcess,
    StackError,
    ports_taken,
    stop_apps,
    wait_until,
)
from tierflow_dev.devstack.temporal import TemporalDevServer, find_temporal_cli

PROCESS_NAMES = ("worker", "ingress", "notifier", "api")
# The notifier of the local stack runs with its own SMTP sink (tierflow_dev.devstack.notifier_dev)
# and mails at once rather than at the next working hours, so the demo shows them going out.
COMMANDS = {"notifier": ["-m", "tierflow_dev.devstack.notifier_dev"]}
NOTIFIER_ENV = {"TIERFLOW_NOTIFIER_WORKING_HOURS_ONLY": "false"}
COMPONENTS = ("temporal", "kafka", "db", *PROCESS_NAMES)
RESETTABLE = ("temporal", "kafka", "db", "all")


@dataclass(frozen=True)
class ComponentStatus:
    """One row of ``tierflow dev status``."""

    name: str
    pid: int | None
    healthy: bool
    address: str
    log: Path | None = None
    detail: str = ""

    @property
    def running(self) -> bool:
        return self.pid is not None


def split_host_port(address: str, default_port: int) -> tuple[str, int]:
    """Return (host, port) of the first entry of ``host:port[,host:port...]``."""
    first = address.split(",")[0].strip()
    host, _, port = first.rpartition(":")
    if not host:
        return first or "127.0.0.1", default_port
    return host, int(port)


def http_ok(url: str, timeout: float = 2.0) -> bool:
    """Return True if GET ``url`` answers 200."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - local URL
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def settings_env(settings: Settings) -> dict[str, str]:
    """Return TIERFLOW_* variables that make a child process see the same settings."""
    env: dict[str, str] = {"PYTHONUNBUFFERED": "1"}
    for name, value in settings.model_dump().items():
        if value is None or value == "":
            continue
        if isinstance(value, Path):
            value = value.resolve()
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
            if not value:
                continue
        env[f"TIERFLOW_{name.upper()}"] = str(value)
    env["TIERFLOW_HOME"] = str(settings.home.resolve())
    env["TIERFLOW_DATABASE_URL"] = settings.resolved_database_url
    return env


def publish_submit_commands(bootstrap: str, requests: list[Any]) -> int:
    """Publish one structured-mode submit CloudEvent per RequestInput, keyed by request id.

    The event id derives from the request id, so a repeated ``up --demo`` is deduplicated
    downstream instead of creating twins.
    """
    from kafka import KafkaProducer

    from schemas.events import SUBMIT, command_event

    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", client_id="tierflow-dev-up")
    try:
        for request in requests:
            event = command_event(
                SUBMIT,
                request.model_dump(mode="json"),
                source="/tierflow/devstack",
                subject=request.request_id,
                event_id=f"demo-submit-{request.request_id}",
            )
            producer.send(
                constants.COMMANDS_TOPIC,
                key=request.request_id.encode(),
                value=event.to_json_bytes(),
            )
        producer.flush(timeout=30)
    finally:
        producer.close(timeout=10)
    return len(requests)


@dataclass(frozen=True)
class AppProcess:
    """A tierflow console process and where it answers /healthz."""

    process: ManagedProcess
    host: str
    port: int

    @property
    def name(self) -> str:
        return self.process.name

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def health_url(self) -> str:
        return f"{self.url}/healthz"

    def healthy(self) -> bool:
        return self.process.is_running() and http_ok(self.health_url)


def start_app(app: AppProcess, timeout: float, echo: Callable[[str], None]) -> str:
    """Start one process unless it is healthy already; wait for its /healthz.

    A process that exits before it is ready is started once more (a port another
    process held for a moment, say); its log keeps both runs' output.
    """
    pid = app.process.pid()
    if pid is not None and app.healthy():
        return f"{app.name} already running (pid {pid})"
    for attempt in (1, 2):
        pid = app.process.start()
        try:
            wait_until(
                lambda: http_ok(app.health_url),
                timeout,
                f"{app.name} (pid {pid}, {app.health_url})",
                log=app.process.log_path,
                alive=app.process.is_running,
            )
        except StackError:
            if attempt == 2 or app.process.is_running():
                raise  # it failed twice, or is running but never became ready
            echo(f"{app.name} (pid {pid}) exited before it was ready; starting it again")
            continue
        break
    return f"{app.name} started (pid {pid}) at {app.url}"


def walk_demo(settings: Settings, temporal_address: str, n: int) -> str:
    """Let demo caseworkers and supervisors take work-order steps on ``n`` demo requests."""
    from tierflow.temporal_client import connect_temporal
    from tierflow_dev.demo import demo_requests
    from tierflow_dev.demo_desk import walk

    async def run() -> str:
        client = await connect_temporal(
            temporal_address, settings.temporal_namespace, settings=settings
        )
        taken = await walk(client, [r.request_id for r in demo_requests(n)])
        steps = ", ".join(f"{kind} {count}" for kind, count in sorted(taken.items()))
        return f"demo work-order steps taken: {steps or 'none'}"

    return asyncio.run(run())


class LocalStack:
    """Start, stop, inspect and reset the local stack; all state lives under ``settings.home``."""

    def __init__(self, settings: Settings, echo: Callable[[str], None] | None = None) -> None:
        self.settings = settings
        self.home = settings.home.resolve()
        self.echo = echo or (lambda _msg: None)
        _, temporal_port = split_host_port(settings.temporal_address, 7233)
        self.temporal = TemporalDevServer(
            self.home,
            port=temporal_port,
            ui_port=settings.temporal_ui_port,
            namespace=settings.temporal_namespace,
        )
        env = settings_env(settings)
        ports = {
            "worker": ("127.0.0.1", settings.worker_metrics_port),
            "ingress": ("127.0.0.1", settings.ingress_metrics_port),
            "notifier": ("127.0.0.1", settings.notifier_metrics_port),
            "api": (settings.api_host, settings.api_port),
        }
        self.apps = {
            name: AppProcess(
                ManagedProcess(
                    name,
                    [sys.executable, *COMMANDS.get(name, ["-m", "tierflow.cli", name])],
                    self.home,
                    {**env, **NOTIFIER_ENV} if name == "notifier" else env,
                ),
                host,
                port,
            )
            for name, (host, port) in ports.items()
        }

    # -- components -------------------------------------------------------------------------

    @property
    def kafka_port(self) -> int:
        return split_host_port(self.settings.kafka_bootstrap_servers, 9092)[1]

    @cached_property
    def kafka(self) -> Any:
        """The Kafka broker (imported late: the module may be absent in a partial checkout)."""
        from tierflow_dev.devstack.kafka import KafkaBroker

        return KafkaBroker(
            self.home,
            port=self.kafka_port,
            controller_port=self.settings.kafka_controller_port,
            heap=self.settings.kafka_heap,
        )

    @property
    def database_url(self) -> str:
        return self.settings.resolved_database_url

    @property
    def sqlite_path(self) -> Path | None:
        """Return the SQLite file of the read model, or None for a server database."""
        prefix = "sqlite:///"
        url = self.database_url
        return Path(url[len(prefix) :]) if url.startswith(prefix) else None

    @property
    def api_url(self) -> str:
        return self.apps["api"].url

    @property
    def kafka_bootstrap(self) -> str:
        return self.settings.kafka_bootstrap_servers

    # -- checks -----------------------------------------------------------------------------

    def preflight(self, with_processes: bool = True) -> None:
        """Raise one StackError listing every missing tool and taken port; check before starting."""
        problems: list[str] = []
        try:
            find_temporal_cli()
        except StackError as exc:
            problems.append(str(exc))
        kafka_running = self._kafka_running()
        if not kafka_running:
            try:
                from tierflow_dev.devstack.kafka import check_java

                check_java()  # the broker's own check: the same `java` it will run
            except (StackError, ImportError) as exc:
                problems.append(str(exc))
        wanted: list[tuple[int, str]] = []
        if not self.temporal.is_running():
            wanted += [(self.temporal.port, "temporal"), (self.temporal.ui_port, "temporal UI")]
        if not kafka_running:
            wanted += [(self.kafka_port, "kafka"), (self.settings.kafka_controller_port, "kafka")]
        if with_processes:
            wanted += [(a.port, a.name) for a in self.apps.values() if not a.process.is_running()]
            if not self.apps["notifier"].process.is_running():
                wanted.append((self.settings.smtp_port, "the notifier's SMTP sink"))
        problems += ports_taken(wanted)
        if problems:
            raise StackError("local stack cannot start:\n  - " + "\n  - ".join(problems))

    def _kafka_running(self) -> bool:
        try:
            return bool(self.kafka.is_running())
        except ImportError:
            return False

    # -- lifecycle --------------------------------------------------------------------------

    def up(self, demo: int = 0, with_processes: bool = True, timeout: float = 90) -> list[str]:
        """Start what is not running, in dependency order, then submit ``demo`` requests."""
        messages: list[str] = []

        def say(msg: str) -> None:
            messages.append(msg)
            self.echo(msg)

        self.preflight(with_processes)
        self.home.mkdir(parents=True, exist_ok=True)

        pid = self.temporal.pid()
        if pid is not None:
            self.temporal.start(timeout=timeout)
            say(f"temporal already running (pid {pid})")
        else:
            pid = self.temporal.start(timeout=timeout)
            say(f"temporal started (pid {pid}) at {self.temporal.address}")

        if self.kafka.is_running():
            say(f"kafka already running at {self.kafka.bootstrap}")
        else:
            self.kafka.start(timeout=timeout)
            say(f"kafka started at {self.kafka.bootstrap}")
        self.ensure_topics()

        from tierflow.db.migrate import upgrade

        upgrade(self.database_url)
        say(f"database migrated ({self._db_label()})")

        if with_processes:
            for app in self.apps.values():
                say(self.start_app(app, timeout))
        if demo:
            say(f"submitted {self.submit_demo(demo)} demo requests to {constants.COMMANDS_TOPIC}")
            if with_processes:
                say(self.walk_demo(demo))
        return messages

    def ensure_topics(self) -> None:
        """Create tierflow's topics, replicated as the settings say (1 on one broker)."""
        from tierflow_dev.devstack.kafka import ensure_topics

        settings = self.settings
        replication = (settings.kafka_replication_factor, settings.kafka_min_insync_replicas)
        ensure_topics(self.kafka_bootstrap, constants.TOPICS, *replication)

    def start_app(self, app: AppProcess, timeout: float = 60) -> str:
        """Start one process unless it is healthy already; wait for its /healthz."""
        return start_app(app, timeout, self.echo)

    def down(self, timeout: float = 20.0) -> list[str]:
        """Stop tierflow's processes, then Kafka and Temporal (SIGTERM, SIGKILL after
        ``timeout``); keep data."""
        stopped = stop_apps({name: app.process for name, app in self.apps.items()}, timeout)
        try:
            if self.kafka.is_running():
                self.kafka.stop()
                stopped.append("kafka")
        except ImportError:
            pass
        if self.temporal.stop(timeout):
            stopped.append("temporal")
        for name in stopped:
            self.echo(f"{name} stopped")
        return stopped

    def submit_demo(self, n: int) -> int:
        """Publish ``n`` demo submit commands to the commands topic; return how many were sent."""
        from tierflow_dev.demo import demo_requests

        return publish_submit_commands(self.kafka_bootstrap, demo_requests(n))

    def walk_demo(self, n: int) -> str:
        """Let demo caseworkers and supervisors take work-order steps on the demo requests."""
        return walk_demo(self.settings, self.temporal.address, n)

    # -- inspection -------------------------------------------------------------------------

    def status(self) -> list[ComponentStatus]:
        """Return one row per component; nothing is started."""
        rows = [
            ComponentStatus(
                "temporal",
                self.temporal.pid(),
                self.temporal.healthy(),
                f"{self.temporal.address} (UI {self.temporal.ui_url})",
                self.temporal.log_path,
            ),
            self._kafka_status(),
            self._db_status(),
        ]
        for app in self.apps.values():
            pid = app.process.pid()
            healthy = pid is not None and http_ok(app.health_url)
            rows.append(ComponentStatus(app.name, pid, healthy, app.url, app.process.log_path))
        return rows

    def _kafka_status(self) -> ComponentStatus:
        log = self.home / "logs" / "kafka.log"
        try:
            broker = self.kafka
        except ImportError as exc:
            return ComponentStatus("kafka", None, False, self.kafka_bootstrap, log, str(exc))
        process = getattr(broker, "process", None)
        pid = process.pid() if process is not None else None
        running = bool(broker.is_running())
        healthy = running and bool(broker.healthy())
        log = getattr(process, "log_path", log)
        return ComponentStatus("kafka", pid, healthy, broker.bootstrap, log)

    def _db_label(self) -> str:
        from sqlalchemy.engine import make_url

        return make_url(self.database_url).render_as_string(hide_password=True)

    def _db_status(self) -> ComponentStatus:
        """The database is healthy when it answers and carries a migration revision."""
        label = self._db_label()
        path = self.sqlite_path
        if path is not None and not path.exists():
            return ComponentStatus("db", None, False, label, detail="not created yet")
        return revision_status(self.database_url, label)

    # -- data -------------------------------------------------------------------------------

    def reset(self, component: str) -> list[Path]:
        """Delete a stopped component's data (``temporal``, ``kafka``, ``db`` or ``all``)."""
        if component not in RESETTABLE:
            raise StackError(f"reset: unknown component {component!r}; use one of {RESETTABLE}")
        names = ("temporal", "kafka", "db") if component == "all" else (component,)
        running = [row.name for row in self.status() if row.running]
        blockers = {
            "temporal": {"temporal"},
            "kafka": {"kafka"},
            "db": set(PROCESS_NAMES),
        }
        busy = sorted({r for n in names for r in running if r in blockers[n]})
        if busy:
            raise StackError(f"reset {component}: stop {', '.join(busy)} first (tierflow dev down)")
        removed: list[Path] = []
        for name in names:
            removed += self._delete_data(name)
        return removed

    def _delete_data(self, name: str) -> list[Path]:
        if name == "temporal":
            targets = [self.temporal.db_path.parent]
        elif name == "kafka":
            targets = [self.kafka.kafka_dir]  # data, config and cluster id together
        else:
            path = self.sqlite_path
            if path is None:
                raise StackError(
                    f"reset db: {self._db_label()} is not the local SQLite file; "
                    "drop that database yourself"
                )
            targets = [path, Path(f"{path}-wal"), Path(f"{path}-shm")]
        removed = []
        for target in targets:
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
            else:
                continue
            removed.append(target)
        return removed


def revision_status(database_url: str, label: str) -> ComponentStatus:
    """The read model is healthy when its database answers and carries a migration revision."""
    try:
        from tierflow.db.migrate import current_revision

        revision = current_revision(database_url)
    except Exception as exc:  # noqa: BLE001 - report, do not crash the status table
        return ComponentStatus("db", None, False, label, detail=f"{type(exc).__name__}: {exc}")
    if revision is None:
        return ComponentStatus("db", None, False, label, detail="not migrated")
    return ComponentStatus("db", None, True, label, detail=f"revision {revision}")
