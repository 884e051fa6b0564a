"""/metrics and /healthz on one small HTTP thread, shared by the worker and ingress processes."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest


class HealthServer(ThreadingHTTPServer):
    """The HTTP server behind ``serve_metrics_and_health``; ``close()`` stops its thread."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self, address: tuple[str, int], registry: CollectorRegistry, ready: Callable[[], bool]
    ) -> None:
        super().__init__(address, _Handler)
        self.registry = registry
        self.ready = ready
        self.thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @property
    def url(self) -> str:
        host = self.server_address[0]
        return f"http://{host.decode() if isinstance(host, bytes) else host}:{self.port}"

    def close(self) -> None:
        """Stop serving and release the port."""
        self.shutdown()
        self.server_close()
        if self.thread is not None:
            self.thread.join(timeout=5)


class _Handler(BaseHTTPRequestHandler):
    server: HealthServer

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            self._send(200, generate_latest(self.server.registry), CONTENT_TYPE_LATEST)
        elif path == "/healthz":
            self._healthz()
        else:
            self._send(404, b'{"error":"not found"}', "application/json")

    def _healthz(self) -> None:
        try:
            ok = bool(self.server.ready())
            body = {"status": "ok" if ok else "starting"}
        except Exception as exc:  # noqa: BLE001 - a failing readiness check is "not ready"
            ok, body = False, {"status": "error", "error": f"{type(exc).__name__}: {exc}"}
        self._send(200 if ok else 503, json.dumps(body).encode(), "application/json")

    def _send(self, code: int, body: bytes, content_type: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Keep scrapes and probes out of the process log."""


def serve_metrics_and_health(
    port: int,
    registry: CollectorRegistry,
    ready: Callable[[], bool],
    host: str = "127.0.0.1",
) -> HealthServer:
    """Serve /metrics for ``registry`` and /healthz (200 when ``ready()``, else 503) in a thread.

    ``port=0`` picks a free port (read it from ``server.port``). Call ``server.close()`` to stop.
    """
    server = HealthServer((host, port), registry, ready)
    server.thread = threading.Thread(
        target=server.serve_forever, name=f"health-{server.port}", daemon=True
    )
    server.thread.start()
    return server
