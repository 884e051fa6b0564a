"""A real SMTP server that keeps every mail it receives (aiosmtpd): the local stack's mailbox.

``make up`` runs it inside the notifier's process (``tierflow_dev.devstack.notifier_dev``) and
appends each mail to ``<home>/mail/sink.log`` (see ``tierflow dev logs mail``); tests start
one on a free port and read ``messages``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tierflow_dev.devstack.procs import free_port


@dataclass(frozen=True)
class Received:
    """One mail as the server saw it: envelope and the parsed message."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    message: EmailMessage
    authenticated_as: str | None

    @property
    def body(self) -> str:
        part = self.message.get_body(("plain",))
        return str(part.get_content()) if part is not None else ""


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        if self.sink.refuse:
            return "451 4.3.0 sink told to refuse"
        message = message_from_bytes(envelope.original_content, policy=policy.default)
        login = session.auth_data.login if session.auth_data else None
        received = Received(
            envelope.mail_from,
            tuple(envelope.rcpt_tos),
            message,
            login.decode() if isinstance(login, bytes) else login,
        )
        self.sink.add(received)
        return "250 OK"


class SmtpSink:
    """Run an SMTP server on ``host:port`` (a free port by default) until ``stop()``.

    ``credentials`` (user, password) turns AUTH on (allowed without TLS: a local test server);
    ``refuse`` makes it answer 451 to every mail, as a server that is having trouble.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int | None = None,
        credentials: tuple[str, str] | None = None,
        on_mail: Callable[[Received], None] | None = None,
        **smtp_options: Any,
    ) -> None:
        self.host, self.port = host, port or free_port()
        self.messages: list[Received] = []
        self.refuse = False
        self._lock = threading.Lock()
        self._on_mail = on_mail
        options: dict[str, Any] = dict(smtp_options)
        if credentials is not None:
            options |= {
                "authenticator": _Authenticator(*credentials),
                "auth_required": True,
                "auth_require_tls": False,
            }
        self._controller = Controller(_Handler(self), hostname=host, port=self.port, **options)

    def add(self, received: Received) -> None:
        with self._lock:
            self.messages.append(received)
        if self._on_mail is not None:
            self._on_mail(received)

    def snapshot(self) -> list[Received]:
        with self._lock:
            return list(self.messages)

    def start(self) -> SmtpSink:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def __enter__(self) -> SmtpSink:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


class _Authenticator:
    def __init__(self, user: str, password: str) -> None:
        self.user, self.password = user.encode(), password.encode()

    def __call__(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == self.user
            and auth_data.password == self.password
        )
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)
