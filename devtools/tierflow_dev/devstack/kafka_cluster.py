"""A Kafka cluster as production runs it: three KRaft nodes, replication 3, min ISR 2.

Every member is a :class:`KafkaBroker` (the one home of the broker config) on its own client
and controller ports, with its own folder, pidfile and log under ``home`` (``kafka-1`` ...).
The members are the three voters of a static controller quorum (combined broker+controller
nodes) and share one cluster id. Topics get replication 3 and ``min.insync.replicas=2``, so
an ``acks=all`` write is on two brokers before it is acknowledged and survives losing one.

A fault test kills one member with ``kill -9`` (:meth:`KafkaCluster.kill`), reads which member
leads a partition and which replicas are in sync (:meth:`KafkaCluster.partitions`), and
starts the member again on its own data (:meth:`KafkaCluster.restart`).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

from kafka import KafkaAdminClient
from kafka.errors import KafkaConnectionError

from tierflow_dev.devstack.kafka import (
    KafkaBroker,
    ensure_topics,
    new_cluster_id,
    replication_for,
)
from tierflow_dev.devstack.procs import StackError, free_port, wait_until
from tierflow_dev.devstack.topology import KAFKA_BROKERS

CLUSTER_SIZE = KAFKA_BROKERS


@dataclass(frozen=True)
class PartitionState:
    """Who leads one partition (-1: nobody), who holds it and who is in sync."""

    leader: int
    replicas: tuple[int, ...]
    isr: tuple[int, ...]


@dataclass
class KafkaCluster:
    """Three (or ``len(ports)``) combined KRaft nodes forming one cluster under ``home``."""

    home: Path
    ports: list[tuple[int, int]]  # (client, controller) of node 1, 2, ...
    heap: str = "384m"
    jars_dir: Path | None = None
    # node id -> the address it listens on (default 127.0.0.1) and the network namespace it
    # runs in (default none): a member on a host of its own, for a test that cuts its link
    hosts: dict[int, str] = field(default_factory=dict)
    netns: dict[int, str] = field(default_factory=dict)
    nodes: dict[int, KafkaBroker] = field(init=False)

    def __post_init__(self) -> None:
        voters = {node_id: ctl for node_id, (_, ctl) in enumerate(self.ports, 1)}
        hosts = {node_id: self.hosts.get(node_id, "127.0.0.1") for node_id in voters}
        self.nodes = {
            node_id: KafkaBroker(
                self.home,
                port=port,
                controller_port=ctl,
                heap=self.heap,
                jars_dir=self.jars_dir,
                node_id=node_id,
                name=f"kafka-{node_id}",
                voters=voters,
                host=hosts[node_id],
                voter_hosts=hosts,
                netns=self.netns.get(node_id),
            )
            for node_id, (port, ctl) in enumerate(self.ports, 1)
        }

    @classmethod
    def on_free_ports(cls, home: Path, size: int = CLUSTER_SIZE, heap: str = "384m") -> Self:
        """Return a cluster of ``size`` nodes on ports that are free right now."""
        ports: list[int] = []
        while len(ports) < 2 * size:  # free_port may hand out the same port twice in a row
            port = free_port()
            if port not in ports:
                ports.append(port)
        pairs = [(ports[2 * i], ports[2 * i + 1]) for i in range(size)]
        return cls(home, pairs, heap=heap)

    @property
    def bootstrap(self) -> str:
        return ",".join(node.bootstrap for node in self.nodes.values())

    @property
    def replication(self) -> tuple[int, int]:
        """(replication factor, min in-sync replicas) of the topics this cluster creates."""
        return replication_for(len(self.nodes))

    def start(self, timeout: float = 120) -> None:
        """Start every member not running; return once all answer and all are registered."""
        cluster_id = self._cluster_id()
        offsets = {}
        for node_id, node in self.nodes.items():
            node.cluster_id = cluster_id
            offsets[node_id] = node.launch()  # none answers before a quorum (two) is up
        try:
            for node_id, node in self.nodes.items():
                node.wait_ready(timeout, offsets[node_id])
            wait_until(self._all_registered, timeout, f"{len(self.nodes)} Kafka brokers")
        except StackError:
            self.stop(timeout=10)
            raise

    def stop(self, timeout: float = 30) -> None:
        """Stop every member at once (SIGTERM, SIGKILL after ``timeout``); keep the data."""
        with ThreadPoolExecutor(len(self.nodes)) as pool:
            list(pool.map(lambda node: node.stop(timeout), self.nodes.values()))

    def kill(self, node_id: int) -> None:
        """Kill -9 one member; return once its ports are closed."""
        self.nodes[node_id].kill()

    def restart(self, node_id: int, timeout: float = 120) -> None:
        """Start one member again on its own data; return once it answers metadata requests."""
        self.nodes[node_id].start(timeout)

    def ensure_topics(self, topics: dict[str, int]) -> None:
        """Create missing topics replicated as in production; wait until all have leaders."""
        ensure_topics(self.bootstrap, topics, *self.replication)

    def partitions(self, topic: str) -> dict[int, PartitionState]:
        """Return the leader, replicas and in-sync replicas of every partition of ``topic``."""
        admin = self.admin()
        try:
            for attempt in range(len(self.nodes)):
                try:  # a member just killed is still listed: its refusal sends us to another
                    described = admin.describe_topics([topic])
                    break
                except KafkaConnectionError:
                    if attempt == len(self.nodes) - 1:
                        raise
        finally:
            admin.close()
        return {
            p["partition_index"]: PartitionState(
                p["leader_id"], tuple(sorted(p["replica_nodes"])), tuple(sorted(p["isr_nodes"]))
            )
            for t in described
            if t["name"] == topic
            for p in t["partitions"]
        }

    def leader(self, topic: str, partition: int = 0) -> int:
        """Return the node id leading one partition (-1: none right now)."""
        return self.partitions(topic)[partition].leader

    def admin(self) -> KafkaAdminClient:
        """Return an admin client of the cluster (any live member answers)."""
        return KafkaAdminClient(
            bootstrap_servers=self.bootstrap,
            client_id="tierflow-devstack",
            request_timeout_ms=10_000,
        )

    def _all_registered(self) -> bool:
        admin = self.admin()
        try:
            return len(admin.describe_cluster()["brokers"]) == len(self.nodes)
        finally:
            admin.close()

    def _cluster_id(self) -> str:
        ids = (node.stored_cluster_id() for node in self.nodes.values())
        stored = {cluster_id for cluster_id in ids if cluster_id}
        if len(stored) > 1:
            raise StackError(
                f"the Kafka members under {self.home} carry different cluster ids {sorted(stored)}"
                f"; delete {self.home}/kafka-* to start the cluster afresh"
            )
        return stored.pop() if stored else new_cluster_id()
