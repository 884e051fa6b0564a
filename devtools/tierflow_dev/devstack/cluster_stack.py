"""The production topology on one machine: ``tierflow dev up --topology cluster``.

Every member runs as a process, configured as ``topology`` says (the one home of the
figures): one PostgreSQL server holding Temporal's two databases and tierflow's read model,
the Temporal server built from ``deploy/temporal-server`` on it (its namespace and search
attributes registered by ``tierflow temporal setup``, as an operator does), three KRaft
brokers with topics at replication 3 and ``min.insync.replicas`` 2 (tierflow's producers
send with ``acks=all``), then ``REPLICAS`` of each tierflow process: the workers, the
ingresses (one consumer group), the API replicas (one database) and the notifiers. The
first notifier carries the development SMTP sink (``notifier_dev``), the others send to it.

Everything lives under ``<home>/cluster``: data, pidfiles (``run/``), logs (``logs/``), and
``state.json`` with every member's ports, written before the first member starts and
removed by :meth:`ClusterStack.down`, so ``tierflow dev status`` and ``tierflow dev down``
find the cluster from any shell. The members a client meets first (Temporal's frontend,
broker 1, the first replica of each process, the SMTP sink) take the ports of the settings;
the others get free ports at ``up``. ``cluster.env`` there points other ``tierflow``
commands at the cluster (``set -a; . .tierflow/cluster/cluster.env; set +a``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from functools import cached_property, partial
from pathlib import Path
from typing import Any, Self

from tierflow import constants
from tierflow.settings import Settings
from tierflow_dev.devstack import topology
from tierflow_dev.devstack.kafka_cluster import KafkaCluster
from tierflow_dev.devstack.postgres import PostgresServer, find_pg_bin
from tierflow_dev.devstack.procs import (
    ManagedProcess,
    StackError,
    free_port,
    ports_taken,
    stop_apps,
    wait_until,
)
from tierflow_dev.devstack.stack import (
    COMMANDS,
    NOTIFIER_ENV,
    AppProcess,
    ComponentStatus,
    http_ok,
    publish_submit_commands,
    revision_status,
    settings_env,
    split_host_port,
    walk_demo,
)
from tierflow_dev.devstack.temporal_server import (
    BINARY_NAME,
    TemporalPostgresServer,
    build_binary,
    cache_dir,
    find_go,
    free_service_port,
    source_hash,
)

CLUSTER_DIR = "cluster"
STATE_FILE = "state.json"
ENV_FILE = "cluster.env"
KAFKA_STOP_SECONDS = 10.0  # from SIGTERM to SIGKILL of a broker at `dev down`
TIERFLOW_DATABASE = "tierflow"  # the read model; Temporal's two are the launcher's defaults
# The second metrics port of a worker (the Temporal SDK's), besides its /healthz port.
SDK_PORT_FIELD = "worker_sdk_metrics_port"
# The variables cluster.env sets for other tierflow commands.
ENV_FIELDS = (
    "temporal_address",
    "temporal_namespace",
    "kafka_bootstrap_servers",
    "kafka_replication_factor",
    "kafka_min_insync_replicas",
    "database_url",
)


def cluster_home(settings: Settings) -> Path:
    return settings.home.resolve() / CLUSTER_DIR


def member_names() -> list[tuple[str, str]]:
    """Return (kind, member name) of every tierflow process: ``worker-1``, ``worker-2`` ..."""
    return [(kind, f"{kind}-{i}") for kind, n in topology.REPLICAS.items() for i in range(1, n + 1)]


# the Settings ports a cluster's first members take (the others get free ports at ``up``)
PORT_FIELDS = (
    "kafka_controller_port",
    "api_port",
    "worker_metrics_port",
    "worker_sdk_metrics_port",
    "ingress_metrics_port",
    "notifier_metrics_port",
    "smtp_port",
)


def free_cluster_ports(home: Path) -> dict[str, Any]:
    """The settings of a cluster in ``home`` whose ports are all free right now (by name)."""
    taken: set[int] = set()

    def fresh() -> int:
        while (port := free_port()) in taken:  # free_port may repeat itself
            pass
        taken.add(port)
        return port

    return {
        "home": home,
        # a Temporal service port must stay below 32768 (see temporal_server.PORT_RANGE)
        "temporal_address": f"127.0.0.1:{free_service_port(set())}",
        "kafka_bootstrap_servers": f"127.0.0.1:{fresh()}",
        **{name: fresh() for name in PORT_FIELDS},
    }


def cluster_settings(home: Path, **overrides: Any) -> Settings:
    """Settings of a cluster in ``home`` on ports that are free right now."""
    return Settings(**{**free_cluster_ports(home), **overrides})


@dataclass
class ClusterPorts:
    """Every port of the cluster: what ``state.json`` records."""

    postgres: int
    temporal: int
    kafka: list[tuple[int, int]]  # (client, controller) of broker 1, 2, 3
    smtp: int
    members: dict[str, dict[str, int]] = field(default_factory=dict)  # name -> field -> port

    @classmethod
    def choose(cls, settings: Settings) -> Self:
        """The settings' ports for the first member of each kind, free ports for the rest."""
        defaults = settings.model_dump()
        firsts = [defaults[f] for f in (*topology.PROBE_PORT_FIELDS.values(), SDK_PORT_FIELD)]
        kafka_port = split_host_port(settings.kafka_bootstrap_servers, 9092)[1]
        temporal_port = split_host_port(settings.temporal_address, 7233)[1]
        taken = {*firsts, kafka_port, settings.kafka_controller_port, temporal_port}
        taken.add(settings.smtp_port)

        def fresh() -> int:
            while (port := free_port()) in taken:  # free_port may repeat itself
                pass
            taken.add(port)
            return port

        kafka = [(kafka_port, settings.kafka_controller_port)]
        kafka += [(fresh(), fresh()) for _ in range(topology.KAFKA_BROKERS - 1)]
        members: dict[str, dict[str, int]] = {}
        for kind, name in member_names():
            fields = [topology.PROBE_PORT_FIELDS[kind]]
            fields += [SDK_PORT_FIELD] if kind == "worker" else []
            first = name.endswith("-1")
            members[name] = {f: defaults[f] if first else fresh() for f in fields}
        return cls(fresh(), temporal_port, kafka, settings.smtp_port, members)

    @classmethod
    def read(cls, path: Path) -> Self | None:
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        data["kafka"] = [tuple(pair) for pair in data["kafka"]]
        return cls(**data)

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")


