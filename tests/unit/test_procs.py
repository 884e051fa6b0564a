"""Process supervision (real child processes and sockets) and the /metrics + /healthz server."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Counter

from tests.utils.eventually import eventually_sync
from tierflow.health import serve_metrics_and_health
from tierflow.settings import Settings
from tierflow_dev.devstack import procs
from tierflow_dev.devstack.procs import (
    ManagedProcess,
    StackError,
    ensure_port_free,
    free_port,
    pid_on_port,
    port_in_use,
    wait_until,
)
from tierflow_dev.devstack.stack import AppProcess, LocalStack

SLEEPER = [sys.executable, "-c", "import time; print('up', flush=True); time.sleep(60)"]
STUBBORN = [
    sys.executable,
    "-c",
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "print('ready', flush=True); time.sleep(60)",
]


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A socket of this test process listening on a free port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    yield sock
    sock.close()


def _proc(tmp_path: Path, argv: list[str], name: str = "sleeper") -> ManagedProcess:
    return ManagedProcess(name=name, argv=argv, home=tmp_path)


def test_start_is_idempotent_and_stop_removes_pidfile(tmp_path: Path) -> None:
    proc = _proc(tmp_path, SLEEPER)
    pid = proc.start()
    try:
        assert proc.start() == pid
        assert proc.pidfile.read_text() == str(pid)
        eventually_sync(
            lambda: "up" in proc.log_path.read_text(),
            10,
            "sleeper output",
            ignoring=(FileNotFoundError,),
        )
    finally:
        assert proc.stop(timeout=5) is True
    assert not proc.is_running()
    assert not proc.pidfile.exists()
    assert proc.stop() is False


def test_stale_pidfile_is_ignored_and_removed(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    proc = _proc(tmp_path, SLEEPER)
    proc.pidfile.parent.mkdir(parents=True)
    proc.pidfile.write_text(done.stdout.strip())
    assert proc.pid() is None
    assert not proc.pidfile.exists()
    pid = proc.start()
    try:
        assert pid != int(done.stdout)
        assert proc.is_running()
    finally:
        proc.stop(timeout=5)


def test_stop_escalates_to_sigkill(tmp_path: Path) -> None:
    proc = _proc(tmp_path, STUBBORN, name="stubborn")
    proc.start()
    eventually_sync(
        lambda: "ready" in proc.log_path.read_text(),
        10,
        "stubborn ready",
        ignoring=(FileNotFoundError,),
    )
    started = time.monotonic()
    assert proc.stop(timeout=0.5) is True
    assert time.monotonic() - started < 5
    assert not proc.is_running()


def test_kill_stops_at_once(tmp_path: Path) -> None:
    proc = _proc(tmp_path, STUBBORN, name="stubborn")
    pid = proc.start()
    proc.kill()
    assert proc.pid() is None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_a_stopped_or_exited_child_is_known_to_have_ended(tmp_path: Path) -> None:
    """Reaped through its Popen: Python then has no child to warn about as still running."""
    stopped = _proc(tmp_path, SLEEPER, name="sleeper")
    stopped.start()
    stopped.stop(timeout=5)
    exited = _proc(tmp_path, [sys.executable, "-c", "pass"], name="quick")
    exited.start()
    eventually_sync(lambda: not exited.is_running(), 10, "the quick child exited")
    for proc in (stopped, exited):
        assert proc._child is not None and proc._child.returncode is not None


def test_pid_on_port_names_the_listener(listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    assert port_in_use(port)
    assert pid_on_port(port) == os.getpid()
    assert pid_on_port(free_port()) is None


def test_ensure_port_free_names_component_and_pid(listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    with pytest.raises(StackError) as err:
        ensure_port_free(port, "kafka")
    assert str(err.value) == f"port {port} needed by kafka is in use by pid {os.getpid()}"
    ensure_port_free(free_port(), "kafka")


def test_wait_until_reports_what_and_log(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    with pytest.raises(StackError, match=r"thing did not become ready in 0 s; see .*x\.log"):
        wait_until(lambda: False, 0.3, "thing", log=log)
    with pytest.raises(StackError, match="thing exited before it became ready"):
        wait_until(lambda: False, 10, "thing", alive=lambda: False)
    calls = iter([RuntimeError("not yet"), True])

    def flaky() -> bool:
        value = next(calls)
        if isinstance(value, Exception):
            raise value
        return value

    wait_until(flaky, 5, "flaky")


def _get(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.headers["Content-Type"], resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read().decode()


def test_health_server_serves_metrics_and_readiness() -> None:
    registry = CollectorRegistry()
    handled = Counter("tierflow_test_handled", "Handled things", registry=registry)
    handled.inc(3)
    state = {"ready": False}
    server = serve_metrics_and_health(0, registry, lambda: state["ready"])
    try:
        code, ctype, body = _get(f"{server.url}/metrics")
        assert code == 200 and ctype.startswith("text/plain")
        assert "tierflow_test_handled_total 3.0" in body

        code, _, body = _get(f"{server.url}/healthz")
        assert (code, json.loads(body)) == (503, {"status": "starting"})
        state["ready"] = True
        code, ctype, body = _get(f"{server.url}/healthz")
        assert (code, ctype, json.loads(body)) == (200, "application/json", {"status": "ok"})

        assert _get(f"{server.url}/nope")[0] == 404
    finally:
        server.close()
    assert not port_in_use(server.port)


def test_health_server_reports_a_failing_check_as_503() -> None:
    def broken() -> bool:
        raise ConnectionError("temporal unreachable")

    server = serve_metrics_and_health(0, CollectorRegistry(), broken)
    try:
        code, _, body = _get(f"{server.url}/healthz")
    finally:
        server.close()
    assert code == 503
    assert json.loads(body) == {"status": "error"}  # exception text stays in the log
    assert "temporal unreachable" not in body


def test_health_server_port_taken_raises(listener: socket.socket) -> None:
    with pytest.raises(OSError):
        serve_metrics_and_health(listener.getsockname()[1], CollectorRegistry(), lambda: True)


FLAKY_SERVER = """
import http.server, pathlib, sys
marker, port = pathlib.Path(sys.argv[1]), int(sys.argv[2])
if not marker.exists():  # the first run fails at once, as a process whose port was taken
    marker.write_text("failed once")
    sys.exit(3)
