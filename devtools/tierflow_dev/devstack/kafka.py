"""A real KRaft Kafka node from Maven-resolved jars (no Docker, no release .tgz).

See docs/kafka-local.md: Maven copies ``kafka_2.13`` and its runtime dependencies into a
per-machine cache; each node runs as a combined broker+controller under the stack's home.
Alone it is the development broker (``--standalone`` quorum, replication 1); with ``voters``
it is one member of a static quorum (``tierflow_dev.devstack.kafka_cluster``), and the
internal topics get the production replication (3, min ISR 2).
"""

from __future__ import annotations

import base64
import functools
import re
import shutil
import subprocess
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from kafka import KafkaAdminClient

from tierflow.constants import TOPIC_CONFIGS
from tierflow_dev.devstack import jvm
from tierflow_dev.devstack.procs import (
    ManagedProcess,
    StackError,
    cache_lock,
    ensure_port_free,
    port_in_use,
    wait_until,
)
from tierflow_dev.devstack.topology import KAFKA_MIN_INSYNC_REPLICAS, KAFKA_REPLICATION_FACTOR
from tierflow_dev.paths import DEPLOY_DIR

POM = DEPLOY_DIR / "kafka" / "pom.xml"
MARKER = ".resolved"
NODE_ID = 1
PRODUCTION_REPLICATION = KAFKA_REPLICATION_FACTOR  # replicas of every partition in a cluster
PRODUCTION_MIN_ISR = KAFKA_MIN_INSYNC_REPLICAS  # in-sync replicas an acks=all write needs there
FATAL_LINE = "Exiting Kafka due to fatal exception"

LOG4J2 = """\
status = warn
shutdownHook = disable
appender.out.type = Console
appender.out.name = STDOUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = STDOUT
# The config dumps at start are thousands of lines; keep warnings only.
logger.config.name = org.apache.kafka.common.config.AbstractConfig
logger.config.level = WARN
logger.state.name = state.change.logger
logger.state.level = WARN
"""


def kafka_version() -> str:
    """Return the Kafka version the pom resolves (the pom is the single source of truth)."""
    if not POM.exists():
        raise StackError(f"{POM} not found: the local Kafka broker needs a source checkout")
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    node = ET.parse(POM).getroot().find("m:properties/m:kafka.version", ns)
    if node is None or not node.text:
        raise StackError(f"{POM} has no <kafka.version> property")
    return node.text.strip()


def check_java() -> str:
    """Return the java executable if it is Java 17 or newer; raise StackError otherwise."""
    hint = "install openjdk-17-jre-headless (apt-get install openjdk-17-jre-headless) or newer"
    java = shutil.which("java")
    if java is None:
        raise StackError(f"Java 17+ not found: {hint}")
    major = _java_major(java)
    if major is None:
        raise StackError(f"Java 17+ not found (cannot read `java -version`): {hint}")
    if major < 17:
        raise StackError(f"Java 17+ not found (found Java {major} at {java}): {hint}")
    return java


@functools.cache
def _java_major(java: str) -> int | None:
    """The major version ``java -version`` reports, asked once per process and executable
    (each is a JVM start of its own)."""
    out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30)
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if match is None:
        return None
    major = int(match.group(1))
    if major == 1 and match.group(2):  # "1.8.0_392" style
        major = int(match.group(2))
    return major


def resolve_kafka_jars(cache_dir: Path | None = None) -> Path:
    """Copy the broker jars into a per-machine cache once; return the folder holding them."""
    cache = cache_dir or Path.home() / ".cache" / "tierflow" / f"kafka-{kafka_version()}"
    if (cache / MARKER).exists():
        return cache
    check_java()
    mvn = shutil.which("mvn")
    if mvn is None:
        raise StackError("Maven (mvn) not found: install it (apt-get install maven) to fetch Kafka")
    with cache_lock(cache):
        if (cache / MARKER).exists():
            return cache
        argv = [mvn, "-q", "-B", "-f", str(POM), "dependency:copy-dependencies"]
        argv += ["-DincludeScope=runtime", f"-DoutputDirectory={cache}"]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            tail = "\n".join((done.stdout + done.stderr).splitlines()[-20:])
            raise StackError(f"mvn could not resolve the Kafka jars into {cache}:\n{tail}")
        jars = sorted(p.name for p in cache.glob("*.jar"))
        (cache / MARKER).write_text("\n".join(jars) + "\n")
    return cache


