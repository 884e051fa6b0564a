"""Standard Webhooks signing and verification, against the scheme's published test vector."""

from __future__ import annotations

import re

import pytest

from tierflow.webhook_signature import (
    WebhookVerificationError,
    headers,
    new_secret,
    sign,
    verify,
)

# The vector of the Standard Webhooks reference libraries (TestWebhookSign).
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
MSG_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
TIMESTAMP = 1614265330
BODY = b'{"test": 2432232314}'
EXPECTED = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_signature_matches_the_published_vector() -> None:
    assert sign(SECRET, MSG_ID, TIMESTAMP, BODY) == EXPECTED
    assert sign(SECRET.removeprefix("whsec_"), MSG_ID, TIMESTAMP, BODY) == EXPECTED


def test_verify_accepts_the_vector_and_any_matching_entry() -> None:
    received = {"Webhook-Id": MSG_ID, "Webhook-Timestamp": str(TIMESTAMP)}
    received["Webhook-Signature"] = f"v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= {EXPECTED}"
    assert verify(SECRET, received, BODY, now=TIMESTAMP + 10) == MSG_ID


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"webhook-signature": "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc="}, "no v1"),
        ({"webhook-signature": EXPECTED.replace("v1", "v2")}, "no v1"),
        ({"webhook-id": "msg_other"}, "no v1"),
        ({"webhook-timestamp": str(TIMESTAMP - 301)}, "more than 300 s"),
        ({"webhook-timestamp": "soon"}, "not an integer"),
        ({"webhook-id": ""}, "missing header(s): webhook-id"),
        ({"webhook-signature": "v1,é"}, "no v1"),  # other characters: refused, not a crash
    ],
)
def test_verify_refuses_what_was_not_signed_now(change: dict[str, str], reason: str) -> None:
    received = {
        "webhook-id": MSG_ID,
        "webhook-timestamp": str(TIMESTAMP),
        "webhook-signature": EXPECTED,
    }
    with pytest.raises(WebhookVerificationError, match=re.escape(reason)):
        verify(SECRET, received | change, BODY, now=TIMESTAMP)


def test_a_changed_body_fails_and_fresh_headers_pass() -> None:
    secret = new_secret()
    signed = headers(secret, "ntf_1", b"{}")
    assert verify(secret, signed, b"{}") == "ntf_1"
    with pytest.raises(WebhookVerificationError):
        verify(secret, signed, b"{ }")
