"""What a worker exports when Temporal goes away: the figures ``TierflowTemporalUnreachable``
reads (a `tierflow worker` process on a Temporal dev server of its own, which the test stops).

The SDK goes on reporting its workflow-task poller while it retries the polls, so
``TierflowNoWorkerPolling`` cannot see an outage; the failed polls are counted instead.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.utils.eventually import eventually
from tierflow.db.migrate import upgrade
from tierflow_dev.devstack.kafka import KafkaBroker
from tierflow_dev.devstack.procs import free_port
from tierflow_dev.devstack.temporal import TemporalDevServer


def _samples(port: int, name: str, **labels: str) -> float | None:
    """The sum of the samples of family ``name`` carrying ``labels`` (None: none); the parser
    names a counter's samples ``<name>_total``, as the SDK's endpoint does not."""
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
    except httpx.HTTPError:
        return None
    found = [
        sample.value
        for family in text_string_to_metric_families(text)
        if family.name == name
        for sample in family.samples
        if labels.items() <= sample.labels.items()
    ]
    return sum(found) if found else None


async def test_a_worker_cut_off_from_temporal_counts_failed_polls(
    kafka_broker: KafkaBroker, tmp_path: Path
) -> None:
    server = TemporalDevServer(tmp_path / "temporal", port=free_port(), headless=True)
    server.start(timeout=60)
    url = f"sqlite:///{tmp_path / 'read.db'}"
    upgrade(url)
    metrics_port, sdk_port = free_port(), free_port()
    env = {
        **os.environ,
        "TIERFLOW_HOME": str(tmp_path / "home"),
        "TIERFLOW_DATABASE_URL": url,
        "TIERFLOW_TEMPORAL_ADDRESS": server.address,
        "TIERFLOW_KAFKA_BOOTSTRAP_SERVERS": kafka_broker.bootstrap,
        "TIERFLOW_TASK_QUEUE": f"outage-{uuid.uuid4().hex[:8]}",
        "TIERFLOW_WORKER_METRICS_PORT": str(metrics_port),
        "TIERFLOW_WORKER_SDK_METRICS_PORT": str(sdk_port),
    }
    log = (tmp_path / "worker.log").open("w+")
    worker = subprocess.Popen(
        [sys.executable, "-m", "tierflow.cli", "worker"], env=env, stdout=log, stderr=log
    )
    polls = {"poller_type": "workflow_task"}
    failed = {"operation": "PollWorkflowTaskQueue"}
    try:
        await eventually(
            lambda: (_samples(sdk_port, "temporal_num_pollers", **polls) or 0) > 0,
            timeout=120,
            what="the worker polling",
        )
        # its own process's figures, which TierflowProcessRestarting reads
        assert _samples(metrics_port, "process_start_time_seconds") is not None
        before = _samples(sdk_port, "temporal_long_request_failure", **failed) or 0
        server.stop()
        await eventually(
            lambda: (_samples(sdk_port, "temporal_long_request_failure", **failed) or 0) > before,
            timeout=60,
            what="the failed polls counted",
        )
    finally:
        server.stop()
        worker.terminate()
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
        log.close()