def new_cluster_id() -> str:
    """Return a random cluster id in Kafka's format (URL-safe base64 of 16 bytes, no '-' first)."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):
            return text


def read_properties(path: Path) -> dict[str, str]:
    """Parse a Java .properties file of simple ``key=value`` lines."""
    props: dict[str, str] = {}
    for line in path.read_text(errors="replace").splitlines():
        line = line.strip()
        if line and not line.startswith(("#", "!")) and "=" in line:
            key, value = line.split("=", 1)
            props[key.strip()] = value.strip()
    return props


def replication_for(cluster_size: int) -> tuple[int, int]:
    """Return (replication factor, min in-sync replicas) for a cluster of this many brokers."""
    replication = min(PRODUCTION_REPLICATION, cluster_size)
    return replication, min(PRODUCTION_MIN_ISR, replication)


def ensure_topics(
    bootstrap: str,
    topics: dict[str, int],
    replication_factor: int = 1,
    min_insync_replicas: int = 1,
) -> None:
    """Create missing topics (partitions, replicas, min ISR); wait until all have leaders."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="tierflow-devstack")
    try:
        missing = {t: n for t, n in topics.items() if t not in set(admin.list_topics())}
        if missing:
            spec = {
                t: {
                    "num_partitions": n,
                    "replication_factor": replication_factor,
                    "configs": {
                        "min.insync.replicas": str(min_insync_replicas),
                        **TOPIC_CONFIGS.get(t, {}),
                    },
                }
                for t, n in missing.items()
            }
            result = admin.create_topics(spec, raise_errors=False)
            for topic in result["topics"]:
                if topic["error_code"] not in (0, 36):  # 36: created meanwhile by another
                    raise StackError(
                        f"cannot create Kafka topic {topic['name']}: {topic['error_message']}"
                    )
        admin.wait_for_topics(list(topics), timeout_ms=30_000)
    finally:
        admin.close()


