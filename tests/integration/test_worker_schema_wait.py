"""A worker, ingress or notifier started on a read model older than its release waits, not
ready, doing nothing, until ``tierflow db upgrade`` has run; then it starts its work (a
`tierflow worker|ingress|notifier` process on the session's Temporal and Kafka).

Its writes and checks would otherwise fail on the columns its release added, request after
request (or command after command, event after event), while its health said it was fine and a
rolling update replaced the working processes with it.
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

import pytest

from tests.utils.eventually import eventually
from tierflow.db.migrate import current_revision, upgrade
from tierflow.db.schema_head import schema_head
from tierflow_dev.devstack.kafka import KafkaBroker
from tierflow_dev.devstack.procs import free_port
from tierflow_dev.devstack.temporal import TemporalDevServer

BEHIND = "0038_untimed_sign_fors"


def _health(port: int, path: str = "/healthz") -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as answer:
        return answer.code, json.loads(answer.read())
    except OSError:
        return 0, {}


def _process_env(command: str, port: int, run: str, kafka: KafkaBroker) -> dict[str, str]:
    """The settings of one ``command`` process with topics and groups of its own."""
    if command == "worker":
        return {
            "TIERFLOW_WORKER_METRICS_PORT": str(port),
            "TIERFLOW_WORKER_SDK_METRICS_PORT": str(free_port()),
        }
    topics = {f"{run}-{name}": 1 for name in ("commands", "dlq", "events", "notifier-dlq")}
    kafka.ensure_topics(topics)
    if command == "ingress":
        return {
            "TIERFLOW_INGRESS_METRICS_PORT": str(port),
            "TIERFLOW_COMMANDS_TOPIC": f"{run}-commands",
            "TIERFLOW_DEAD_LETTER_TOPIC": f"{run}-dlq",
            "TIERFLOW_INGRESS_GROUP": f"{run}-ingress",
        }
    return {
        "TIERFLOW_NOTIFIER_METRICS_PORT": str(port),
        "TIERFLOW_NOTIFIER_EVENTS_TOPIC": f"{run}-events",
        "TIERFLOW_NOTIFIER_DEAD_LETTER_TOPIC": f"{run}-notifier-dlq",
        "TIERFLOW_NOTIFIER_GROUP": f"{run}-notifier",
    }


@pytest.mark.parametrize("command", ["worker", "ingress", "notifier"])
async def test_a_process_waits_for_the_schema_of_its_release(
    command: str,
    temporal_dev_server: TemporalDevServer,
    kafka_broker: KafkaBroker,
    tmp_path: Path,
) -> None:
    assert BEHIND[:4] < schema_head()
    url = f"sqlite:///{tmp_path / 'read.db'}"
    upgrade(url, BEHIND)
    port = free_port()
    run = f"schema-wait-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "TIERFLOW_HOME": str(tmp_path / "home"),
        "TIERFLOW_DATABASE_URL": url,
        "TIERFLOW_TEMPORAL_ADDRESS": temporal_dev_server.address,
        "TIERFLOW_KAFKA_BOOTSTRAP_SERVERS": kafka_broker.bootstrap,
        "TIERFLOW_TASK_QUEUE": run,
        **_process_env(command, port, run, kafka_broker),
    }
    log = (tmp_path / f"{command}.log").open("w+")
    process = subprocess.Popen(
        [sys.executable, "-m", "tierflow.cli", command], env=env, stdout=log, stderr=log
    )
    try:

        def waiting() -> bool:
            log.seek(0)
            return "waiting for `tierflow db upgrade`" in log.read()

        await eventually(waiting, timeout=60, what=f"the {command} to say it waits for the schema")
        status, _ = _health(port)
        assert status == 503  # not ready: a rolling update keeps the release before running
        assert _health(port, "/livez")[0] == 200  # alive: no probe restarts it while it waits
        assert process.poll() is None and current_revision(url) == BEHIND  # it changed nothing
        upgrade(url)
        await eventually(lambda: _health(port)[0] == 200, timeout=90, what=f"the {command} at work")
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()
