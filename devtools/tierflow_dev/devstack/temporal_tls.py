"""Run a real Temporal server whose frontend requires mTLS (``temporal-server tls-dev``).

The dev server CLI has no TLS flags, so ``deploy/temporal-server`` (the same Go program as
the production server, built and cached by ``temporal_server.build_binary``) has a
``tls-dev`` command that embeds the Temporal server with ``global.tls.frontend`` set. It runs
as a managed background process.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio.service import TLSConfig

from tierflow_dev.devstack.procs import (
    ManagedProcess,
    ServerProcess,
    ensure_port_free,
    free_port,
    wait_until,
)
from tierflow_dev.devstack.temporal import run_async
from tierflow_dev.devstack.temporal_server import build_binary

READY_LINE = b"temporal-tls: serving"


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
            str(binary), "tls-dev",
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
        return self.running_pid()

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
