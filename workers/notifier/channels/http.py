"""Signed HTTP posts: webhooks to other systems and the SMS gateway.

The ``webhook-id`` is the notification's own id, the same on every attempt, so a receiver
that dedupes by it sees each message once even when we resend after a crash.
"""

from __future__ import annotations

import httpx

from tierflow import webhook_signature
from workers.notifier.channels import Permanent, Transient

RETRY_STATUSES = frozenset({408, 409, 425, 429})


def webhook_id(notification_id: int) -> str:
    return f"ntf_{notification_id}"


def post(
    client: httpx.Client,
    name: str,
    url: str,
    body: bytes,
    msg_id: str,
    secret: str | None,
    timeout: float,
    content_type: str = "application/json",
) -> None:
    """POST ``body`` signed with ``secret`` (if any); raise Transient or Permanent."""
    headers = {"content-type": content_type, "webhook-id": msg_id}
    if secret:
        headers |= webhook_signature.headers(secret, msg_id, body)
    try:
        response = client.post(url, content=body, headers=headers, timeout=timeout)
    except httpx.HTTPError as exc:
        raise Transient(f"{name}: {type(exc).__name__}") from None
    status = response.status_code
    if 200 <= status < 300:
        return
    if status >= 500 or status in RETRY_STATUSES:
        raise Transient(f"{name}: HTTP {status}")
    raise Permanent(f"{name}: HTTP {status}")
