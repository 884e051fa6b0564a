"""``tierflow dev up --topology cluster``: the production topology as local processes.

The module brings the cluster up once through the CLI (PostgreSQL, the Temporal server built
from ``deploy/temporal-server`` with ``tierflow temporal setup``, three brokers, then the
replicas of every tierflow process as ``topology`` says), sends a request through each API
replica and a command through Kafka, reads ``dev status``, kills a worker with SIGKILL and
still gets a request admitted, then brings the cluster down and looks for survivors.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest
from click.testing import Result
from kafka.admin import ConfigResource, ConfigResourceType
from sqlalchemy import Engine
from sqlmodel import Session
from typer.testing import CliRunner

from schemas.domain import State
from tests.utils.api_helpers import Users, make_users, request_body
from tests.utils.eventually import eventually_sync
from tests.utils.factories import make_request
from tierflow import constants
from tierflow.cli import app as cli_app
from tierflow.db import repository
from tierflow.db.engine import make_engine
from tierflow.settings import Settings
from tierflow_dev.devstack import topology
from tierflow_dev.devstack.cluster_stack import ClusterStack, free_cluster_ports, member_names
from tierflow_dev.devstack.stack import publish_submit_commands
from tierflow_dev.devstack.temporal import run_async

# The first module to need the server binary builds it (8-25 min the first time on a machine;
# build_binary gives up after 30 min, before this timeout).
pytestmark = [pytest.mark.go_build, pytest.mark.postgres, pytest.mark.timeout(2400)]

V1 = "/api/v1"
ADMITTED = 90.0  # seconds a request may take from submission to assigned in the read model
MEMBERS = [
    "postgres",
    "temporal",
    *(f"kafka-{n}" for n in range(1, topology.KAFKA_BROKERS + 1)),
    "db",
    *(name for _, name in member_names()),
]


@dataclass
class Cluster:
    stack: ClusterStack
    env: dict[str, str]
    up: Result
    engine: Engine
    users: Users


def dev(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(cli_app, ["dev", *args], env=env)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    # Not under pytest's tmp folder: PostgreSQL runs as the postgres user when tests run as
    # root, and that folder is private to root.
    home = Path(tempfile.mkdtemp(prefix="tierflow-cluster-"))
    home.chmod(0o755)
    values = free_cluster_ports(home)
    env = {f"TIERFLOW_{name.upper()}": str(value) for name, value in values.items()}
    stack = ClusterStack(Settings(**values))  # type: ignore[arg-type]
    engine: Engine | None = None
    try:
        up = dev(env, "up", "--topology", "cluster")
        assert up.exit_code == 0, up.output
        engine = make_engine(stack.database_url)
        yield Cluster(stack, env, up, engine, make_users(engine))
    finally:
        if engine is not None:
            engine.dispose()
        stack.down(timeout=10)
        shutil.rmtree(home, ignore_errors=True)


def submit_through(api_url: str, users: Users) -> str:
    """Submit a new request through one API replica; return its id."""
    req = make_request()
    response = httpx.post(
        f"{api_url}{V1}/requests", json=request_body(req), headers=users.auth("admin"), timeout=30
    )
    assert response.status_code == 202, response.text
    return str(response.json()["request_id"])


def admitted(engine: Engine, request_ids: list[str]) -> bool:
    """True once every request is in the read model, routed (assigned)."""
    with Session(engine) as session:
        rows = [repository.get_request(session, rid) for rid in request_ids]
    return all(row is not None and row.state == State.ASSIGNED for row in rows)


def test_up_starts_every_member_as_the_topology_says(cluster: Cluster) -> None:
    stack = cluster.stack
    for _, name in member_names():
        assert f"{name} started" in cluster.up.output
    assert "temporal setup:" in cluster.up.output  # the operator's command registered them

    status = dev(cluster.env, "status")
    assert status.exit_code == 0, status.output
    rows = stack.status()
    assert [row.name for row in rows] == MEMBERS
    assert all(row.healthy for row in rows), [r for r in rows if not r.healthy]
    for row in rows:
        assert row.name in status.output
    assert len({row.pid for row in rows if row.pid is not None}) == len(MEMBERS) - 1  # not db

    # Kafka: three brokers, every partition on all three, two in sync to acknowledge
    assert len(stack.kafka.nodes) == topology.KAFKA_BROKERS
    admin = stack.kafka.admin()
    try:
        resources = [ConfigResource(ConfigResourceType.TOPIC, t) for t in constants.TOPICS]
        configs = admin.describe_configs(resources, config_filter="all")["topic"]
    finally:
        admin.close()
    for topic in constants.TOPICS:
        min_isr = configs[topic]["min.insync.replicas"]["value"]
        assert min_isr == str(topology.KAFKA_MIN_INSYNC_REPLICAS), topic
        replicas = {len(p.replicas) for p in stack.kafka.partitions(topic).values()}
        assert replicas == {topology.KAFKA_REPLICATION_FACTOR}, topic
    # Temporal: the shards of the production config; the processes: replication 3, one group
    assert run_async(stack.temporal.history_shard_count()) == topology.TEMPORAL_HISTORY_SHARDS
    worker_env = stack.members["worker-2"].process.env
    assert worker_env["TIERFLOW_KAFKA_REPLICATION_FACTOR"] == str(topology.KAFKA_REPLICATION_FACTOR)
    ingress_groups = {
        stack.members[f"ingress-{n}"].process.env.get("TIERFLOW_INGRESS_GROUP") for n in (1, 2)
    }
    assert len(ingress_groups) == 1


def test_requests_through_each_api_replica_and_kafka_reach_the_read_model(
    cluster: Cluster,
) -> None:
    stack = cluster.stack
    assert len(stack.api_urls) == topology.REPLICAS["api"]
    request_ids = [submit_through(url, cluster.users) for url in stack.api_urls]
    command = make_request()
    assert publish_submit_commands(stack.kafka.bootstrap, [command]) == 1
    request_ids.append(command.request_id)

    eventually_sync(
        lambda: admitted(cluster.engine, request_ids),
        ADMITTED,
        f"{request_ids} assigned in the read model",
        ignoring=(OSError,),
    )


def test_lifecycle_bench_runs_worker_processes_on_the_cluster(
    cluster: Cluster, tmp_path: Path
) -> None:
    """``bench lifecycle --topology cluster --workers 2`` on this cluster's engines."""
    stack = cluster.stack
    out = tmp_path / "lifecycle-cluster.json"
    servers = [
        "--temporal-address",
        stack.temporal.address,
        "--kafka",
        stack.kafka.bootstrap,
        "--database-url",
        stack.database_url,
    ]
    args = ["bench", "lifecycle", "--quick", "--count", "4", "--concurrency", "4"]
    args += ["--topology", "cluster", "--workers", "2", *servers, "--out", str(out)]
    result = CliRunner().invoke(cli_app, args)
    assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"

    doc = json.loads(out.read_text())
    assert doc["backend"]["topology"] == "cluster"
    assert doc["backend"]["persistence"] == "postgresql"
    assert doc["params"]["workers"] == 2
    res = doc["results"]
    assert res["project_completed_per_s"] > 0 and res["bare_completed_per_s"] > 0
    # the lifecycles ran on the worker processes, not in the bench process: their CPU counts
    assert res["project_cpu_ms_per_lifecycle"]["worker_processes"] > 0
    assert res["bare_cpu_ms_per_lifecycle"]["bare_worker_processes"] > 0
    assert res["worker_cpu_ratio"] == pytest.approx(
        res["project_cpu_ms_per_lifecycle"]["worker_processes"]
        / res["bare_cpu_ms_per_lifecycle"]["bare_worker_processes"]
    )
    assert res["project_per_core_per_s"] == pytest.approx(
        1000 / res["project_cpu_ms_per_lifecycle_total"]
    )
    assert len(doc["load_average"]["start"]) == 3


