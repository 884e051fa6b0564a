"""Standard Webhooks signatures (HMAC-SHA256, ``v1``): sign what we send, verify what you get.

The scheme (https://www.standardwebhooks.com): the signed content is
``<webhook-id>.<webhook-timestamp>.<body>``; the secret is base64 after a ``whsec_`` prefix;
``webhook-signature`` holds space-separated ``v1,<base64 digest>`` entries, any of which may
match (so a secret can be rotated). Receivers refuse timestamps more than five minutes off.
A receiver written in Python can use :func:`verify` as it is.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping

SECRET_PREFIX = "whsec_"
TOLERANCE_SECONDS = 5 * 60
ID_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER = (
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
)


class WebhookVerificationError(ValueError):
    """A delivery that is not proven to come from the sender; the message says why."""


def new_secret() -> str:
    """Return a fresh random secret in the scheme's ``whsec_`` form (24 random bytes)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def secret_key(secret: str) -> bytes:
    """Return the key bytes of a ``whsec_...`` (or bare base64) secret; ValueError if not base64."""
    raw = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(raw, validate=True)
    except ValueError:
        raise ValueError("webhook secret must be base64 after the whsec_ prefix") from None
    if not key:
        raise ValueError("webhook secret is empty")
    return key


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """Return the ``webhook-signature`` value (``v1,<base64>``) of one delivery."""
    content = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(secret: str, msg_id: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """Return the three headers of a delivery signed now (or at ``timestamp``)."""
    stamp = int(time.time()) if timestamp is None else timestamp
    return {
        ID_HEADER: msg_id,
        TIMESTAMP_HEADER: str(stamp),
        SIGNATURE_HEADER: sign(secret, msg_id, stamp, body),
    }


def verify(
    secret: str,
    received: Mapping[str, str],
    body: bytes,
    *,
    now: float | None = None,
    tolerance: int = TOLERANCE_SECONDS,
) -> str:
    """Return the ``webhook-id`` of a genuine delivery; raise WebhookVerificationError if not.

    ``received`` maps header names (any case) to values; ``body`` is the raw request body.
    """
    lower = {k.lower(): v for k, v in received.items()}
    missing = [h for h in (ID_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER) if not lower.get(h)]
    if missing:
        raise WebhookVerificationError(f"missing header(s): {', '.join(missing)}")
    msg_id, stamp_text = lower[ID_HEADER], lower[TIMESTAMP_HEADER]
    try:
        stamp = int(stamp_text)
    except ValueError:
        raise WebhookVerificationError(f"{TIMESTAMP_HEADER}: not an integer") from None
    current = time.time() if now is None else now
    if abs(current - stamp) > tolerance:
        raise WebhookVerificationError(
            f"{TIMESTAMP_HEADER}: {stamp} is more than {tolerance} s from now ({int(current)})"
        )
    expected = sign(secret, msg_id, stamp, body).split(",", 1)[1]
    for entry in lower[SIGNATURE_HEADER].split():
        version, _, value = entry.partition(",")
        if version == "v1" and hmac.compare_digest(value.encode(), expected.encode()):
            return msg_id
    raise WebhookVerificationError(f"{SIGNATURE_HEADER}: no v1 signature matches")
