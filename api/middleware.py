"""ASGI middleware: a request body size limit (413), per-route HTTP metrics, and the API's
answers kept out of caches."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import HTTPException, Request, status
from fastapi.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from schemas.messages import N_, Said
from tierflow.metrics import ApiMetrics

# the methods counted by name; any other (the server accepts any token) counts as OTHER, so
# that no caller adds label values to the metrics without end
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class BodyTooLarge(HTTPException):
    """Raised while reading a body past the limit; answered as a 413 (a page on the
    console, in the reader's language)."""

    def __init__(self, limit: int) -> None:
        too_large = N_("request body larger than %(limit)d bytes")
        super().__init__(status.HTTP_413_CONTENT_TOO_LARGE, Said(too_large, limit=limit))


# How the app answers an HTTP error raised outside its routes (the console: a page)
Answer = Callable[[Request, Exception], Awaitable[Response]]


class _HttpMiddleware:
    """ASGI middleware that acts on HTTP requests and passes every other scope through."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self.http(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise NotImplementedError


class BodyLimit(_HttpMiddleware):
    """Refuse bodies over ``max_bytes`` (or ``larger[path]`` on those paths): early by
    Content-Length, else while streaming."""

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        larger: dict[str, int] | None = None,
        answer: Answer | None = None,
    ) -> None:
        super().__init__(app)
        self.max_bytes = max_bytes
        self.larger = dict(larger or {})
        self.answer = answer  # the app's answer to an HTTP error (a console page); else JSON

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self.larger.get(scope.get("path", ""), self.max_bytes)
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            if self.answer is None:
                await _send_json(send, 413, {"detail": str(BodyTooLarge(limit).detail)})
            else:
                response = await self.answer(Request(scope), BodyTooLarge(limit))
                await response(scope, receive, send)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, limited, send)


class HttpMetrics(_HttpMiddleware):
    """Count requests and time them by route template (not raw path: ids would explode)."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        super().__init__(app)
        self.metrics = metrics

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        code = 500

        async def capture(message: Message) -> None:
            nonlocal code
            if message["type"] == "http.response.start":
                code = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            route: Any = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "")
            method = method if method in HTTP_METHODS else "OTHER"  # any name reaches here
            self.metrics.requests.labels(template, method, str(code)).inc()
            self.metrics.latency.labels(template, method).observe(time.perf_counter() - started)


async def _send_json(send: Send, code: int, body: dict[str, Any]) -> None:
    payload = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(payload))]
    await send({"type": "http.response.start", "status": code, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


# The API's answers carry requests with the enterprise's contact, reports and worklists: a
# browser-based portal or a proxy must not keep them (the console's pages say so themselves).
API_PREFIX = "/api/"
PRIVATE_HEADERS = ((b"cache-control", b"no-store"), (b"x-content-type-options", b"nosniff"))


class PrivateAnswers(_HttpMiddleware):
    """Mark every answer under ``/api/`` ``Cache-Control: no-store`` and ``nosniff``, unless
    the route set the header itself."""

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not scope.get("path", "").startswith(API_PREFIX):
            await self.app(scope, receive, send)
            return

        async def marked(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or [])
                present = {name.lower() for name, _ in headers}
                headers += [(k, v) for k, v in PRIVATE_HEADERS if k not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, marked)