def test_a_worker_killed_with_sigkill_leaves_admission_working(cluster: Cluster) -> None:
    stack = cluster.stack
    victim = stack.members["worker-1"].process
    pid = victim.pid()
    assert pid is not None
    victim.kill()  # SIGKILL to its process group; returns once it is gone
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE

    rows = {row.name: row for row in stack.status()}
    assert not rows["worker-1"].healthy
    assert rows["worker-2"].healthy
    status = dev(cluster.env, "status")
    assert status.exit_code == 1  # one member is down, and the table says which

    rid = submit_through(stack.api_urls[-1], cluster.users)
    eventually_sync(
        lambda: admitted(cluster.engine, [rid]),
        ADMITTED,
        f"{rid} assigned with one worker left",
        ignoring=(OSError,),
    )


def test_down_leaves_no_member_process(cluster: Cluster) -> None:
    stack = cluster.stack
    sessions = set(stack.pids().values())  # every member leads its own session
    assert len(sessions) == len(MEMBERS) - 2  # all but the db and the killed worker

    down = dev(cluster.env, "down")
    assert down.exit_code == 0, down.output
    assert not stack.recorded()

    def survivors() -> list[str]:
        found = []
        for proc in psutil.process_iter(["pid", "status", "cmdline"]):
            try:
                in_cluster = os.getsid(proc.pid) in sessions
            except (ProcessLookupError, PermissionError):
                continue
            if in_cluster and proc.info["status"] != psutil.STATUS_ZOMBIE:
                found.append(f"{proc.pid} {' '.join(proc.info['cmdline'] or [])[:120]}")
        return found

    assert survivors() == []
    status = dev(cluster.env, "status")
    assert "tierflow cluster topology" not in status.output  # the small topology's table
