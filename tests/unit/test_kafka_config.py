"""One broker config for both topologies: a cluster node differs only in quorum and replication."""

from __future__ import annotations

from pathlib import Path

from tierflow_dev.devstack.kafka import KafkaBroker, server_properties
from tierflow_dev.devstack.kafka_cluster import KafkaCluster

REPLICATION = (
    "default.replication.factor",
    "offsets.topic.replication.factor",
    "transaction.state.log.replication.factor",
    "share.coordinator.state.topic.replication.factor",
)
MIN_ISR = (
    "min.insync.replicas",
    "transaction.state.log.min.isr",
    "share.coordinator.state.topic.min.isr",
)


def properties(broker: KafkaBroker) -> dict[str, str]:
    lines = server_properties(broker).splitlines()
    return dict(line.split("=", 1) for line in lines)


def test_a_cluster_node_is_one_of_three_voters_with_production_replication(tmp_path: Path) -> None:
    cluster = KafkaCluster(tmp_path, [(9101, 9102), (9103, 9104), (9105, 9106)])
    voters = "1@127.0.0.1:9102,2@127.0.0.1:9104,3@127.0.0.1:9106"
    configs = {node_id: properties(node) for node_id, node in cluster.nodes.items()}
    for node_id, props in configs.items():
        assert props["node.id"] == str(node_id)
        assert props["controller.quorum.voters"] == voters
        assert "controller.quorum.bootstrap.servers" not in props
        assert props["process.roles"] == "broker,controller"
        assert {props[key] for key in REPLICATION} == {"3"}
        assert {props[key] for key in MIN_ISR} == {"2"}
    assert len({props["log.dirs"] for props in configs.values()}) == 3
    assert len({props["listeners"] for props in configs.values()}) == 3
    assert cluster.bootstrap == "127.0.0.1:9101,127.0.0.1:9103,127.0.0.1:9105"
    assert cluster.replication == (3, 2)
    development = properties(KafkaBroker(tmp_path))
    same = {k for k in development if k not in REPLICATION + MIN_ISR and "quorum" not in k}
    differing = {k for k in same if development[k] != configs[2].get(k)}
    assert differing == {"node.id", "listeners", "advertised.listeners", "log.dirs"}


def test_the_development_broker_keeps_replication_one(tmp_path: Path) -> None:
    props = properties(KafkaBroker(tmp_path, port=9092, controller_port=9093))
    assert props["node.id"] == "1"
    assert props["controller.quorum.bootstrap.servers"] == "127.0.0.1:9093"
    assert "controller.quorum.voters" not in props
    assert {props[key] for key in REPLICATION + MIN_ISR} == {"1"}
