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

from tierflow_dev.devstack import topology
from tierflow_dev.devstack.cluster_stack import ClusterStack, cluster_settings

# (replication factor, min in-sync replicas) of every topic, as production creates them
REPLICATION = (topology.KAFKA_REPLICATION_FACTOR, topology.KAFKA_MIN_INSYNC_REPLICAS)


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
