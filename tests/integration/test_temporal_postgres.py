"""Temporal as deployed in production: the server on PostgreSQL, prepared as an operator does.

``deploy/temporal-server`` (built once with Go and cached by its module checksums, the same
binary as the mTLS test's) runs from its production config file: PostgreSQL persistence and
SQL visibility, several history shards, ringpop membership, the schemas set up by the
server's own SQL tool. The namespace and tierflow's search attributes come through the
frontend and the operator API (``tierflow temporal setup`` and the library functions behind
it); the real worker then takes a request from submission to its automatic close, and SQL
visibility answers queries on the search attributes.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
import pytest_asyncio
from click.testing import Result
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine
from temporalio.api.workflowservice.v1 import GetClusterInfoRequest
from temporalio.client import Client, WorkflowExecutionStatus
from typer.testing import CliRunner

from schemas.domain import State
from schemas.lifecycle import ActionKind, RequestView
from tests.utils.eventually import eventually, eventually_sync
from tests.utils.factories import caseworker, make_request
from tests.utils.fast_policy import Targets, policy_worker
from tests.utils.stack_helpers import act, start_request
from tierflow import constants
from tierflow.cli import app as cli_app
from tierflow.db.engine import make_engine
from tierflow.db.migrate import upgrade
from tierflow.metrics import WorkerMetrics
from tierflow.settings import Settings
from tierflow.temporal_client import connect_temporal
from tierflow.temporal_setup import (
    SearchAttributeClash,
    ensure_namespace,
    register_search_attributes,
    registered_search_attributes,
)
from tierflow_dev.devstack.kafka import KafkaBroker
from tierflow_dev.devstack.postgres import PostgresServer
from tierflow_dev.devstack.temporal_server import TemporalPostgresServer, build_binary
from workflows.service_request import ServiceRequestWorkflow

# The first module to need the server binary builds it (8-25 min the first time on a machine;
# build_binary gives up after 30 min, before this timeout).
pytestmark = [pytest.mark.go_build, pytest.mark.postgres, pytest.mark.timeout(2400)]

SHARDS = 4
NAMESPACE = "tierflow-pg"
QUICK_CLOSE = Targets(response=3600, resolution=7200, reopen_window=2)  # closes 2 s after resolve


@pytest.fixture(scope="module")
def temporal_pg(
    postgres_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TemporalPostgresServer]:
    """Build (or reuse) the server, set its schemas up on the session PostgreSQL, start it,
    create the namespace and register the search attributes."""
    suffix = uuid.uuid4().hex[:8]
    server = TemporalPostgresServer(
        tmp_path_factory.mktemp("temporal-pg-home"),
        postgres_server,
        namespace=NAMESPACE,
        history_shards=SHARDS,
        database=f"temporal_{suffix}",
        visibility_database=f"temporal_visibility_{suffix}",
        binary=build_binary(),
    )
    server.start(timeout=120)
    try:
        yield server
    finally:
        server.stop()


@dataclass
class PgStack:
    """What ``policy_worker`` and ``start_request`` need: a client, settings, a read model."""

    client: Client
    settings: Settings
    engine: Engine
    bootstrap: str


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def pg_stack(
    temporal_pg: TemporalPostgresServer,
    postgres_server: PostgresServer,
    kafka_broker: KafkaBroker,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[PgStack]:
    """tierflow's client of the server (its data converter) and a PostgreSQL read model."""
    url = postgres_server.create_database(f"tierflow_{uuid.uuid4().hex[:8]}")
    await asyncio.to_thread(upgrade, url)
    settings = Settings(
        home=tmp_path_factory.mktemp("pg-stack-home"),
        temporal_address=temporal_pg.address,
        temporal_namespace=NAMESPACE,
        kafka_bootstrap_servers=kafka_broker.bootstrap,
        database_url=url,
    )
    kafka_broker.ensure_topics(constants.TOPICS)
    client = await connect_temporal(temporal_pg.address, NAMESPACE, wait=30, settings=settings)
    engine = make_engine(url)
    try:
        yield PgStack(client, settings, engine, kafka_broker.bootstrap)
    finally:
        engine.dispose()


def _rows(postgres: PostgresServer, database: str, sql: str, *args: object) -> list[tuple]:
    with psycopg.connect(postgres.url(database).replace("+psycopg", "")) as conn:
        return conn.execute(sql, args).fetchall()


async def test_server_runs_on_postgres_with_the_configured_shards(
    temporal_pg: TemporalPostgresServer, postgres_server: PostgresServer
) -> None:
    client = await temporal_pg.connect()
    info = await client.workflow_service.get_cluster_info(GetClusterInfoRequest())
    assert info.server_version.startswith("1.32.")
    assert info.history_shard_count == SHARDS
    assert "postgres" in info.persistence_store
    assert "postgres" in info.visibility_store
    # The history service owns every shard, each a row of the database the SQL tool set up.
    database = temporal_pg.databases["postgresql/v12/temporal"]
    shards = await asyncio.to_thread(
        eventually_sync,
        lambda: len(_rows(postgres_server, database, "SELECT shard_id FROM shards")) == SHARDS,
        what=f"{SHARDS} shard rows",
    )
    assert shards
    versions = _rows(postgres_server, database, "SELECT curr_version FROM schema_version")
    assert versions and versions[0][0] not in ("", "0.0")  # brought up to the module's newest


