"""PII canary: with the encrypting converter, contact details never reach Temporal's disk.

A dedicated real dev server (SQLite file store, WAL) runs two requests through the real worker
on two task queues: one whose client and worker encrypt payloads, one with the plain pydantic
converter (the control: it proves the byte search would find a leak). After stopping the
server, its database file, WAL and log, the worker's logs and the Kafka events topic's log
segments are searched for each request's unique marker.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
from prometheus_client import CollectorRegistry
from sqlmodel import Session
from temporalio.client import Client, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter

from schemas.domain import Role, State
from schemas.lifecycle import ActionKind, WorkflowState
from schemas.request import Actor
from tests.fixtures.kafka import unique_topic_name
from tests.utils.factories import make_request
from tests.utils.stack_helpers import act, eventually
from tierflow import constants
from tierflow.codec import ENCODING, data_converter, generate_key
from tierflow.db import repository
from tierflow.db.engine import make_engine
from tierflow.db.migrate import upgrade
from tierflow.kafka_io import make_producer
from tierflow.metrics import WorkerMetrics
from tierflow.settings import Settings
from tierflow_dev.devstack.kafka import KafkaBroker
from tierflow_dev.devstack.procs import free_port
from tierflow_dev.devstack.temporal import TemporalDevServer
from workers.worker import WorkerParts, build_worker
from workflows.service_request import ServiceRequestWorkflow


@dataclass
class KeySettings:
    """Stands in for Settings until it has the ``payload_keys`` field."""

    payload_keys: str


@dataclass
class Run:
    request_id: str
    marker: str
    handle: WorkflowHandle


@pytest_asyncio.fixture
async def canary_server(tmp_path: Path) -> AsyncIterator[TemporalDevServer]:
    server = TemporalDevServer(tmp_path / "temporal-home", port=free_port(), headless=True)
    server.start(timeout=60)
    try:
        yield server
    finally:
        server.stop()


def new_marker() -> str:
    return f"PII-CANARY-{uuid.uuid4().hex[:16]}"  # fits contact_phone (40 chars)


async def run_request(
    server: TemporalDevServer,
    converter: DataConverter,
    settings: Settings,
    bootstrap: str,
    events_topic: str,
) -> Run:
    """Run one request with marked contact fields through a real worker using ``converter``."""
    marker = new_marker()
    req = make_request()
    req.enterprise.contact_name = f"{marker} name"
    req.enterprise.contact_phone = marker
    req.enterprise.contact_email = f"{marker.lower()}@example.com"
    client = await Client.connect(server.address, data_converter=converter)
    task_queue = f"canary-{uuid.uuid4().hex[:8]}"
    producer = make_producer(bootstrap)
    engine = make_engine(settings.resolved_database_url)
    metrics = WorkerMetrics(CollectorRegistry())
    parts = WorkerParts(client, engine, producer, metrics, task_queue, events_topic, settings)
    try:
        with ThreadPoolExecutor(max_workers=32) as executor:
            async with build_worker(parts, executor):
                handle = await client.start_workflow(
                    ServiceRequestWorkflow.run,
                    WorkflowState(request=req),
                    id=constants.workflow_id(req.request_id),
                    task_queue=task_queue,
                )
                view = await eventually(lambda: _assigned(handle), what="request assigned")
                caseworker = Actor(
                    id="cw-canary",
                    role=Role.CASEWORKER,
                    institution_id=view.summary.institution_id,
                )
                await act(handle, ActionKind.ACKNOWLEDGE, caseworker)
                await act(handle, ActionKind.START, caseworker)
                done = await act(handle, ActionKind.RESOLVE, caseworker, text="Loan matched")
                assert done.state is State.RESOLVED
    finally:
        producer.close(timeout=5)
        engine.dispose()
    return Run(req.request_id, marker, handle)


async def _assigned(handle: WorkflowHandle):  # noqa: ANN202 - RequestView | None
    view = await handle.query(ServiceRequestWorkflow.view)
    return view if view.summary.state is not State.SUBMITTED else None


async def assert_no_pii_in_ids_or_search_attributes(run: Run) -> None:
    desc = await run.handle.describe()
    assert desc.id == constants.workflow_id(run.request_id)
    custom = {k: v for k, v in desc.search_attributes.items() if k.startswith("Tierflow")}
    assert set(custom) <= set(constants.SEARCH_ATTRIBUTES)
    assert {constants.SA_STATE, constants.SA_TIER, constants.SA_INSTITUTION} <= set(custom)
    assert run.marker not in repr(desc.search_attributes)
    assert run.marker not in desc.id
    for payload in desc.raw_description.workflow_execution_info.memo.fields.values():
        assert run.marker.encode() not in payload.SerializeToString()


def read_bytes(paths: list[Path]) -> bytes:
    return b"".join(p.read_bytes() for p in paths if p.is_file())


async def test_contact_pii_never_reaches_temporal_storage(
    canary_server: TemporalDevServer,
    kafka_broker: KafkaBroker,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("DEBUG", logger="tierflow")
    caplog.set_level("INFO")
    settings = Settings(
        home=tmp_path / "home",
        temporal_address=canary_server.address,
        kafka_bootstrap_servers=kafka_broker.bootstrap,
    )
    settings.home.mkdir()
    upgrade(settings.resolved_database_url)
    events_topic = unique_topic_name("pii-canary-events")
    kafka_broker.ensure_topics({events_topic: 1})
    encrypting = data_converter(KeySettings(f"canary-1:{generate_key()}"))
    assert encrypting.payload_codec is not None

    secret = await run_request(
        canary_server, encrypting, settings, kafka_broker.bootstrap, events_topic
    )
    secret_logs = caplog.text
    control = await run_request(
        canary_server, pydantic_data_converter, settings, kafka_broker.bootstrap, events_topic
    )
    for run in (secret, control):
        await assert_no_pii_in_ids_or_search_attributes(run)
    # the worker decrypted the input: the caseworkers' read model holds the contact (by design)
    engine = make_engine(settings.resolved_database_url)
    with Session(engine) as session:
        row = repository.get_request(session, secret.request_id)
        assert row is not None and row.contact_phone == secret.marker
    engine.dispose()
    # history events of the encrypted run carry ciphertext, labelled with the key id
    history = await secret.handle.fetch_history()
    first = history.events[0].workflow_execution_started_event_attributes.input.payloads[0]
    assert first.metadata["encoding"] == ENCODING

    canary_server.stop()
    db = canary_server.db_path
    stored = read_bytes([db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")])
    server_log = canary_server.log_path.read_bytes()
    assert control.marker.encode() in stored, "control: the plain run's PII must be found"
    assert secret.request_id.encode() in stored  # the search sees the encrypted run's rows
    assert secret.marker.encode() not in stored
    assert secret.marker.lower().encode() not in stored  # the e-mail form
    assert secret.marker.encode() not in server_log
    assert secret.marker not in secret_logs
    assert secret.marker not in caplog.text

    # lifecycle events on Kafka never carry contact fields, encrypted or not
    segments = list((kafka_broker.data_dir / f"{events_topic}-0").glob("*.log"))
    events = read_bytes(segments)
    assert secret.request_id.encode() in events and control.request_id.encode() in events
    for run in (secret, control):
        assert run.marker.encode() not in events
