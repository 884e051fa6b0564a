"""Start, find and stop the background processes of the local stack (pidfiles, logs, ports)."""

from __future__ import annotations

import fcntl
import os
import random
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

import psutil


class StackError(RuntimeError):
    """A component could not be started or checked; the message says what to do."""


@contextmanager
def cache_lock(folder: Path) -> Iterator[None]:
    """Hold ``folder``'s lock: processes filling the same per-machine cache at once (the test
    suite's workers) wait for each other, and the later ones find it filled."""
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """Return True if something accepts TCP connections on host:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def pid_on_port(port: int) -> int | None:
    """Return the pid listening on a local TCP port, or None (also when it is not ours to see)."""
    owners = {
        conn.pid
        for conn in psutil.net_connections(kind="tcp")
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port
    }
    return min((pid for pid in owners if pid is not None), default=None)


def ports_taken(wanted: list[tuple[int, str]]) -> list[str]:
    """A line for each ``(port, component)`` another process holds already, naming it."""
    problems = []
    for port, component in wanted:
        if port_in_use(port):
            owner = pid_on_port(port)
            who = f"pid {owner}" if owner else "another process"
            problems.append(f"port {port} needed by {component} is in use by {who}")
    return problems


# Ports free_port picks from: below the kernel's ephemeral range (see ``_ephemeral_low``)
PICK_LOW = 10_000
EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_PICKER = random.SystemRandom()  # not the seedable module generator: workers would agree
# Ports handed out lately, one file each, shared by every process on the host: a stack picks
# its ports at once but binds some of them only later (the ingress after Temporal and Kafka
# are up), and a parallel test worker must not pick one of them meanwhile.
RESERVATIONS = Path(tempfile.gettempdir()) / "tierflow-port-reservations"
RESERVED_SECONDS = 15 * 60


def reserve_port(port: int) -> bool:
    """Claim ``port`` for a while on this host; False if another pick holds it still."""
    RESERVATIONS.mkdir(parents=True, exist_ok=True)
    claim = RESERVATIONS / str(port)
    try:
        os.close(os.open(claim, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        return True
    except FileExistsError:
        try:
            if time.time() - claim.stat().st_mtime < RESERVED_SECONDS:
                return False
        except FileNotFoundError:
            pass
        claim.touch()  # an old claim: its stack is long gone or has bound the port
        return True


def _ephemeral_low() -> int:
    """The lowest port the kernel gives outgoing connections (32768 when it cannot tell)."""
    try:
        return int(EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768


def free_port() -> int:
    """Return a TCP port free on every local address right now, for a server we are starting.

    The port comes from below the kernel's ephemeral range. Asking the kernel (bind to port
    0) hands out a port from that range, the one every outgoing connection takes its local
    port from: on a busy host a connection took such a port before the server bound it (a
    Temporal dev server's "address already in use" in a parallel test run). A port handed
    out is reserved on the host for a while (``RESERVATIONS``), so that another process's
    pick skips it before its server binds it.
    """
    high = _ephemeral_low()
    for _ in range(200):
        port = _PICKER.randrange(PICK_LOW, high) if high > PICK_LOW + 1000 else 0
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:  # every address: not in use on another one either (a test's own 10.x)
                sock.bind(("0.0.0.0", port))
            except OSError:
                continue
            found = int(sock.getsockname()[1])
        if port == 0 or reserve_port(found):  # 0: the kernel's own pick, no range to share
            return found
    raise StackError(f"no TCP port between {PICK_LOW} and {high} is free on every address")


def ensure_port_free(port: int, component: str) -> None:
    """Raise StackError naming the owner if ``port`` is already taken."""
    if port_in_use(port):
        owner = pid_on_port(port)
        who = f"pid {owner}" if owner else "another process"
        raise StackError(f"port {port} needed by {component} is in use by {who}")


LOG_TAIL_LINES = 15


def log_tail(log: Path | None) -> str:
    """The end of a process's log, for an error that would otherwise only point at it: a
    test's stack is gone with its folder by the time anyone reads the report."""
    try:
        lines = log.read_text("utf-8", errors="replace").splitlines() if log else []
    except OSError:
        return ""
    return "; its log ends:\n" + "\n".join(lines[-LOG_TAIL_LINES:]) if lines else ""


def wait_until(
    check: Callable[[], bool],
    timeout: float,
    what: str,
    log: Path | None = None,
    alive: Callable[[], bool] | None = None,
) -> None:
    """Poll ``check`` until it is true; raise StackError saying what and where to look."""
    deadline = time.monotonic() + timeout
    hint = f"; see {log}" if log else ""
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception:  # noqa: BLE001 - a failing probe just means "not ready yet"
            pass
        if alive is not None and not alive():
            raise StackError(f"{what} exited before it became ready{hint}{log_tail(log)}")
        time.sleep(0.25)
    raise StackError(f"{what} did not become ready in {timeout:.0f} s{hint}")


@dataclass
class ManagedProcess:
    """A detached child with a pidfile and a log file under the stack's home folder."""

    name: str
    argv: list[str]
    home: Path
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    # The child this object started, if any: reaped through Popen, so Popen knows it ended
    # (reaped behind its back, it would warn at exit that the child still runs).
    _child: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def pidfile(self) -> Path:
        return self.home / "run" / f"{self.name}.pid"

    @property
    def log_path(self) -> Path:
        return self.home / "logs" / f"{self.name}.log"

    def pid(self) -> int | None:
        """Return the pid of the running process, or None (a stale pidfile is removed)."""
        try:
            pid = int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return None
        if self._alive(pid):
            return pid
        self.pidfile.unlink(missing_ok=True)
        return None

    def is_running(self) -> bool:
        return self.pid() is not None

    def start(self) -> int:
        """Start the process unless it already runs; return its pid."""
        existing = self.pid()
        if existing is not None:
            return existing
        self.pidfile.parent.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            proc = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.cwd,
                env={**os.environ, **self.env},
                start_new_session=True,
            )
        self.pidfile.write_text(str(proc.pid))
        self._child = proc  # keep a handle so a fast exit is reaped, not left as a zombie
        return proc.pid

    def _alive(self, pid: int) -> bool:
        if self._child is not None and self._child.pid == pid:
            self._child.poll()
        return _alive(pid)

    def stop(self, timeout: float = 20.0) -> bool:
        """Stop with SIGTERM, then SIGKILL after ``timeout``; return True if it was running."""
        pid = self.pid()
        if pid is None:
            return False
        _signal_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self._alive(pid):
            time.sleep(0.1)
        if self._alive(pid):
            _signal_group(pid, signal.SIGKILL)
            while self._alive(pid):
                time.sleep(0.05)
        self.pidfile.unlink(missing_ok=True)
        return True

    def kill(self) -> None:
        """Kill -9 the process group at once (for fault-injection tests)."""
        pid = self.pid()
        if pid is not None:
            _signal_group(pid, signal.SIGKILL)
            while self._alive(pid):
                time.sleep(0.05)
            self.pidfile.unlink(missing_ok=True)


