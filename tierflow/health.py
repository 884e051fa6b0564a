"""/metrics, /healthz and /livez of the worker, ingress and notifier processes, on
prometheus_client's server.

``/metrics`` is prometheus_client's own WSGI app (content negotiation for OpenMetrics, gzip);
``/healthz`` (ready: rollouts and readiness probes) answers from a check the process gives: a
bool, or an object with ``status`` (``"ok"`` answers 200, anything else 503) and optional
per-part details. A check that raises answers 503 ``{"status": "error"}``; the exception goes
to the log, never to the caller. ``/livez`` (alive: liveness and startup probes) answers the
same body, 200 also while the process is ``starting`` (it may wait for a migration or a
server for minutes, which a restart would not shorten) and 503 when it is ``degraded`` (a
stalled consumer, which a restart cures) or its check failed.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import asdict, is_dataclass
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer

log = logging.getLogger("tierflow.health")
Check = Callable[[], Any]


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Keep scrapes and probes out of the process log."""


class HealthServer:
    """A running /metrics + /healthz + /livez server; ``close()`` stops it, freeing the port."""

    def __init__(self, host: str, port: int, registry: CollectorRegistry, check: Check) -> None:
        metrics = make_wsgi_app(registry)

        def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            path = environ.get("PATH_INFO", "")
            if path == "/metrics":
                return metrics(environ, start_response)
            if path == "/healthz":
                code, body = _health(check)
            elif path == "/livez":
                code, body = _alive(check)
            else:
                code, body = 404, {"error": "not found"}
            status = {200: "200 OK", 404: "404 Not Found", 503: "503 Service Unavailable"}[code]
            payload = json.dumps(body, ensure_ascii=False).encode()
            start_response(status, [("Content-Type", "application/json")])
            return [payload]

        self._server = make_server(
            host, port, app, server_class=ThreadingWSGIServer, handler_class=_QuietHandler
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever, name=f"health-{self.port}", daemon=True
        )
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        host = self._server.server_address[0]
        return f"http://{host.decode() if isinstance(host, bytes) else host}:{self.port}"

    def close(self) -> None:
        """Stop serving and release the port."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def _health(check: Check) -> tuple[int, dict[str, Any]]:
    try:
        result = check()
    except Exception:  # noqa: BLE001 - a failing check is "not ready"; details go to the log
        log.exception("health check failed")
        return 503, {"status": "error"}
    if isinstance(result, bool):
        return (200, {"status": "ok"}) if result else (503, {"status": "starting"})
    body = asdict(result) if is_dataclass(result) and not isinstance(result, type) else result
    body = {k: v for k, v in dict(body).items() if v or k == "status"}
    return (200 if body.get("status") == "ok" else 503), body


def _alive(check: Check) -> tuple[int, dict[str, Any]]:
    code, body = _health(check)
    return (200 if code == 200 or body.get("status") == "starting" else 503), body


def serve_metrics_and_health(
    port: int, registry: CollectorRegistry, check: Check, host: str = "127.0.0.1"
) -> HealthServer:
    """Serve /metrics for ``registry``, /healthz and /livez from ``check()`` in a thread.

    ``port=0`` picks a free port (read it from ``server.port``).
    """
    return HealthServer(host, port, registry, check)