@dataclass
class KafkaBroker:
    """One combined broker+controller KRaft node with its data, config and log under ``home``.

    Alone (no ``voters``) it forms its own quorum; a cluster's nodes share ``voters`` (node id
    -> controller port of every member) and ``cluster_id``, and each has its own ``name``
    (folder, pidfile and log under ``home``) and ports. A node listens on ``host``
    (``127.0.0.1`` unless told), its peers' controllers are at ``voter_hosts`` (the same by
    default), and with ``netns`` it runs in that network namespace (``ip netns exec``), a host
    of its own whose link a fault test can cut.
    """

    home: Path
    port: int = 9092
    controller_port: int = 9093
    heap: str = "384m"
    jars_dir: Path | None = None  # None: resolve_kafka_jars() default cache
    # Extra listeners named by their security protocol (e.g. {"SASL_SSL": 9094}) and extra
    # server.properties lines (their SSL/SASL settings); both empty by default.
    extra_listeners: dict[str, int] = field(default_factory=dict)
    extra_properties: dict[str, str] = field(default_factory=dict)
    node_id: int = NODE_ID
    name: str = "kafka"
    voters: dict[int, int] = field(default_factory=dict)
    cluster_id: str | None = None  # None: the stored one, or a new one at the first format
    host: str = "127.0.0.1"
    voter_hosts: dict[int, str] = field(default_factory=dict)  # node id -> host (default host)
    netns: str | None = None
    # the class archive this broker's JVM writes when it exits, and where (the first only)
    _writes: tuple[jvm.ClassArchive, Path] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    @property
    def kafka_dir(self) -> Path:
        return self.home / self.name

    @property
    def data_dir(self) -> Path:
        return self.kafka_dir / "data"

    @property
    def config_path(self) -> Path:
        return self.kafka_dir / "server.properties"

    @property
    def cluster_id_path(self) -> Path:
        return self.kafka_dir / "cluster.id"

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def process(self) -> ManagedProcess:
        return ManagedProcess(name=self.name, argv=[], home=self.home)

    @property
    def log_path(self) -> Path:
        return self.process.log_path

    def pid(self) -> int | None:
        return self.process.pid()

    def is_running(self) -> bool:
        return self.process.is_running()

    def healthy(self) -> bool:
        """Return True if the client port is open and a metadata request succeeds."""
        if not port_in_use(self.port, self.host):
            return False
        try:
            return bool(self._describe_cluster().get("brokers"))
        except Exception:  # noqa: BLE001 - any client failure means "not healthy"
            return False

    def start(self, timeout: float = 90) -> None:
        """Start the broker unless it already runs; return once it answers metadata requests."""
        offset = self.launch()
        self.wait_ready(timeout, offset)

    def launch(self) -> int | None:
        """Start the process without waiting; return where this start's log begins (None: ran).

        A cluster launches all its nodes first: none answers before a quorum is up.
        """
        self.home = self.home.resolve()
        if self.is_running():
            return None
        ensure_port_free(self.port, "the Kafka broker")
        ensure_port_free(self.controller_port, "the Kafka controller")
        for name, port in self.extra_listeners.items():
            ensure_port_free(port, f"the Kafka {name} listener")
        jars = self.jars_dir or resolve_kafka_jars()
        java = check_java()
        self._write_config()
        archive = jvm.ClassArchive(jars, java)
        if not self._check_data_dir():
            self._format(java, jars, archive.reads())
        options, part = archive.options()
        self._writes = None if part is None else (archive, part)
        argv = [*self._argv(java, jars, "kafka.Kafka", options), str(self.config_path)]
        if self.netns is not None:
            argv = ["ip", "netns", "exec", self.netns, *argv]
        proc = ManagedProcess(name=self.name, argv=argv, home=self.home)
        proc.log_path.parent.mkdir(parents=True, exist_ok=True)
        offset = proc.log_path.stat().st_size if proc.log_path.exists() else 0
        proc.start()
        return offset

    def wait_ready(self, timeout: float, offset: int | None = None) -> None:
        """Wait until the broker answers metadata requests; on failure stop it and say why."""
        what = f"Kafka broker at {self.bootstrap}"
        if offset is None:  # it was running already
            wait_until(self.healthy, timeout, what, self.log_path)
            return
        try:
            wait_until(self.healthy, timeout, what, self.log_path, alive=self.is_running)
        except StackError as exc:
            self.process.stop(timeout=10)
            raise StackError(self._diagnose(str(exc), offset)) from None

    def stop(self, timeout: float = 30) -> None:
        """Stop cleanly with SIGTERM (SIGKILL after ``timeout``)."""
        if self.process.stop(timeout):
            self._keep_archive()
            self._wait_ports_released()

    def kill(self) -> None:
        """SIGKILL the broker at once (chaos tests); the next start recovers its logs."""
        self.process.kill()
        self._keep_archive()
        self._wait_ports_released()

    def _keep_archive(self) -> None:
        if self._writes is not None:
            archive, part = self._writes
            archive.keep(part)
            self._writes = None

    def _wait_ports_released(self) -> None:
        # The JVM's leader thread turns zombie before its other threads close the sockets.
        ports = [self.port, self.controller_port, *self.extra_listeners.values()]

        def released() -> bool:
            return not any(port_in_use(p, self.host) for p in ports)

        wait_until(released, 15, f"Kafka ports {self.port}/{self.controller_port} to close")

    def reset(self) -> None:
        """Stop the broker and delete its data, config and cluster id (all topics are lost)."""
        self.stop()
        shutil.rmtree(self.kafka_dir, ignore_errors=True)

    def ensure_topics(self, topics: dict[str, int]) -> None:
        """Create missing topics with the given partition counts; wait until all have leaders."""
        ensure_topics(self.bootstrap, topics)

    def _describe_cluster(self) -> dict:
        admin = KafkaAdminClient(
            bootstrap_servers=self.bootstrap,
            client_id="tierflow-health",
            bootstrap_timeout_ms=3000,
            request_timeout_ms=3000,
        )
        try:
            return dict(admin.describe_cluster())
        finally:
            admin.close()

    def _argv(self, java: str, jars: Path, main: str, archive: list[str]) -> list[str]:
        log4j = self.kafka_dir / "log4j2.properties"
        return [
            java,
            f"-Xmx{self.heap}",
            *jvm.options(),
            *archive,
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={log4j}",
            "-cp",
            f"{jars}/*",
            main,
        ]

    def _write_config(self) -> None:
        self.kafka_dir.mkdir(parents=True, exist_ok=True)
        (self.kafka_dir / "log4j2.properties").write_text(LOG4J2)
        self.config_path.write_text(server_properties(self))

    def _corrupt(self, reason: str) -> StackError:
        return StackError(
            f"Kafka data folder {self.data_dir} is unusable: {reason}. Reset it with "
            f"`tierflow dev reset kafka`, or stop the stack and delete {self.kafka_dir} "
            "(all topics and offsets are lost)."
        )

    def _check_data_dir(self) -> bool:
        """Return True if the data folder is formatted and ours; raise if it is corrupt."""
        meta = self.data_dir / "meta.properties"
        if not meta.exists():
            if self.data_dir.exists() and any(self.data_dir.iterdir()):
                raise self._corrupt("it has files but no meta.properties")
            return False
        props = read_properties(meta)
        if props.get("node.id") != str(self.node_id) or not props.get("cluster.id"):
            raise self._corrupt(f"{meta} has no valid node.id={self.node_id} and cluster.id")
        stored = self.cluster_id or self.stored_cluster_id()
        if stored is None:
            self.cluster_id_path.write_text(props["cluster.id"] + "\n")
        elif stored != props["cluster.id"]:
            raise self._corrupt(
                f"its cluster id {props['cluster.id']} differs from {stored} "
                f"stored in {self.cluster_id_path}"
            )
        return True

    def stored_cluster_id(self) -> str | None:
        try:
            return self.cluster_id_path.read_text().strip() or None
        except OSError:
            return None

    def _format(self, java: str, jars: Path, archive: list[str]) -> None:
        cluster_id = self.cluster_id or self.stored_cluster_id() or new_cluster_id()
        self.cluster_id_path.write_text(cluster_id + "\n")
        argv = self._argv(java, jars, "kafka.tools.StorageTool", archive)
        argv += ["format", "-t", cluster_id, "-c", str(self.config_path)]
        if not self.voters:  # a static quorum (controller.quorum.voters) takes no flag
            argv.append("--standalone")
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            tail = "\n".join((done.stdout + done.stderr).splitlines()[-10:])
            raise self._corrupt(f"formatting failed:\n{tail}")

    def _diagnose(self, message: str, offset: int) -> str:
        """Add the broker's fatal error (from this start's part of the log) to ``message``."""
        try:
            with self.log_path.open("rb") as log:
                log.seek(offset)
                lines = log.read().decode(errors="replace").splitlines()
        except OSError:
            return message
        for i, line in enumerate(lines):
            if FATAL_LINE in line:
                cause = (lines[i + 1] if i + 1 < len(lines) else line).strip().rstrip(".")
                if str(self.data_dir) in cause or "meta.properties" in cause:
                    return str(self._corrupt(cause))
                return f"{message}; the broker said: {cause}"
        tail = "\n".join(lines[-5:])
        return f"{message}; last log lines:\n{tail}" if tail else message