class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(b"ok")
http.server.HTTPServer(("127.0.0.1", port), Health).serve_forever()
"""


def test_an_app_that_exits_before_it_is_ready_is_started_once_more(tmp_path: Path) -> None:
    port, said = free_port(), []
    argv = [sys.executable, "-c", FLAKY_SERVER, str(tmp_path / "marker"), str(port)]
    app = AppProcess(_proc(tmp_path, argv, name="flaky"), "127.0.0.1", port)
    stack = LocalStack(Settings(home=tmp_path / "home"), echo=said.append)
    try:
        assert stack.start_app(app, timeout=30).startswith("flaky started")
        (notice,) = said
        assert notice.startswith("flaky (pid ") and notice.endswith("starting it again")
        assert app.healthy()
    finally:
        app.process.stop(5)


def test_free_ports_come_from_below_the_ephemeral_range() -> None:
    """Outgoing connections take their local ports from the ephemeral range; a server's port
    picked there can be taken before the server binds it."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    ports = {free_port() for _ in range(50)}
    assert all(10_000 <= port < low for port in ports), sorted(ports)
    assert len(ports) > 40  # picked at random, not the same few again and again
    for port in ports:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", port))  # free indeed


@pytest.mark.parametrize("address", ["127.0.0.1", "127.0.0.2"])
def test_a_taken_port_is_never_picked(
    monkeypatch: pytest.MonkeyPatch, address: str, tmp_path: Path
) -> None:
    """Taken on any local address (the cluster tests' members listen on a 10.x of their own)."""
    monkeypatch.setattr(procs, "RESERVATIONS", tmp_path)  # a narrow range: claims of its own
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind((address, 0))
        busy = taken.getsockname()[1]
        monkeypatch.setattr(procs, "PICK_LOW", busy)
        monkeypatch.setattr(procs, "_ephemeral_low", lambda: busy + 1001)
        ports = {free_port() for _ in range(100)}
    assert busy not in ports and all(busy < port < busy + 1001 for port in ports)


class Repeating:
    """A picker that offers the same port again and again before another one."""

    def __init__(self, *ports: int) -> None:
        self.ports = list(ports)

    def randrange(self, _low: int, _high: int) -> int:
        return self.ports.pop(0) if len(self.ports) > 1 else self.ports[0]


def test_a_port_handed_out_is_not_handed_out_again_before_its_server_binds_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A stack picks all its ports at once and binds some only later (the ingress after
    Temporal and Kafka are up): another test worker's pick meanwhile must skip them."""
    monkeypatch.setattr(procs, "RESERVATIONS", tmp_path)
    first, second = free_port(), free_port()  # two free ports of the real range
    for claim in tmp_path.iterdir():
        claim.unlink()
    monkeypatch.setattr(procs, "_PICKER", Repeating(first, first, first, second))
    assert free_port() == first
    assert free_port() == second  # first is still free, but reserved: skipped
    old = time.time() - procs.RESERVED_SECONDS - 1
    os.utime(tmp_path / str(first), (old, old))  # a claim long past: taken over
    monkeypatch.setattr(procs, "_PICKER", Repeating(first))
    assert free_port() == first


def test_a_temporal_service_port_is_reserved_as_the_other_picks_are(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A cluster's Temporal service ports come from a range the other picks share: a port
    one took is skipped by the other, and the other way round (a member's "address already
    in use" in a parallel run)."""
    from tierflow_dev.devstack import temporal_server

    monkeypatch.setattr(procs, "RESERVATIONS", tmp_path)
    first = temporal_server.free_service_port(set())
    assert (tmp_path / str(first)).exists()  # reserved on the host
    monkeypatch.setattr(procs, "_PICKER", Repeating(first, first + 1))
    monkeypatch.setattr(procs, "PICK_LOW", temporal_server.PORT_RANGE[0])
    assert free_port() != first  # another process's pick skips it
    picks = iter([first, first, temporal_server.PORT_RANGE[0] + 7])
    monkeypatch.setattr(temporal_server.random, "randint", lambda *_: next(picks))
    assert temporal_server.free_service_port(set()) == temporal_server.PORT_RANGE[0] + 7
