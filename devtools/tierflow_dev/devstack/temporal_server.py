"""Build ``deploy/temporal-server`` and run it as in production: PostgreSQL, a config file.

``deploy/temporal-server`` embeds ``go.temporal.io/server`` at the version its go.mod pins.
It is built once per source version (go.mod, go.sum and the Go files: the module checksums
decide) into a cache folder, so only the first build on a machine pays (``go build`` needs
the Go toolchain). The same binary serves the mTLS test server (``temporal_tls``).

:class:`TemporalPostgresServer` does what an SRE does on a real cluster, in order: create
the two databases and their schemas with the server's own SQL tool (``sql-tool``, the
schema files embedded in the module), start the server from
``deploy/temporal-server/config/postgres.yaml`` (settings through the environment variables
that file reads), wait until it serves, then create the namespace and register tierflow's
search attributes with the functions behind ``tierflow temporal setup``.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import socket
import subprocess
import time
from datetime import timedelta
from pathlib import Path

from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest, GetClusterInfoRequest
from temporalio.client import Client

from tierflow import constants
from tierflow.temporal_setup import (
    SearchAttributesRegistered,
    ensure_namespace,
    register_search_attributes,
    wait_search_attributes_usable,
)
from tierflow_dev.devstack.postgres import SUPERUSER, PostgresServer
from tierflow_dev.devstack.procs import (
    ManagedProcess,
    ServerProcess,
    StackError,
    cache_lock,
    ensure_port_free,
    free_port,
    reserve_port,
    wait_until,
)
from tierflow_dev.devstack.temporal import run_async
from tierflow_dev.devstack.topology import TEMPORAL_CONFIG, TEMPORAL_HISTORY_SHARDS
from tierflow_dev.paths import DEPLOY_DIR

SOURCE_DIR = DEPLOY_DIR / "temporal-server"
CONFIG_FILE = TEMPORAL_CONFIG
BINARY_NAME = "temporal-server"
# -s -w: no symbol tables, a third smaller binary and a faster link; -trimpath: no local paths.
BUILD_FLAGS = ("-trimpath", "-mod=readonly", "-ldflags=-s -w")
SYSTEM_NAMESPACE = "temporal-system"  # the server creates it at start
# The schemas the SQL tool sets up, one database each (names embedded in the module).
SCHEMAS = ("postgresql/v12/temporal", "postgresql/v12/visibility")
# The SQL stores keep each member's ports in a smallint column (cluster_membership.rpc_port):
# a service port above 32767 makes the server fail at start. Linux hands out ephemeral ports
# from 32768 up, so free ports are picked below that.
PORT_RANGE = (20000, 32767)
# The config file's port variables besides the frontend's gRPC port.
SERVICE_PORTS = (
    "FRONTEND_HTTP_PORT",
    "FRONTEND_MEMBERSHIP_PORT",
    "HISTORY_GRPC_PORT",
    "HISTORY_MEMBERSHIP_PORT",
    "MATCHING_GRPC_PORT",
    "MATCHING_MEMBERSHIP_PORT",
    "WORKER_GRPC_PORT",
    "WORKER_MEMBERSHIP_PORT",
)


def find_go() -> Path:
    """Return the ``go`` command ($TIERFLOW_GO, PATH, /usr/local/go) or raise StackError."""
    for candidate in (os.environ.get("TIERFLOW_GO"), shutil.which("go"), "/usr/local/go/bin/go"):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    raise StackError(
        "go not found: install Go (see deploy/temporal-server/go.mod for the version) "
        "or set TIERFLOW_GO to the go binary"
    )


def source_files(source_dir: Path = SOURCE_DIR) -> list[Path]:
    """Return the files a build reads: go.mod, go.sum (the module checksums) and the Go code."""
    files = [source_dir / "go.mod", source_dir / "go.sum", *sorted(source_dir.glob("*.go"))]
    missing = [str(path) for path in files if not path.is_file()]
    if missing:
        raise StackError(f"missing: {', '.join(missing)}")
    return files


def source_hash(source_dir: Path = SOURCE_DIR) -> str:
    """Return a short hash of the build's inputs; a new hash means a new build."""
    digest = hashlib.sha256(" ".join(BUILD_FLAGS).encode())
    for path in source_files(source_dir):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def cache_dir() -> Path:
    """Return the folder that holds built binaries ($XDG_CACHE_HOME or ~/.cache)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "tierflow" / BINARY_NAME


def build_binary(source_dir: Path = SOURCE_DIR, timeout: float = 1800) -> Path:
    """Return the built server binary, running ``go build`` only if this source is new.

    Processes that need it at once (the test suite's workers) build it once: the others wait
    on a lock for the first one's binary. The seconds the build took are written next to the
    binary (``build-seconds``).
    """
    target = cache_dir() / source_hash(source_dir) / BINARY_NAME
    if target.is_file():
        return target
    go = find_go()
    with cache_lock(target.parent):
        if not target.is_file():
            _build(go, source_dir, target, timeout)
    return target


def _build(go: Path, source_dir: Path, target: Path, timeout: float) -> None:
    partial = target.with_name(f"{BINARY_NAME}.partial")  # under the lock: one build at a time
    started = time.monotonic()
    try:
        result = subprocess.run(
            [str(go), "build", *BUILD_FLAGS, "-o", str(partial), "."],
            cwd=source_dir,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        partial.unlink(missing_ok=True)
        raise StackError(f"go build of {source_dir} took over {timeout:.0f} s") from exc
    if result.returncode != 0:
        partial.unlink(missing_ok=True)
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-20:])
        raise StackError(f"go build of {source_dir} failed:\n{tail}")
    os.replace(partial, target)
    (target.parent / "build-seconds").write_text(f"{time.monotonic() - started:.1f}\n")


def free_service_port(taken: set[int]) -> int:
    """Return a TCP port in PORT_RANGE, free on 127.0.0.1 right now and not in ``taken``
    (which it joins), reserved on the host as ``procs.free_port`` reserves its picks: the
    range overlaps theirs, and another process's pick bound it first otherwise (a cluster
    member's "address already in use" in a parallel test run)."""
    for _ in range(200):
        port = random.randint(*PORT_RANGE)
        if port in taken:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        if not reserve_port(port):
            continue
        taken.add(port)
        return port
    raise StackError(f"no free TCP port found in {PORT_RANGE[0]}-{PORT_RANGE[1]}")


class TemporalPostgresServer(ServerProcess):
    """The Temporal server on PostgreSQL (persistence and SQL visibility), all services in
    one process, started from the production config file with its log under ``home/logs``.

    ``database`` and ``visibility_database`` are created on ``postgres`` if missing, so
    several servers can share one PostgreSQL under different names. With
    ``setup_namespace=False`` the start leaves the namespace and the search attributes to the
    caller (``tierflow temporal setup``, as an operator runs it).
    """

    stop_timeout = 30.0  # the databases stay

    def __init__(
        self,
        home: Path,
        postgres: PostgresServer,
        *,
        port: int | None = None,
        namespace: str = "default",
        history_shards: int = TEMPORAL_HISTORY_SHARDS,
        database: str = "temporal",
        visibility_database: str = "temporal_visibility",
        host: str = "127.0.0.1",
        search_attributes: dict[str, str] | None = None,
        binary: Path | None = None,
        config_file: Path = CONFIG_FILE,
        setup_namespace: bool = True,
    ) -> None:
        self.home = Path(home).resolve()
        self.postgres = postgres
        taken: set[int] = set()  # the ports picked so far, so none is picked twice
        self.port = port or free_service_port(taken)
        self.namespace = namespace
        self.history_shards = history_shards
        self.databases = {SCHEMAS[0]: database, SCHEMAS[1]: visibility_database}
        self.host = host
        self.search_attributes = dict(
            constants.SEARCH_ATTRIBUTES if search_attributes is None else search_attributes
        )
        self.binary = binary
        self.config_file = Path(config_file)
        self.setup_namespace = setup_namespace
        self.metrics_port = free_port()
        # Each service's gRPC and ringpop membership ports; the frontend's gRPC is self.port.
        self.ports = {
            "FRONTEND_GRPC_PORT": self.port,
            **{name: free_service_port(taken) for name in SERVICE_PORTS},
        }
        self.process = ManagedProcess(name=BINARY_NAME, argv=[], home=self.home, env=self.env())
        self.registered: SearchAttributesRegistered | None = None

    def env(self) -> dict[str, str]:
        """Return the environment variables the config file reads."""
        return {
            "BIND_ON_IP": self.host,
            "NUM_HISTORY_SHARDS": str(self.history_shards),
            "POSTGRES_SEEDS": "127.0.0.1",
            "DB_PORT": str(self.postgres.port),
            "POSTGRES_USER": SUPERUSER,
            "POSTGRES_PWD": "",
            "DBNAME": self.databases[SCHEMAS[0]],
            "VISIBILITY_DBNAME": self.databases[SCHEMAS[1]],
            "PROMETHEUS_ENDPOINT": f"{self.host}:{self.metrics_port}",
            "LOG_LEVEL": "warn",
            **{name: str(port) for name, port in self.ports.items()},
        }

    @property
    def metrics_url(self) -> str:
        return f"http://{self.host}:{self.metrics_port}/metrics"

    # ------------------------------------------------------------------ schema
    def sql_tool(self, binary: Path, database: str, *args: str) -> str:
        """Run the server's SQL tool on ``database``; return its output or raise StackError."""
        argv = [
            str(binary), "sql-tool",
            "--plugin", "postgres12",
            "--endpoint", "127.0.0.1",
            "--port", str(self.postgres.port),
            "--user", SUPERUSER,
            "--database", database,
            *args,
        ]  # fmt: skip
        done = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
        said = done.stdout + done.stderr
        if done.returncode != 0:
            raise StackError(f"sql-tool {' '.join(args)} on {database} failed:\n{said[-2000:]}")
        return said

    def setup_schema(self, binary: Path) -> None:
        """Create both databases if missing and bring their schemas to the module's newest."""
        for schema, database in self.databases.items():
            self.sql_tool(binary, database, "create-database", "--defaultdb", "postgres")
            self.sql_tool(binary, database, "setup-schema", "--version", "0.0")
            self.sql_tool(binary, database, "update-schema", "--schema-name", schema)

    # ------------------------------------------------------------------ lifecycle
    def start(self, timeout: float = 90) -> int:
        """Build if needed, set the schemas up, start, wait until it serves, then (unless told
        not to) create the namespace and register the search attributes; return the pid."""
        binary = self.binary or build_binary()
        if not self.is_running():
            for name, port in {**self.ports, "metrics": self.metrics_port}.items():
                ensure_port_free(port, f"temporal-server ({name})")
            self.setup_schema(binary)
            self.process.argv = [str(binary), "start", "--config-file", str(self.config_file)]
            self.process.start()
        wait_until(
            self._serving,
            timeout,
            f"temporal-server at {self.address}",
            log=self.log_path,
            alive=self.is_running,
        )
        if self.setup_namespace:
            self.registered = run_async(self._prepare_namespace(timeout))
        return self.running_pid()

    # ------------------------------------------------------------------ probes
    async def connect(self, namespace: str | None = None) -> Client:
        """Return a plain client of the frontend (no data converter: for probes and setup)."""
        return await Client.connect(
            self.address,
            namespace=namespace or self.namespace,
            connect_timeout=timedelta(seconds=3),
        )

    async def history_shard_count(self) -> int:
        """Return the shard count the cluster reports (GetClusterInfo)."""
        client = await self.connect()
        info = await client.workflow_service.get_cluster_info(GetClusterInfoRequest())
        return int(info.history_shard_count)

    def healthy(self) -> bool:
        """Return True if the process runs and the frontend answers a health check."""
        if not self.is_running():
            return False
        try:
            return self._serving()
        except Exception:  # noqa: BLE001 - any failure to answer means "not healthy"
            return False

    def _serving(self) -> bool:
        return run_async(self._probe())

    async def _probe(self) -> bool:
        client = await self.connect(SYSTEM_NAMESPACE)
        if not await client.service_client.check_health():
            return False
        await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace=SYSTEM_NAMESPACE)
        )
        return True

    async def _prepare_namespace(self, wait: float) -> SearchAttributesRegistered:
        client = await self.connect()
        await ensure_namespace(client, self.namespace)
        registered = await register_search_attributes(
            client, self.namespace, self.search_attributes
        )
        await wait_search_attributes_usable(client, self.namespace, self.search_attributes, wait)
        return registered