class ClusterStack:
    """Start, stop and inspect the cluster topology; all of it under ``<home>/cluster``."""

    def __init__(self, settings: Settings, echo: Callable[[str], None] | None = None) -> None:
        self.settings = settings
        self.home = cluster_home(settings)
        self.state_path = self.home / STATE_FILE
        self.echo = echo or (lambda _msg: None)

    # -- the members ------------------------------------------------------------------------

    def recorded(self) -> bool:
        """Return True if the cluster was brought up and not yet brought down."""
        return self.state_path.is_file()

    @cached_property
    def ports(self) -> ClusterPorts:
        return ClusterPorts.read(self.state_path) or ClusterPorts.choose(self.settings)

    @cached_property
    def postgres(self) -> PostgresServer:
        return PostgresServer(self.home, self.ports.postgres)

    @cached_property
    def temporal(self) -> TemporalPostgresServer:
        return TemporalPostgresServer(
            self.home,
            self.postgres,
            port=self.ports.temporal,
            namespace=self.settings.temporal_namespace,
            history_shards=topology.TEMPORAL_HISTORY_SHARDS,
            setup_namespace=False,  # `tierflow temporal setup` does it, as on a real cluster
        )

    @cached_property
    def kafka(self) -> KafkaCluster:
        return KafkaCluster(self.home, self.ports.kafka, heap=self.settings.kafka_heap)

    @property
    def database_url(self) -> str:
        return self.postgres.url(TIERFLOW_DATABASE)

    @cached_property
    def member_settings(self) -> Settings:
        """The settings every tierflow process of the cluster shares."""
        return self.settings.model_copy(
            update={
                "home": self.home,
                "temporal_address": f"127.0.0.1:{self.ports.temporal}",
                "kafka_bootstrap_servers": self.kafka.bootstrap,
                "kafka_replication_factor": topology.KAFKA_REPLICATION_FACTOR,
                "kafka_min_insync_replicas": topology.KAFKA_MIN_INSYNC_REPLICAS,
                "database_url": self.database_url,
                "smtp_port": self.ports.smtp,
            }
        )

    @cached_property
    def members(self) -> dict[str, AppProcess]:
        """Every tierflow process by member name, each on its own ports."""
        env = settings_env(self.member_settings)
        members = {}
        for kind, name in member_names():
            ports = self.ports.members[name]
            own = {f"TIERFLOW_{f.upper()}": str(port) for f, port in ports.items()}
            command = ["-m", "tierflow.cli", kind]
            if kind == "notifier":
                own.update(NOTIFIER_ENV)
                if name.endswith("-1"):  # the one that carries the SMTP sink
                    command = COMMANDS["notifier"]
            host = self.settings.api_host if kind == "api" else "127.0.0.1"
            process = ManagedProcess(name, [sys.executable, *command], self.home, {**env, **own})
            members[name] = AppProcess(process, host, ports[topology.PROBE_PORT_FIELDS[kind]])
        return members

    @property
    def api_urls(self) -> list[str]:
        return [m.url for name, m in self.members.items() if name.startswith("api-")]

    # -- lifecycle --------------------------------------------------------------------------

    def preflight(self) -> None:
        """Raise one StackError listing every missing tool and taken port; check before starting."""
        problems: list[str] = []
        for check in (find_pg_bin, self._check_java, self._check_temporal_binary):
            try:
                check()
            except StackError as exc:
                problems.append(str(exc))
        wanted: list[tuple[int, str]] = []
        if not self.postgres.process.is_running():
            wanted.append((self.ports.postgres, "postgres"))
        if not self.temporal.is_running():
            wanted.append((self.ports.temporal, "temporal"))
        for node_id, node in self.kafka.nodes.items():
            if not node.is_running():
                name = f"kafka-{node_id}"
                wanted += [(node.port, name), (node.controller_port, f"{name}'s controller")]
        for name, member in self.members.items():
            if not member.process.is_running():
                wanted += [(port, name) for port in self.ports.members[name].values()]
        if not self.members["notifier-1"].process.is_running():
            wanted.append((self.ports.smtp, "the notifiers' SMTP sink"))
        problems += ports_taken(wanted)
        if problems:
            raise StackError("the cluster cannot start:\n  - " + "\n  - ".join(problems))

    @staticmethod
    def _check_java() -> None:
        from tierflow_dev.devstack.kafka import check_java

        check_java()

    @staticmethod
    def _check_temporal_binary() -> None:
        if not (cache_dir() / source_hash() / BINARY_NAME).is_file():
            find_go()  # the first start builds the server

    def up(self, demo: int = 0, timeout: float = 180) -> list[str]:
        """Start every member that is not running, in dependency order; then ``demo`` requests."""
        messages: list[str] = []

        def say(msg: str) -> None:
            messages.append(msg)
            self.echo(msg)

        self.preflight()
        self.record()
        for line in self.start_engines(timeout):
            say(line)
        for line in self.start_members(timeout):
            say(line)
        if demo:
            from tierflow_dev.demo import demo_requests

            sent = publish_submit_commands(self.kafka.bootstrap, demo_requests(demo))
            say(f"submitted {sent} demo requests to {constants.COMMANDS_TOPIC}")
            say(walk_demo(self.member_settings, self.temporal.address, demo))
        return messages

    def record(self) -> None:
        """Write ``state.json`` and ``cluster.env``: from here on, ``down`` finds the members."""
        self.ports.write(self.state_path)
        self._write_env_file()

    def start_engines(self, timeout: float = 180) -> Iterator[str]:
        """Start PostgreSQL, the Temporal server (then ``tierflow temporal setup``) and the
        brokers with tierflow's topics, and migrate the read model; say each as it is done.

        The brokers need none of the others, so they start meanwhile, on a thread of their
        own. ``up`` starts the tierflow processes after them; ``tierflow bench --topology
        cluster`` runs its own workers on them.
        """
        with ThreadPoolExecutor(1, thread_name_prefix="kafka-start") as pool:
            brokers = pool.submit(self.kafka.start, timeout)
            try:
                yield from self._start_database_and_temporal(timeout)
            finally:
                brokers.result()  # a failure above still waits for them, then raises its own
        self.kafka.ensure_topics(constants.TOPICS)
        replication, min_isr = self.kafka.replication
        yield (
            f"kafka running: {len(self.kafka.nodes)} brokers at {self.kafka.bootstrap}, "
            f"topics at replication {replication}, min.insync.replicas {min_isr}"
        )

    def _start_database_and_temporal(self, timeout: float) -> Iterator[str]:
        self.postgres.start(timeout)
        self.postgres.ensure_database(TIERFLOW_DATABASE)
        yield f"postgres running (pid {self.postgres.process.pid()}) on port {self.ports.postgres}"

        if not (cache_dir() / source_hash() / BINARY_NAME).is_file():
            yield "building the Temporal server (the first build on a machine takes minutes)"
        self.temporal.binary = build_binary()
        pid = self.temporal.start(timeout)
        shards = topology.TEMPORAL_HISTORY_SHARDS
        yield f"temporal running (pid {pid}) at {self.temporal.address}, {shards} history shards"
        for line in self.temporal_setup(timeout):
            yield f"temporal setup: {line}"

        from tierflow.db.migrate import upgrade

        upgrade(self.database_url)
        yield f"database {TIERFLOW_DATABASE} migrated"

    def temporal_setup(self, timeout: float) -> list[str]:
        """Run ``tierflow temporal setup`` against the cluster; return what it printed."""
        argv = [sys.executable, "-m", "tierflow.cli", "temporal", "setup", "--wait", str(timeout)]
        env = {**os.environ, **settings_env(self.member_settings)}
        done = subprocess.run(
            argv, env=env, capture_output=True, text=True, timeout=timeout + 60, check=False
        )
        if done.returncode != 0:
            said = (done.stdout + done.stderr).strip().splitlines()
            raise StackError("tierflow temporal setup failed:\n" + "\n".join(said[-20:]))
        return [line for line in done.stdout.splitlines() if line.strip()]  # not its log lines

    def start_members(self, timeout: float) -> list[str]:
        """Start every tierflow process not healthy, all at once; wait for each /healthz.

        A member that exits before it is ready is started once more (a port another process
        held for a moment, say); its log keeps both runs' output.
        """
        said: list[str] = []
        starting: dict[str, int] = {}
        for name, member in self.members.items():
            pid = member.process.pid()
            if pid is not None and member.healthy():
                said.append(f"{name} already running (pid {pid})")
            else:
                starting[name] = member.process.start()
        for name, pid in starting.items():
            member = self.members[name]
            for attempt in (1, 2):
                try:
                    wait_until(
                        partial(http_ok, member.health_url),
                        timeout,
                        f"{name} (pid {pid}, {member.health_url})",
                        log=member.process.log_path,
                        alive=member.process.is_running,
                    )
                    break
                except StackError:
                    if attempt == 2 or member.process.is_running():
                        raise
                    self.echo(f"{name} (pid {pid}) exited before it was ready; starting it again")
                    pid = member.process.start()
            said.append(f"{name} started (pid {pid}) at {member.url}")
        return said

    def down(self, timeout: float = 20.0) -> list[str]:
        """Stop every member, tierflow's processes first (SIGTERM, SIGKILL after ``timeout``);
        keep the data. Return the names of those that were running."""
        if not self.recorded():
            return []
        stopped = stop_apps({n: m.process for n, m in self.members.items()}, timeout)
        for node_id, node in self.kafka.nodes.items():
            if node.is_running():
                stopped.append(f"kafka-{node_id}")
        # The last brokers to go lose their quorum and cannot finish a controlled shutdown;
        # their logs are recovered at the next start.
        self.kafka.stop(timeout=KAFKA_STOP_SECONDS)
        if self.temporal.stop():
            stopped.append("temporal")
        if self.postgres.stop():
            stopped.append("postgres")
        self.state_path.unlink(missing_ok=True)
        for name in stopped:
            self.echo(f"{name} stopped")
        return stopped

    def reset(self) -> Path | None:
        """Delete the cluster's data (all of ``<home>/cluster``) once nothing of it runs."""
        if self.recorded():
            running = [row.name for row in self.status() if row.running]
            if running:
                raise StackError(f"reset cluster: stop {', '.join(running)} first (dev down)")
        if not self.home.exists():
            return None
        shutil.rmtree(self.home)
        return self.home

    # -- inspection -------------------------------------------------------------------------

    def pids(self) -> dict[str, int]:
        """Return the pid of every member process that runs (the database has none)."""
        return {row.name: row.pid for row in self.status(probe=False) if row.pid is not None}

    def status(self, probe: bool = True) -> list[ComponentStatus]:
        """One row per member: postgres, temporal, each broker, the read model, each process.

        With ``probe`` a member is healthy when it answers (its /healthz, a Temporal health
        check, a Kafka metadata request, a migrated database); without, when it runs.
        """
        pg_pid = self.postgres.process.pid()
        pg_ok = pg_pid is not None and (not probe or self.postgres.answers())
        rows = [
            ComponentStatus(
                "postgres",
                pg_pid,
                pg_ok,
                f"127.0.0.1:{self.ports.postgres}",
                self.postgres.process.log_path,
            ),
            ComponentStatus(
                "temporal",
                self.temporal.process.pid(),
                self.temporal.healthy() if probe else self.temporal.is_running(),
                self.temporal.address,
                self.temporal.log_path,
                detail=f"{topology.TEMPORAL_HISTORY_SHARDS} history shards",
            ),
        ]
        for node_id, node in self.kafka.nodes.items():
            pid = node.pid()
            ok = pid is not None and (node.healthy() if probe else True)
            rows.append(ComponentStatus(f"kafka-{node_id}", pid, ok, node.bootstrap, node.log_path))
        if probe:
            rows.append(self._db_status(pg_ok))
        for name, member in self.members.items():
            pid = member.process.pid()
            ok = pid is not None and (http_ok(member.health_url) if probe else True)
            rows.append(ComponentStatus(name, pid, ok, member.url, member.process.log_path))
        return rows

    def _db_status(self, server_up: bool) -> ComponentStatus:
        """The read model is healthy when its database answers and carries a revision."""
        address = f"{TIERFLOW_DATABASE} on postgres"
        if not server_up:
            return ComponentStatus("db", None, False, address, detail="postgres is not up")
        return revision_status(self.database_url, address)

    def _write_env_file(self) -> None:
        values = self.member_settings.model_dump()
        lines = [f"TIERFLOW_{name.upper()}={values[name]}" for name in ENV_FIELDS]
        (self.home / ENV_FILE).write_text("\n".join(lines) + "\n")

    @property
    def env_file(self) -> Path:
        return self.home / ENV_FILE