def stop_apps(processes: dict[str, ManagedProcess], timeout: float) -> list[str]:
    """Stop tierflow's processes, the front ones (API, ingress, notifier) at once, then the
    workers at once: what the front ones finish on SIGTERM needs the workers. Return the
    names of those that were running."""
    front = {n: p for n, p in processes.items() if not n.startswith("worker")}
    workers = {n: p for n, p in processes.items() if n not in front}
    stopped: list[str] = []
    for layer in (front, workers):
        if not layer:
            continue
        with ThreadPoolExecutor(len(layer)) as pool:
            ran = list(pool.map(lambda p: p.stop(timeout), layer.values()))
        stopped += [name for name, was in zip(layer, ran, strict=True) if was]
    return stopped


class ServerProcess:
    """A server that runs as a ManagedProcess and answers at ``host:port``.

    A subclass starts it (``start`` returns ``running_pid()`` once it answers); stopping,
    killing and the ``with`` block are the same for every server.
    """

    host: str
    port: int
    process: ManagedProcess
    stop_timeout = 20.0  # seconds from SIGTERM to SIGKILL

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.process.log_path

    def start(self, timeout: float = 60) -> int:
        raise NotImplementedError

    def is_running(self) -> bool:
        return self.process.is_running()

    def running_pid(self) -> int:
        """The pid of the server that just became ready (raise if it exited meanwhile)."""
        pid = self.process.pid()
        if pid is None:
            raise StackError(
                f"{self.process.name} exited right after it became ready; see {self.log_path}"
            )
        return pid

    def stop(self, timeout: float | None = None) -> bool:
        """Stop with SIGTERM (SIGKILL after ``timeout``); return True if it was running."""
        return self.process.stop(self.stop_timeout if timeout is None else timeout)

    def kill(self) -> None:
        """Kill -9 the server (fault injection)."""
        self.process.kill()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        return
    except PermissionError:
        os.kill(pid, sig)


def _alive(pid: int) -> bool:
    try:
        os.waitpid(pid, os.WNOHANG)  # reap our own exited children
    except ChildProcessError:
        pass
    try:
        zombie = psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True
    if zombie:
        # It died between the first waitpid and now: reap it if it is our child, so the
        # pid is really gone once we say so.
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        return False
    return True
