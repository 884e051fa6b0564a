"""Kafka as production runs it: three brokers, replication 3, min ISR 2, acks=all; kill -9 one.

The module starts a three-broker KRaft cluster of its own and runs ``tierflow worker`` and
``tierflow ingress`` against it (on the session's Temporal dev server, a task queue of their
own). A steady stream of submit commands goes through tierflow's producer; midway the broker
leading commands partition 0 is killed with ``kill -9`` and, once commands flow again on the
partitions it led, started again. The oracle reads Kafka, the dead-letter topic and the read
model directly: every command Kafka acknowledged is applied or dead-lettered, none twice, no
event id twice on the events topic, and the restarted broker is back in every ISR.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from kafka.admin import ConfigResource, ConfigResourceType

from tests.chaos.audit import check_audit, record_figures
from tests.chaos.commands import new_request, submit
from tests.chaos.harness import ChaosStack, chaos_settings
from tests.chaos.scale import chaos_scale, scaled, sizes
from tests.utils.eventually import eventually_sync
from tests.utils.fast_policy import Targets, write_policy
from tierflow import constants
from tierflow.db.engine import make_engine
from tierflow.db.migrate import upgrade
from tierflow.kafka_connect import connect_kafka
from tierflow.kafka_io import make_producer
from tierflow_dev.devstack.kafka_cluster import KafkaCluster
from tierflow_dev.devstack.stack import LocalStack
from tierflow_dev.devstack.temporal import TemporalDevServer

TARGETS = Targets(response=4 * 3600, resolution=8 * 3600, reopen_window=3)  # no timer fires
LOAD = max(60, round(scaled(300, 2000, chaos_scale())))  # submit commands in the stream
RATE = 10.0  # commands a second: the stream lasts LOAD / RATE seconds, across the fault
pytestmark = pytest.mark.timeout(sizes().test_timeout)


@dataclass
class ClusterStack:
    cluster: KafkaCluster
    stack: ChaosStack


@pytest.fixture(scope="module")
def cluster_stack(
    request: pytest.FixtureRequest, temporal_dev_server: TemporalDevServer
) -> Iterator[ClusterStack]:
    """Three brokers, then the worker and the ingress on them and the session's Temporal."""
    home = Path(tempfile.mkdtemp(prefix="tierflow-chaos-kafka-cluster-"))
    failed_before = request.session.testsfailed
    cluster = KafkaCluster.on_free_ports(home / "kafka")
    replication, min_isr = cluster.replication
    settings = chaos_settings(home / "stack", write_policy(home / "policy.toml", TARGETS))
    settings = settings.model_copy(
        update={
            "temporal_address": temporal_dev_server.address,
            "task_queue": f"kafka-cluster-{uuid.uuid4().hex[:8]}",
            "kafka_bootstrap_servers": cluster.bootstrap,
            "kafka_replication_factor": replication,
            "kafka_min_insync_replicas": min_isr,
        }
    )
    stack = ChaosStack(LocalStack(settings, echo=print))
    try:
        cluster.start(timeout=180)
        stack.local.ensure_topics()
        upgrade(stack.local.database_url)
        stack.engine = make_engine(stack.local.database_url)
        stack.start_app("worker")
        stack.start_app("ingress")
        yield ClusterStack(cluster, stack)
    finally:
        stack.stop()  # the worker and the ingress; the session's Temporal is not ours to stop
        cluster.stop(timeout=10)
        if request.session.testsfailed == failed_before:
            shutil.rmtree(home, ignore_errors=True)
        else:
            print(f"\nkafka cluster home kept for its logs: {home}")


def test_topics_and_producers_are_set_up_as_in_production(cluster_stack: ClusterStack) -> None:
    cluster, stack = cluster_stack.cluster, cluster_stack.stack
    admin = cluster.admin()
    try:
        resources = [ConfigResource(ConfigResourceType.TOPIC, t) for t in constants.TOPICS]
        configs = admin.describe_configs(resources, config_filter="all")["topic"]
    finally:
        admin.close()
    for topic, partitions in constants.TOPICS.items():
        assert configs[topic]["min.insync.replicas"]["value"] == "2", topic
        states = cluster.partitions(topic)
        assert len(states) == partitions, topic
        assert {s.replicas for s in states.values()} == {(1, 2, 3)}, (topic, states)
    # the outbox, the DLQ and the CLI publisher all build their producer with make_producer
    for producer in (make_producer(cluster.bootstrap), connect_kafka(cluster.bootstrap, 5)):
        try:
            assert producer.config["acks"] == -1  # "all": every in-sync replica
            assert producer.config["enable_idempotence"] is True  # retries never duplicate
            assert producer.config["retries"] > 0
            assert producer.config["max_in_flight_requests_per_connection"] <= 5
        finally:
            producer.close(timeout=5)
    assert stack.settings.kafka_min_insync_replicas == 2


