"""Build and run ``deploy/temporal-tls``: a real Temporal server whose frontend requires mTLS.

The dev server CLI has no TLS flags, so a small Go program embeds the Temporal server with
``global.tls.frontend`` set. It is built once per source version into a cache folder
(``go build`` needs the Go toolchain) and run as a managed background process.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio.service import TLSConfig

from tierflow_dev.devstack.procs import (
    ManagedProcess,
    ServerProcess,
    StackError,
    ensure_port_free,
    free_port,
    wait_until,
)
from tierflow_dev.devstack.temporal import run_async
from tierflow_dev.paths import DEPLOY_DIR

SOURCE_DIR = DEPLOY_DIR / "temporal-tls"
SOURCE_FILES = ("go.mod", "go.sum", "main.go")
READY_LINE = b"temporal-tls: serving"
# -s -w: no symbol tables, a third smaller binary and a faster link; -trimpath: no local paths.
BUILD_FLAGS = ("-trimpath", "-mod=readonly", "-ldflags=-s -w")


def find_go() -> Path:
    """Return the ``go`` command ($TIERFLOW_GO, PATH, /usr/local/go) or raise StackError."""
    for candidate in (os.environ.get("TIERFLOW_GO"), shutil.which("go"), "/usr/local/go/bin/go"):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    raise StackError(
        "go not found: install Go (see deploy/temporal-tls/go.mod for the version) "
        "or set TIERFLOW_GO to the go binary"
    )


def source_hash(source_dir: Path = SOURCE_DIR) -> str:
    """Return a short hash of the Go sources; a new hash means a new build."""
    digest = hashlib.sha256(" ".join(BUILD_FLAGS).encode())
    for name in SOURCE_FILES:
        path = source_dir / name
        if not path.is_file():
            raise StackError(f"{path} is missing")
        digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def cache_dir() -> Path:
    """Return the folder that holds built binaries ($XDG_CACHE_HOME or ~/.cache)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "tierflow" / "temporal-tls"


def build_binary(source_dir: Path = SOURCE_DIR, timeout: float = 1800) -> Path:
    """Return the built server binary, running ``go build`` only if this source is new."""
    target = cache_dir() / source_hash(source_dir) / "temporal-tls"
    if target.is_file():
        return target
    go = find_go()
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"temporal-tls.partial-{os.getpid()}")  # parallel builds race safely
    started = time.monotonic()
    try:
        result = subprocess.run(
            [str(go), "build", *BUILD_FLAGS, "-o", str(partial), "."],
            cwd=source_dir,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        partial.unlink(missing_ok=True)
        raise StackError(f"go build of {source_dir} took over {timeout:.0f} s") from exc
    if result.returncode != 0:
        partial.unlink(missing_ok=True)
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-20:])
        raise StackError(f"go build of {source_dir} failed:\n{tail}")
    os.replace(partial, target)
    (target.parent / "build-seconds").write_text(f"{time.monotonic() - started:.1f}\n")
    return target


class TemporalTlsServer(ServerProcess):
    """The mTLS Temporal server as a background process with its log under ``home/logs``.

    ``client_tls`` (a TLSConfig with a client certificate the server trusts) makes
    ``start`` also wait until the namespace answers over mTLS, not only the log line.
    """

    def __init__(
        self,
        home: Path,
        *,
        cert: Path,
        key: Path,
        client_ca: Path,
        port: int | None = None,
        namespace: str = "default",
        host: str = "127.0.0.1",
        db_filename: Path | None = None,
        client_tls: TLSConfig | None = None,
        binary: Path | None = None,
    ) -> None:
        self.home = Path(home).resolve()
        self.cert, self.key, self.client_ca = Path(cert), Path(key), Path(client_ca)
        self.port = port or free_port()
        self.namespace = namespace
        self.host = host
        self.db_filename = db_filename
        self.client_tls = client_tls
        self.binary = binary
        self.process = ManagedProcess(name="temporal-tls", argv=[], home=self.home)
        self._log_offset = 0

    def argv(self, binary: Path) -> list[str]:
        """Return the command line of the server."""
        args = [
            str(binary),
            "--ip", self.host,
            "--port", str(self.port),
            "--namespace", self.namespace,
            "--tls-cert", str(self.cert),
            "--tls-key", str(self.key),
            "--tls-client-ca", str(self.client_ca),
        ]  # fmt: skip
        if self.db_filename is not None:
            args += ["--db-filename", str(self.db_filename)]
        return args

    def is_running(self) -> bool:
        return self.process.is_running()

    def start(self, timeout: float = 60) -> int:
        """Build if needed, start, wait until it serves; return the pid."""
        binary = self.binary or build_binary()
        if not self.is_running():
            ensure_port_free(self.port, "temporal-tls")
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
            self.process.argv = self.argv(binary)
            self.process.start()
        wait_until(
            self._ready,
            timeout,
            f"temporal-tls server at {self.address}",
            log=self.log_path,
            alive=self.is_running,
        )
        pid = self.process.pid()
        if pid is None:
            raise StackError(
                f"temporal-tls exited right after it became ready; see {self.log_path}"
            )
        return pid

    def stop(self, timeout: float = 20.0) -> bool:
        """Stop with SIGTERM (SIGKILL after ``timeout``); return True if it was running."""
        return self.process.stop(timeout)

    def __enter__(self) -> TemporalTlsServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _ready(self) -> bool:
        with self.log_path.open("rb") as log:
            log.seek(self._log_offset)
            if READY_LINE not in log.read():
                return False
        if self.client_tls is None:
            return True
        return run_async(self._describe_namespace())

    async def _describe_namespace(self) -> bool:
        from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
        from temporalio.client import Client

        client: Any = await Client.connect(
            self.address,
            namespace=self.namespace,
            tls=self.client_tls or False,
            connect_timeout=timedelta(seconds=3),
        )
        await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace=self.namespace)
        )
        return True
