"""A real HTTP webhook receiver for tests: verifies every Standard Webhooks signature it gets.

It can be stopped and started again on the same port, as an endpoint that is down for a while,
or hold every request unanswered (``hold``/``release``), as an endpoint that hangs.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tierflow.webhook_signature import WebhookVerificationError, verify
from tierflow_dev.devstack.procs import free_port


class WebhookReceiver:
    """Accepts POSTs on ``url``; ``deliveries`` holds (webhook-id, payload) of verified ones."""

    def __init__(self, secret: str, port: int | None = None) -> None:
        self.secret, self.port = secret, port or free_port()
        self.deliveries: list[tuple[str, dict[str, Any]]] = []
        self.refused: list[str] = []  # why a delivery failed verification
        self._lock = threading.Lock()
        self._answering = threading.Event()
        self._answering.set()
        self.held = 0  # requests waiting for ``release`` now
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/tierflow"

    def ids(self) -> list[str]:
        with self._lock:
            return [msg_id for msg_id, _ in self.deliveries]

    def hold(self) -> None:
        """Leave every request unanswered until ``release`` (a hanging endpoint)."""
        self._answering.clear()

    def release(self) -> None:
        self._answering.set()

    def start(self) -> WebhookReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                if not receiver._answering.is_set():
                    with receiver._lock:
                        receiver.held += 1
                    receiver._answering.wait(timeout=120)
                    with receiver._lock:
                        receiver.held -= 1
                try:
                    msg_id = verify(receiver.secret, dict(self.headers.items()), body)
                except WebhookVerificationError as exc:
                    with receiver._lock:
                        receiver.refused.append(str(exc))
                    self.send_response(401)
                    self.end_headers()
                    return
                with receiver._lock:
                    receiver.deliveries.append((msg_id, json.loads(body)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet."""

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.release()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