@dataclass
class Load:
    """A steady stream of submits through tierflow's producer; what Kafka acked, and when."""

    bootstrap: str
    total: int
    rate: float
    sent: dict[str, float] = field(default_factory=dict)  # request id -> send time
    acked: dict[str, tuple[int, float]] = field(default_factory=dict)  # -> (partition, time)
    failed: dict[str, str] = field(default_factory=dict)
    errors: list[BaseException] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self) -> None:
        try:
            producer = make_producer(self.bootstrap, client_id="tierflow-cluster-load")
            start = time.monotonic()
            try:
                for i in range(self.total):
                    # pacing: the load's own shape, a command every 1/rate seconds
                    time.sleep(max(0.0, start + i / self.rate - time.monotonic()))
                    message = submit(new_request("kc"))
                    rid = str(message.request_id)
                    with self.lock:
                        self.sent[rid] = time.monotonic()
                    future = producer.send(
                        constants.COMMANDS_TOPIC,
                        key=message.key,
                        value=message.value,
                        headers=message.headers,
                    )
                    future.add_callback(self._ack, rid)
                    future.add_errback(self._fail, rid)
                producer.flush(timeout=150)
            finally:
                producer.close(timeout=10)
        except BaseException as exc:  # noqa: BLE001 - reported to the test thread
            self.errors.append(exc)

    def _ack(self, rid: str, meta: object) -> None:
        with self.lock:
            self.acked[rid] = (meta.partition, time.monotonic())  # type: ignore[attr-defined]

    def _fail(self, rid: str, exc: BaseException) -> None:
        with self.lock:
            self.failed[rid] = repr(exc)

    def acked_on(self, partitions: set[int], sent_after: float) -> list[str]:
        """Acked commands on these partitions that were sent after ``sent_after``."""
        with self.lock:
            return [
                rid
                for rid, (part, _) in self.acked.items()
                if part in partitions and self.sent[rid] > sent_after
            ]


def test_leader_broker_kill9_loses_and_doubles_no_command(cluster_stack: ClusterStack) -> None:
    cluster, stack = cluster_stack.cluster, cluster_stack.stack
    load = Load(cluster.bootstrap, LOAD, RATE)
    thread = threading.Thread(target=load.run, name="kafka-cluster-load", daemon=True)
    thread.start()
    eventually_sync(
        lambda: len(load.acked) >= LOAD // 3, 120, "a third of the load acked", max_interval=0.05
    )
    commands = cluster.partitions(constants.COMMANDS_TOPIC)
    victim = commands[0].leader
    led = {p for p, s in commands.items() if s.leader == victim}
    killed_at = time.monotonic()
    cluster.kill(victim)
    applied_at_kill = len(stack.states(set(load.acked)))

    def applied_after_kill() -> bool:
        fresh = load.acked_on(led, sent_after=killed_at)
        return bool(fresh) and bool(stack.states(fresh))

    eventually_sync(
        applied_after_kill,
        120,
        f"a command sent after the kill applied on partitions {sorted(led)}",
        max_interval=0.1,
    )
    recovered_at = time.monotonic()
    applied_while_down = len(stack.states(set(load.acked))) - applied_at_kill
    cluster.restart(victim)
    restarted_at = time.monotonic()

    def in_every_isr() -> bool:
        return all(
            victim in state.isr
            for topic in constants.TOPICS
            for state in cluster.partitions(topic).values()
        )

    eventually_sync(in_every_isr, 120, f"broker {victim} back in every ISR", max_interval=0.2)
    rejoined_at = time.monotonic()
    eventually_sync(lambda: not thread.is_alive(), 240, "the whole load sent and acked")
    assert not load.errors, f"the load failed: {load.errors!r}"
    assert not load.failed, f"{len(load.failed)} sends failed: {list(load.failed.items())[:3]}"
    acked = set(load.acked)

    dead: set[str] = set()
    applied: set[str] = set()

    def settled() -> bool:
        nonlocal dead, applied
        rows = stack.states(acked)
        applied = {rid for rid, row in rows.items() if row.state == "assigned"}
        if applied != acked:
            records = stack.read_topic(constants.DEAD_LETTER_TOPIC)
            dead = {r.key.decode() for r in records if r.key}
        return acked <= applied | dead

    eventually_sync(
        settled,
        sizes().settle_timeout,
        "every acked command applied or dead-lettered",
        detail=lambda: f"{len(acked - applied - dead)} of {len(acked)} neither",
        max_interval=1.0,
    )
    assert not applied & dead, f"applied and dead-lettered: {sorted(applied & dead)[:5]}"
    report = check_audit(stack, applied)
    submits = Counter(
        r.request_id for r in stack.transitions(applied) if r.event_type == "submitted"
    )
    doubled = sorted(rid for rid, n in submits.items() if n != 1)
    assert not doubled, f"requests not submitted exactly once: {doubled[:5]}"
    assert report.kafka_duplicates == 0, f"event ids twice on the events topic: {report}"
    failover = min(t for part, t in load.acked.values() if part in led and t > killed_at)
    record_figures(
        "kafka_leader_kill9",
        {
            "brokers": len(cluster.nodes),
            "load_commands": LOAD,
            "rate_per_second": RATE,
            "acked": len(acked),
            "applied": len(applied),
            "dead_lettered": len(dead),
            "lost": len(acked - applied - dead),
            "duplicated_events": report.kafka_duplicates,
            "killed_broker": victim,
            "partitions_it_led": sorted(led),
            "acked_before_kill": sum(1 for _, t in load.acked.values() if t <= killed_at),
            "first_ack_on_its_partitions_s": round(failover - killed_at, 2),
            "recovery_s": round(recovered_at - killed_at, 2),
            "applied_until_recovery": applied_while_down,
            "restart_s": round(restarted_at - recovered_at, 2),
            "back_in_every_isr_s": round(rejoined_at - restarted_at, 2),
            "audit": report,
        },
    )
