"""The local-stack launcher against real processes: Temporal dev server, Kafka, SQLite."""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka import KafkaConsumer
from temporalio.client import Client, WorkflowExecutionStatus
from typer.testing import CliRunner

from schemas.events import ParsedCommand, parse_command
from tests.utils.eventually import eventually_sync
from tierflow import constants
from tierflow.cli import app as cli_app
from tierflow.settings import Settings
from tierflow_dev.demo import demo_requests
from tierflow_dev.devstack.procs import ManagedProcess, StackError, free_port, stop_apps
from tierflow_dev.devstack.stack import COMPONENTS, AppProcess, LocalStack
from tierflow_dev.devstack.temporal import TemporalDevServer, run_async


def _settings(home: Path, **overrides: object) -> Settings:
    """Settings for a private stack: every port free right now."""
    values: dict[str, object] = {
        "home": home,
        "temporal_address": f"127.0.0.1:{free_port()}",
        "temporal_ui_port": free_port(),
        "kafka_bootstrap_servers": f"127.0.0.1:{free_port()}",
        "kafka_controller_port": free_port(),
        "database_url": "",
        "api_port": free_port(),
        "worker_metrics_port": free_port(),
        "ingress_metrics_port": free_port(),
        "notifier_metrics_port": free_port(),
        "smtp_port": free_port(),
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def _env(settings: Settings) -> dict[str, str]:
    fields = ("home", "temporal_address", "temporal_ui_port", "kafka_bootstrap_servers")
    fields += ("kafka_controller_port", "api_port", "worker_metrics_port", "ingress_metrics_port")
    return {f"TIERFLOW_{f.upper()}": str(getattr(settings, f)) for f in fields}


@pytest.fixture
def listener() -> Iterator[int]:
    """Hold a free port with a listening socket of this test process; yield the port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def test_session_server_has_search_attributes_and_start_is_idempotent(
    temporal_dev_server: TemporalDevServer,
) -> None:
    registered = run_async(temporal_dev_server.registered_search_attributes())
    assert registered == constants.SEARCH_ATTRIBUTES
    pid = temporal_dev_server.pid()
    assert pid is not None
    assert temporal_dev_server.start() == pid
    assert temporal_dev_server.healthy()


def test_restart_keeps_workflows_and_adds_missing_search_attributes(tmp_path: Path) -> None:
    port = free_port()
    first = TemporalDevServer(
        tmp_path, port=port, headless=True, search_attributes={constants.SA_STATE: "Keyword"}
    )
    first.start()
    stack = LocalStack(_settings(tmp_path, temporal_address=first.address))
    try:
        run_async(_start_parked_workflow(first.address, "wf-survivor"))
        temporal_row = stack.status()[0]
        assert (temporal_row.name, temporal_row.pid, temporal_row.healthy) == (
            "temporal",
            first.pid(),
            True,
        )
        with pytest.raises(StackError, match="reset temporal: stop temporal first"):
            stack.reset("temporal")
    finally:
        assert first.stop() is True
    assert not first.healthy()

    second = TemporalDevServer(tmp_path, port=port, headless=True)
    second.start()
    try:
        assert run_async(_status(second.address, "wf-survivor")) == WorkflowExecutionStatus.RUNNING
        assert run_async(second.registered_search_attributes()) == constants.SEARCH_ATTRIBUTES
    finally:
        second.stop()
    assert stack.reset("temporal") == [tmp_path / "temporal"]
    assert not second.db_path.exists()


async def _start_parked_workflow(address: str, workflow_id: str) -> None:
    """Start a workflow no worker polls for: it stays running and only the store remembers it."""
    client = await Client.connect(address)
    await client.start_workflow("Parked", id=workflow_id, task_queue="nobody-polls-this")


async def _status(address: str, workflow_id: str) -> WorkflowExecutionStatus | None:
    client = await Client.connect(address)
    return (await client.get_workflow_handle(workflow_id).describe()).status


def test_taken_port_error_names_the_pid(tmp_path: Path, listener: int) -> None:
    server = TemporalDevServer(tmp_path, port=listener, headless=True)
    with pytest.raises(StackError) as err:
        server.start(timeout=5)
    assert str(err.value) == f"port {listener} needed by temporal is in use by pid {os.getpid()}"
    assert not server.is_running()


def test_preflight_lists_missing_java_and_taken_ports(
    tmp_path: Path, listener: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setenv("JAVA_HOME", str(empty))
    stack = LocalStack(_settings(tmp_path / "home", api_port=listener))
    with pytest.raises(StackError) as err:
        stack.preflight(with_processes=True)
    message = str(err.value)
    assert "Java 17+ not found" in message
    assert "openjdk-17-jre-headless" in message
    assert f"port {listener} needed by api is in use by pid {os.getpid()}" in message
    assert "temporal CLI not found" not in message  # found next to the venv's python


def test_status_of_a_stopped_stack_reports_every_component_down(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _settings(tmp_path)
    rows = LocalStack(settings).status()
    assert [row.name for row in rows] == list(COMPONENTS)
    assert all(row.pid is None and not row.healthy for row in rows)
    assert next(r for r in rows if r.name == "db").detail == "not created yet"

    monkeypatch.chdir(tmp_path)  # where `make up` runs: the logs are below it
    result = CliRunner().invoke(cli_app, ["dev", "status"], env=_env(settings))
    assert result.exit_code == 1, result.output
    assert "temporal" in result.output and "down" in result.output
    log = Path(os.path.relpath(next(r for r in rows if r.name == "api").log or "", tmp_path))
    assert not str(log).startswith("..") and "…" not in result.output  # nothing cut short
    assert f"(logs in {log.parent})" in result.output  # the folder once, then each file
    assert "│ api.log" in result.output and "│ temporal.log" in result.output


def _read_commands(bootstrap: str, n: int) -> list[ParsedCommand]:
    """Read the first ``n`` messages of the commands topic and parse them as the ingress does."""
    consumer = KafkaConsumer(
        constants.COMMANDS_TOPIC,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=15_000,
    )
    try:
        messages = [m for _, m in zip(range(n), consumer, strict=False)]
    finally:
        consumer.close()
    parsed = [parse_command(m.value, list(m.headers or [])) for m in messages]
    assert [m.key.decode() for m in messages] == [p.request_id for p in parsed]
    return parsed


def test_up_is_idempotent_and_down_stops_in_reverse(tmp_path: Path) -> None:
    """Temporal + Kafka + database, without the three processes (they have their own tests)."""
    messages: list[str] = []
    stack = LocalStack(_settings(tmp_path), echo=messages.append)
    try:
        first = stack.up(with_processes=False)
        assert [m.split()[0] for m in first] == ["temporal", "kafka", "database"]
        assert "started" in first[0] and "started" in first[1]
        again = stack.up(demo=3, with_processes=False)
        assert again[0].startswith("temporal already running (pid ")
        assert again[1].startswith("kafka already running at ")
        assert again[-1] == f"submitted 3 demo requests to {constants.COMMANDS_TOPIC}"
        commands = _read_commands(stack.kafka_bootstrap, 3)
        assert sorted(c.request_id for c in commands) == sorted(
            r.request_id for r in demo_requests(3)
        )
        assert all(c.command == "submit" and c.submit is not None for c in commands)
        healthy = {row.name: row.healthy for row in stack.status()}
        assert healthy == {
            "temporal": True,
            "kafka": True,
            "db": True,
            "worker": False,
            "ingress": False,
            "notifier": False,
            "api": False,
        }
        with pytest.raises(StackError, match="reset kafka: stop kafka first"):
            stack.reset("kafka")
    finally:
        stopped = stack.down(timeout=20)
    assert stopped == ["kafka", "temporal"]
    assert messages[-2:] == ["kafka stopped", "temporal stopped"]
    assert not any(row.running for row in stack.status())
    assert (tmp_path / "tierflow.db").exists()  # data stays


HEALTHY_CHILD = """
import time
from prometheus_client import CollectorRegistry
from tierflow.health import serve_metrics_and_health
serve_metrics_and_health({port}, CollectorRegistry(), lambda: True)
time.sleep(120)
"""


def test_start_app_waits_for_healthz_and_reports_a_crash_with_its_log(tmp_path: Path) -> None:
    stack = LocalStack(_settings(tmp_path))
    port = free_port()
    good = AppProcess(
        ManagedProcess("worker", [sys.executable, "-c", HEALTHY_CHILD.format(port=port)], tmp_path),
        "127.0.0.1",
        port,
    )
    try:
        started = stack.start_app(good, timeout=30)
        assert started == f"worker started (pid {good.process.pid()}) at http://127.0.0.1:{port}"
        assert stack.start_app(good).startswith("worker already running (pid ")
        assert good.healthy()
    finally:
        good.process.stop(timeout=5)

    crash = [sys.executable, "-c", "raise SystemExit('cannot reach temporal')"]
    bad = AppProcess(ManagedProcess("ingress", crash, tmp_path), "127.0.0.1", free_port())
    with pytest.raises(StackError) as err:
        stack.start_app(bad, timeout=30)
    log = tmp_path / "logs" / "ingress.log"
    assert f"exited before it became ready; see {log}; its log ends:\n" in str(err.value)
    assert "cannot reach temporal" in log.read_text()
    assert str(err.value).endswith("cannot reach temporal")  # why, with the report


# A process that says when SIGTERM reached it and when it exited: a graceful shutdown that
# takes a moment.
GRACEFUL_CHILD = """
import pathlib, signal, sys, time
out, name = pathlib.Path(sys.argv[1]), sys.argv[2]
def say(what):
    with out.open("a") as f:
        f.write(f"{name} {what} {time.monotonic()}\\n")
def term(*_):
    say("term")
    time.sleep(0.3)
    say("exit")
    sys.exit(0)
signal.signal(signal.SIGTERM, term)
say("ready")
while True:
    time.sleep(1)
"""


def test_down_stops_the_front_processes_at_once_then_the_workers(tmp_path: Path) -> None:
    said = tmp_path / "said.txt"
    names = ["worker", "ingress", "api"]
    processes = {
        name: ManagedProcess(
            name, [sys.executable, "-c", GRACEFUL_CHILD, str(said), name], tmp_path
        )
        for name in names
    }
    try:
        for process in processes.values():
            process.start()

        def ready() -> bool:
            return said.exists() and said.read_text().count("ready") == len(names)

        eventually_sync(ready, 30, "every child ready")
        assert stop_apps(processes, timeout=10) == ["ingress", "api", "worker"]
    finally:
        for process in processes.values():
            process.stop(timeout=5)
    at = {
        (name, what): float(when)
        for name, what, when in (line.split() for line in said.read_text().splitlines())
        if what != "ready"
    }
    assert set(at) == {(n, w) for n in names for w in ("term", "exit")}
    # the front ones were told together: each got SIGTERM before the other had exited
    assert at["ingress", "term"] < at["api", "exit"]
    assert at["api", "term"] < at["ingress", "exit"]
    # the worker only once both had exited (what they finish needs the workers)
    assert at["worker", "term"] >= max(at["ingress", "exit"], at["api", "exit"])
