"""The production (cluster) topology's figures, stated once.

The cluster launchers (``kafka_cluster``, ``temporal_server``) take the Kafka and Temporal
figures from here, ``cluster_stack`` (``tierflow dev up --topology cluster``) the replicas
and the probe ports as well, and
``deploy/compose/docker-compose.yml`` and ``deploy/k8s`` describe all of them;
``tests/unit/test_deploy_topology.py`` reads both files and checks them against this module,
so the deployment files cannot drift from what the tests run.

The Temporal history shard count lives in the server's own config file
(``deploy/temporal-server/config/postgres.yaml``, the default of ``NUM_HISTORY_SHARDS``) and
is read from there, so the config and this module share one figure.
"""

from __future__ import annotations

import re
from pathlib import Path

from tierflow.settings import Settings
from tierflow_dev.paths import DEPLOY_DIR

# Kafka: three combined broker+controller KRaft nodes, the voters of one static quorum.
KAFKA_BROKERS = 3
KAFKA_REPLICATION_FACTOR = 3  # replicas of every partition, internal topics included
KAFKA_MIN_INSYNC_REPLICAS = 2  # in-sync replicas an acks=all write needs
PRODUCER_ACKS = "all"  # tierflow.kafka_io.make_producer

# Temporal: one server process (all four services) on PostgreSQL with SQL visibility.
TEMPORAL_CONFIG = DEPLOY_DIR / "temporal-server" / "config" / "postgres.yaml"
TEMPORAL_SHARDS_VARIABLE = "NUM_HISTORY_SHARDS"
TEMPORAL_SERVERS = 1

# tierflow's processes and how many of each run. The two ingresses share one consumer group
# (Settings.ingress_group); the notifiers share theirs and claim each message before sending.
REPLICAS = {"worker": 2, "ingress": 2, "api": 2, "notifier": 2}

# Every process answers GET /healthz (ready) and /livez (alive) on its Settings port (the api
# on its HTTP port, the others on their /metrics port). The others are alive while they wait
# for Temporal, Kafka or a migration, not while a consumer is stalled (tierflow/health.py).
# The API is probed apart: ready while its database answers (/readyz: reads go on without
# Temporal), alive while it serves HTTP (/livez).
PROBE_PATHS = {"readinessProbe": "/healthz", "livenessProbe": "/livez", "startupProbe": "/livez"}
API_PROBE_PATHS = {"readinessProbe": "/readyz", "livenessProbe": "/livez"}


def probe_path(process: str, probe: str = "readinessProbe") -> str:
    """The path a probe of ``process`` asks (a compose health check is its readiness)."""
    return API_PROBE_PATHS[probe] if process == "api" else PROBE_PATHS[probe]


PROBE_PORT_FIELDS = {
    "worker": "worker_metrics_port",
    "ingress": "ingress_metrics_port",
    "notifier": "notifier_metrics_port",
    "api": "api_port",
}


def history_shards(config: Path = TEMPORAL_CONFIG) -> int:
    """Return the history shard count the Temporal config file defaults to."""
    pattern = (
        rf'numHistoryShards:\s*{{{{\s*default\s+"(\d+)"\s+\(env\s+"{TEMPORAL_SHARDS_VARIABLE}"\)'
    )
    found = re.search(pattern, config.read_text())
    if found is None:
        raise ValueError(f"{config}: numHistoryShards has no default of {TEMPORAL_SHARDS_VARIABLE}")
    return int(found.group(1))


TEMPORAL_HISTORY_SHARDS = history_shards()


def probe_ports() -> dict[str, int]:
    """Return the port each process serves ``/healthz`` on: the Settings defaults."""
    fields = Settings.model_fields
    return {name: int(fields[field].default) for name, field in PROBE_PORT_FIELDS.items()}