async def test_search_attributes_registered_through_the_operator_api(
    temporal_pg: TemporalPostgresServer,
) -> None:
    # The launcher registered them on a fresh namespace ...
    assert temporal_pg.registered is not None
    assert set(temporal_pg.registered.added) == set(constants.SEARCH_ATTRIBUTES)
    client = await temporal_pg.connect()
    assert await registered_search_attributes(client, NAMESPACE) == constants.SEARCH_ATTRIBUTES
    # ... a second registration changes nothing ...
    again = await register_search_attributes(client, NAMESPACE)
    assert again.added == () and set(again.present) == set(constants.SEARCH_ATTRIBUTES)
    # ... and a type clash is refused before anything is added.
    probe = f"TierflowProbe{uuid.uuid4().hex[:6]}"
    with pytest.raises(SearchAttributeClash, match="TierflowState is Keyword, tierflow needs Int"):
        await register_search_attributes(
            client, NAMESPACE, {probe: "Keyword", constants.SA_STATE: "Int"}
        )
    assert probe not in await registered_search_attributes(client, NAMESPACE)


def _cli_env(server: TemporalPostgresServer, home: Path, namespace: str) -> dict[str, str]:
    return {
        "TIERFLOW_HOME": str(home),
        "TIERFLOW_TEMPORAL_ADDRESS": server.address,
        "TIERFLOW_TEMPORAL_NAMESPACE": namespace,
        "TIERFLOW_LANG": "zh-CN",  # the operator's default language
        "COLUMNS": "200",
    }


async def _setup_cli(env: dict[str, str]) -> Result:
    """Run ``tierflow temporal setup`` in a thread (it runs its own event loop)."""
    setup = ["temporal", "setup", "--retention-days", "7", "--wait", "60"]
    return await asyncio.to_thread(CliRunner().invoke, cli_app, setup, env=env)


async def test_cli_setup_creates_a_namespace_and_is_idempotent(
    temporal_pg: TemporalPostgresServer, tmp_path: Path
) -> None:
    namespace = f"tierflow-cli-{uuid.uuid4().hex[:6]}"
    env = _cli_env(temporal_pg, tmp_path / "home", namespace)
    first = await _setup_cli(env)
    assert first.exit_code == 0, first.output
    assert f"已创建命名空间 {namespace}（已结束的工作流保留 7 天）" in first.output
    for name in constants.SEARCH_ATTRIBUTES:
        assert f"已注册搜索属性 {name}" in first.output
    second = await _setup_cli(env)
    assert second.exit_code == 0, second.output
    assert f"命名空间 {namespace} 已存在，保持不变" in second.output
    for name in constants.SEARCH_ATTRIBUTES:
        assert f"搜索属性 {name} 已注册" in second.output
    client = await temporal_pg.connect(namespace)
    assert await registered_search_attributes(client, namespace) == constants.SEARCH_ATTRIBUTES


async def test_cli_setup_refuses_a_type_clash_and_registers_nothing(
    temporal_pg: TemporalPostgresServer, tmp_path: Path
) -> None:
    namespace = f"tierflow-clash-{uuid.uuid4().hex[:6]}"
    client = await temporal_pg.connect(namespace)
    assert await ensure_namespace(client, namespace)
    await register_search_attributes(client, namespace, {constants.SA_STATE: "Int"})
    result = await _setup_cli(_cli_env(temporal_pg, tmp_path / "home", namespace))
    assert result.exit_code == 1, result.output
    assert f"命名空间 {namespace} 的搜索属性类型冲突，未注册任何属性" in result.output
    assert "TierflowState 已注册为 Int 类型；tierflow 需要 Keyword" in result.output
    assert await registered_search_attributes(client, namespace) == {constants.SA_STATE: "Int"}


async def _visible(client: Client, query: str) -> bool:
    """Whether SQL visibility lists exactly one workflow for ``query``."""
    return len([w async for w in client.list_workflows(query)]) == 1


async def test_worker_takes_a_request_to_close_and_sql_visibility_finds_it(
    pg_stack: PgStack, temporal_pg: TemporalPostgresServer, postgres_server: PostgresServer
) -> None:
    metrics = WorkerMetrics(CollectorRegistry())
    async with policy_worker(pg_stack, QUICK_CLOSE, metrics, "pg") as queue:
        req = make_request()
        wid = constants.workflow_id(req.request_id)
        handle = await start_request(pg_stack, req, task_queue=queue)
        view: RequestView = await handle.query(ServiceRequestWorkflow.view)
        institution = view.summary.institution_id or ""
        cw = caseworker(institution)
        await act(handle, ActionKind.ACKNOWLEDGE, cw)
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        open_query = (
            f"WorkflowId = '{wid}' AND TierflowState = 'acknowledged' "
            f"AND TierflowInstitution = '{institution}' AND TierflowTier = 'county' "
            f"AND TierflowCategory = '{req.category.value}' AND TierflowNextDeadline > '{now}'"
        )
        await eventually(lambda: _visible(pg_stack.client, open_query), what=open_query)
        resolved = await act(handle, ActionKind.RESOLVE, cw, text="已办结")
        assert resolved.state is State.RESOLVED
        final = await asyncio.wait_for(handle.result(), timeout=60)  # the reopen window: 2 s
        assert final.state is State.CLOSED

    closed_query = (
        f"WorkflowId = '{wid}' AND TierflowState = 'closed' AND ExecutionStatus = 'Completed'"
    )
    await eventually(lambda: _visible(pg_stack.client, closed_query), what=closed_query)
    assert (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED
    # The row SQL visibility answered from is in the visibility database on PostgreSQL.
    database = temporal_pg.databases["postgresql/v12/visibility"]
    rows = _rows(
        postgres_server,
        database,
        "SELECT status FROM executions_visibility WHERE workflow_id = %s",
        wid,
    )
    assert len(rows) == 1
