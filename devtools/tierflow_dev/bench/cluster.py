"""``tierflow bench ... --topology cluster``: the production topology's engines for a bench.

The engines are those ``tierflow dev up --topology cluster`` starts (``ClusterStack``, with
its figures from ``devstack.topology``): PostgreSQL holding Temporal's databases and the read
model, the Temporal server built from ``deploy/temporal-server`` on it with the production
history shards, and three KRaft brokers with topics at replication 3 and
``min.insync.replicas`` 2 (tierflow's producers send with ``acks=all``). The bench runs its
own workers on them, so the cluster's tierflow processes are not started. Every port is
free at start, so a running ``dev up`` stack is left alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tierflow.settings import Settings
from tierflow_dev.devstack import topology
from tierflow_dev.devstack.cluster_stack import ClusterStack
from tierflow_dev.devstack.procs import free_port
from tierflow_dev.devstack.temporal_server import free_service_port

# (replication factor, min in-sync replicas) of every topic, as production creates them
REPLICATION = (topology.KAFKA_REPLICATION_FACTOR, topology.KAFKA_MIN_INSYNC_REPLICAS)
# the Settings ports the cluster's members would take: all fresh, none shared with a stack
PORT_FIELDS = (
    "kafka_controller_port",
    "api_port",
    "worker_metrics_port",
    "worker_sdk_metrics_port",
    "ingress_metrics_port",
    "notifier_metrics_port",
    "smtp_port",
)


def cluster_settings(home: Path) -> Settings:
    """Settings of a cluster in ``home`` on ports that are free right now."""
    taken: set[int] = set()

    def fresh() -> int:
        while (port := free_port()) in taken:  # free_port may repeat itself
            pass
        taken.add(port)
        return port

    return Settings(
        home=home,
        # a Temporal service port must stay below 32768 (see temporal_server.PORT_RANGE)
        temporal_address=f"127.0.0.1:{free_service_port(set())}",
        kafka_bootstrap_servers=f"127.0.0.1:{fresh()}",
        **{name: fresh() for name in PORT_FIELDS},  # type: ignore[arg-type]
    )


def start_engines(home: Path, say: Any, timeout: float = 180) -> ClusterStack:
    """Start the cluster topology's engines in ``home``; ``ClusterStack.down`` stops them."""
    cluster = ClusterStack(cluster_settings(home))
    cluster.preflight()
    cluster.record()
    try:
        for line in cluster.start_engines(timeout):
            say(line)
    except BaseException:
        cluster.down(timeout=10)
        raise
    return cluster


def describe() -> dict[str, Any]:
    """The cluster topology's figures, as a result file records them."""
    return {
        "temporal": "Temporal server (deploy/temporal-server) on PostgreSQL, SQL visibility, "
        f"{topology.TEMPORAL_HISTORY_SHARDS} history shards",
        "kafka": f"{topology.KAFKA_BROKERS} KRaft brokers, topics at replication "
        f"{topology.KAFKA_REPLICATION_FACTOR}, min.insync.replicas "
        f"{topology.KAFKA_MIN_INSYNC_REPLICAS}, producers acks={topology.PRODUCER_ACKS}",
    }
