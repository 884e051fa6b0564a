"""How a message leaves: e-mail over SMTP, and signed HTTP posts (webhooks, the SMS gateway).

Every sender raises ``Transient`` for a failure a later attempt may cure and ``Permanent``
for one it cannot; the messages name the endpoint and the status, never an address.
"""

from __future__ import annotations


class SendError(Exception):
    """A send that did not happen."""


class Transient(SendError):
    """Try again later: the server or endpoint is down, busy or timed out."""


class Permanent(SendError):
    """Retrying cannot help: the server refused the message or the recipient for good."""