def server_properties(broker: KafkaBroker) -> str:
    """Return server.properties for one combined KRaft node, replication sized to its cluster."""
    ctl = f"{broker.host}:{broker.controller_port}"
    replication, min_isr = (str(n) for n in replication_for(len(broker.voters) or 1))
    quorum = {"controller.quorum.bootstrap.servers": ctl}
    if broker.voters:
        hosts = broker.voter_hosts
        voters = ",".join(
            f"{n}@{hosts.get(n, broker.host)}:{port}" for n, port in sorted(broker.voters.items())
        )
        quorum = {"controller.quorum.voters": voters}
    settings = {
        "process.roles": "broker,controller",
        "node.id": str(broker.node_id),
        **quorum,
        "controller.listener.names": "CONTROLLER",
        "listeners": f"PLAINTEXT://{broker.bootstrap},CONTROLLER://{ctl}",
        "advertised.listeners": f"PLAINTEXT://{broker.bootstrap}",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "log.dirs": str(broker.data_dir.resolve()),
        "num.partitions": "1",
        "auto.create.topics.enable": "false",
        "default.replication.factor": replication,
        "min.insync.replicas": min_isr,
        "offsets.topic.replication.factor": replication,
        "offsets.topic.num.partitions": "3",
        "transaction.state.log.replication.factor": replication,
        "transaction.state.log.min.isr": min_isr,
        "transaction.state.log.num.partitions": "3",
        "share.coordinator.state.topic.replication.factor": replication,
        "share.coordinator.state.topic.min.isr": min_isr,
        "share.coordinator.state.topic.num.partitions": "3",
        "group.initial.rebalance.delay.ms": "0",
        "log.cleaner.dedupe.buffer.size": str(4 * 1024 * 1024),
        "num.network.threads": "2",
        "num.io.threads": "2",
    }
    for name, port in broker.extra_listeners.items():
        settings["listeners"] += f",{name}://127.0.0.1:{port}"
        settings["advertised.listeners"] += f",{name}://127.0.0.1:{port}"
        settings["listener.security.protocol.map"] += f",{name}:{name}"
    settings.update(broker.extra_properties)
    return "".join(f"{k}={v}\n" for k, v in settings.items())
