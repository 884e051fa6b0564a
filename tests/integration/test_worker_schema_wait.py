"""A worker started on a read model older than its release waits, not ready, polling nothing,
until ``tierflow db upgrade`` has run; then it polls (a `tierflow worker` process on the
session's Temporal and Kafka).

Its writes would otherwise fail on the columns its release added, request after request,
while its health said it was fine and a rolling update replaced the working processes with it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from pathlib import Path

from tests.utils.eventually import eventually
from tierflow.db.migrate import current_revision, upgrade
from tierflow.db.schema_head import schema_head
from tierflow_dev.devstack.kafka import KafkaBroker
from tierflow_dev.devstack.procs import free_port
from tierflow_dev.devstack.temporal import TemporalDevServer

BEHIND = "0038_untimed_sign_fors"


def _health(port: int) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as answer:
        return answer.code, json.loads(answer.read())
    except OSError:
        return 0, {}


async def test_a_worker_waits_for_the_schema_of_its_release(
    temporal_dev_server: TemporalDevServer, kafka_broker: KafkaBroker, tmp_path: Path
) -> None:
    assert BEHIND[:4] < schema_head()
    url = f"sqlite:///{tmp_path / 'read.db'}"
    upgrade(url, BEHIND)
    port = free_port()
    env = {
        **os.environ,
        "TIERFLOW_HOME": str(tmp_path / "home"),
        "TIERFLOW_DATABASE_URL": url,
        "TIERFLOW_TEMPORAL_ADDRESS": temporal_dev_server.address,
        "TIERFLOW_KAFKA_BOOTSTRAP_SERVERS": kafka_broker.bootstrap,
        "TIERFLOW_TASK_QUEUE": f"schema-wait-{uuid.uuid4().hex[:8]}",
        "TIERFLOW_WORKER_METRICS_PORT": str(port),
        "TIERFLOW_WORKER_SDK_METRICS_PORT": str(free_port()),
    }
    log = (tmp_path / "worker.log").open("w+")
    worker = subprocess.Popen(
        [sys.executable, "-m", "tierflow.cli", "worker"], env=env, stdout=log, stderr=log
    )
    try:

        def waiting() -> bool:
            log.seek(0)
            return "waiting for `tierflow db upgrade`" in log.read()

        await eventually(waiting, timeout=60, what="the worker to say it waits for the schema")
        status, _ = _health(port)
        assert status == 503  # not ready: a rolling update keeps the release before running
        assert worker.poll() is None and current_revision(url) == BEHIND  # it changed nothing
        upgrade(url)
        await eventually(lambda: _health(port)[0] == 200, timeout=90, what="the worker polling")
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        log.close()
