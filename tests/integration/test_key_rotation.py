"""Two-phase payload key rotation across processes on different key lists, on a real server.

Each worker is its own process (``tests.utils.rotation_worker``) whose keys come from its
environment, exactly like ``tierflow worker``; the test's clients build their converters from
``Settings`` the same way. Phases, for keys OLD and NEW:

- P0: ``TIERFLOW_PAYLOAD_KEYS=OLD``
- P1 (phase 1, NEW decrypt-only): ``..._PAYLOAD_KEYS=OLD``, ``..._DECRYPT_ONLY_KEYS=NEW``
- P2 (phase 2, NEW promoted): ``..._PAYLOAD_KEYS=NEW``, ``..._DECRYPT_ONLY_KEYS=OLD``

A rolling restart mixes neighbouring phases (P0 with P1, then P1 with P2): both sides read
each other's payloads. Skipping phase 1 (P0 with P2) stalls the requests the old process
handles, with an error naming the key, until that process gets the key.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle

from tests.utils.eventually import eventually
from tests.utils.rotation_notes import NotesWorkflow
from tierflow.codec import KEY_ID_METADATA, PayloadDecryptionError, generate_key
from tierflow.settings import Settings
from tierflow.temporal_client import connect_temporal
from tierflow_dev.devstack.temporal import TemporalDevServer

ROOT = Path(__file__).resolve().parents[2]
OLD_ID, NEW_ID = "2024-01", "2025-06"
OLD, NEW = f"{OLD_ID}:{generate_key()}", f"{NEW_ID}:{generate_key()}"
P0 = {"TIERFLOW_PAYLOAD_KEYS": OLD, "TIERFLOW_PAYLOAD_DECRYPT_ONLY_KEYS": ""}
P1 = {"TIERFLOW_PAYLOAD_KEYS": OLD, "TIERFLOW_PAYLOAD_DECRYPT_ONLY_KEYS": NEW}
P2 = {"TIERFLOW_PAYLOAD_KEYS": NEW, "TIERFLOW_PAYLOAD_DECRYPT_ONLY_KEYS": OLD}


class WorkerProcess:
    """One worker process on one task queue, its keys from its environment."""

    def __init__(
        self, server: TemporalDevServer, keys: dict[str, str], log: Path, task_queue: str = ""
    ) -> None:
        self.task_queue = task_queue or f"rotation-{uuid.uuid4().hex[:8]}"
        self.log = log
        env = {
            **os.environ,
            **keys,
            "TIERFLOW_TEMPORAL_ADDRESS": server.address,
            "TIERFLOW_TEMPORAL_NAMESPACE": server.namespace,
        }
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.utils.rotation_worker", self.task_queue],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=log.open("wb"),
            text=True,
        )

    async def ready(self) -> None:
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(self.proc.stdout.readline), 60)
        assert line.strip() == "ready", f"worker did not start: {self.log.read_text()[-2000:]}"

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


Spawn = Callable[..., WorkerProcess]


@pytest.fixture
def spawn(temporal_dev_server: TemporalDevServer, tmp_path: Path) -> Iterator[Spawn]:
    started: list[WorkerProcess] = []

    def start(name: str, keys: dict[str, str], task_queue: str = "") -> WorkerProcess:
        log = tmp_path / f"{name}.log"
        started.append(WorkerProcess(temporal_dev_server, keys, log, task_queue))
        return started[-1]

    yield start
    for worker in started:
        worker.stop()


@asynccontextmanager
async def workers(*procs: WorkerProcess) -> AsyncIterator[None]:
    await asyncio.gather(*(p.ready() for p in procs))
    yield


async def client(server: TemporalDevServer, keys: dict[str, str]) -> Client:
    """Connect as a process with these keys would (converter from Settings)."""
    settings = Settings(
        _env_file=None,
        temporal_address=server.address,
        temporal_namespace=server.namespace,
        payload_keys=keys["TIERFLOW_PAYLOAD_KEYS"],
        payload_decrypt_only_keys=keys["TIERFLOW_PAYLOAD_DECRYPT_ONLY_KEYS"],
    )
    return await connect_temporal(server.address, server.namespace, wait=10, settings=settings)


def key_ids(message: Message) -> set[str]:
    """Return the key ids of every encrypted payload inside a protobuf message."""
    found: set[str] = set()
    if isinstance(message, Payload):
        key_id = message.metadata.get(KEY_ID_METADATA)
        return {key_id.decode()} if key_id else set()
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        if isinstance(value, Message):
            found |= key_ids(value)
            continue
        for item in value.values() if hasattr(value, "values") else value:  # map or list
            if isinstance(item, Message):
                found |= key_ids(item)
    return found


async def history_key_ids(handle: WorkflowHandle) -> set[str]:
    history = await handle.fetch_history()
    return set().union(*(key_ids(e) for e in history.events))


async def start(writer: Client, worker: WorkerProcess, first: str) -> WorkflowHandle:
    return await writer.start_workflow(
        NotesWorkflow.run, first, id=f"rotation-{uuid.uuid4().hex}", task_queue=worker.task_queue
    )


async def cross_read(
    a: Client, b: Client, worker_a: WorkerProcess, worker_b: WorkerProcess
) -> list[WorkflowHandle]:
    """Each process's client starts a request on the other's worker; both act on both."""
    done = []
    for owner, other, worker in ((a, b, worker_b), (b, a, worker_a)):
        handle = await start(owner, worker, "started")
        mine, theirs = owner.get_workflow_handle(handle.id), other.get_workflow_handle(handle.id)
        assert await theirs.execute_update(NotesWorkflow.add, "by the other") == [
            "started",
            "by the other",
        ]
        assert await mine.execute_update(NotesWorkflow.add, "by the starter") == [
            "started",
            "by the other",
            "by the starter",
        ]
        assert await theirs.query(NotesWorkflow.notes) == await mine.query(NotesWorkflow.notes)
        await theirs.signal(NotesWorkflow.finish)
        assert await mine.result() == ["started", "by the other", "by the starter"]
        assert await theirs.result() == ["started", "by the other", "by the starter"]
        done.append(handle)
    return done


@pytest.mark.parametrize(
    ("keys_a", "keys_b", "written"),
    [(P0, P1, {OLD_ID}), (P1, P2, {OLD_ID, NEW_ID})],
    ids=["phase1-rollout", "phase2-rollout"],
)
async def test_neighbouring_phases_read_each_others_payloads(
    temporal_dev_server: TemporalDevServer,
    spawn: Spawn,
    keys_a: dict[str, str],
    keys_b: dict[str, str],
    written: set[str],
) -> None:
    worker_a, worker_b = spawn("a", keys_a), spawn("b", keys_b)
    async with workers(worker_a, worker_b):
        a = await client(temporal_dev_server, keys_a)
        b = await client(temporal_dev_server, keys_b)
        handles = await cross_read(a, b, worker_a, worker_b)
    for handle in handles:
        # every payload in history is encrypted, and under the keys that phase writes with
        assert await history_key_ids(handle) == written
    assert "payload encrypted with key id" not in worker_a.log.read_text()
    assert "payload encrypted with key id" not in worker_b.log.read_text()


async def test_promoting_before_every_process_has_the_key_stalls_until_it_does(
    temporal_dev_server: TemporalDevServer,
    spawn: Spawn,
) -> None:
    old_worker, promoted_worker = spawn("old", P0), spawn("promoted", P2)
    async with workers(old_worker, promoted_worker):
        old = await client(temporal_dev_server, P0)
        promoted = await client(temporal_dev_server, P2)
        # the old process's client cannot read what the promoted worker wrote
        handle = await start(old, promoted_worker, "started")
        await promoted.get_workflow_handle(handle.id).execute_update(NotesWorkflow.add, "x")
        with pytest.raises(PayloadDecryptionError, match=f"key id '{NEW_ID}'.*decrypt-only"):
            await handle.query(NotesWorkflow.notes)
        # the old worker cannot read the promoted client's input: its workflow task fails
        stuck = await start(promoted, old_worker, "started")
        await eventually(
            lambda: _task_failed(stuck), what="a failed workflow task on the old worker"
        )
        log = old_worker.log.read_text()
        assert f"payload encrypted with key id '{NEW_ID}'" in log
        assert OLD.split(":")[1] not in log and NEW.split(":")[1] not in log  # ids, never keys
    # recovery: the old process restarts with the key decrypt-only and the request goes on
    old_worker.stop()
    recovered = spawn("recovered", P1, old_worker.task_queue)
    await recovered.ready()
    update = promoted.get_workflow_handle(stuck.id).execute_update(NotesWorkflow.add, "later")
    assert await asyncio.wait_for(update, 60) == ["started", "later"]


async def _task_failed(handle: WorkflowHandle) -> bool:
    history = await handle.fetch_history()
    return any(e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED for e in history.events)
