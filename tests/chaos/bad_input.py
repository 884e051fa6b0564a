"""Generated bad commands, each tagged with the dead-letter reason the ingress must give.

Categories: not JSON (garbage, truncated, invalid UTF-8, tombstones, nesting too deep),
not a CloudEvent (no specversion, wrong attribute types, bad binary-mode headers), unknown
command types, schema-invalid data (missing text, wrong types, bad ids, key mismatch),
invalid USCC check characters, oversize payloads, actions on requests that do not exist and
actions the workflow refuses in the request's state or from the wrong actor.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Callable

from schemas.events import MAX_COMMAND_BYTES, SUBMIT, command_event
from schemas.lifecycle import ActionKind
from schemas.request import RequestInput
from tests.chaos.commands import SOURCE, action, new_request, submit
from tests.chaos.harness import Message

Generator = Callable[[random.Random], Message]


def _dead(reason: str) -> str:
    return f"dead_lettered:{reason}"


def _key(rng: random.Random) -> bytes:
    return f"junk-{rng.randrange(10**9)}".encode()


def _envelope(rid: str, command: str, payload: dict, **attrs: object) -> dict:
    """A structured-mode envelope as a dict; ``attrs`` overwrite attributes (even ``data``)."""
    event = command_event(command, payload, source=SOURCE, subject=rid).model_dump(mode="json")
    event.update(attrs)
    return event


def _msg(rid: str, body: object, reason: str, headers: list | None = None) -> Message:
    value = body if isinstance(body, bytes) else json.dumps(body).encode()
    return Message(rid.encode(), value, headers or [], expect=_dead(reason), request_id=rid)


# ---------------------------------------------------------------------- not_json
def garbage(rng: random.Random) -> Message:
    value = bytes(rng.randrange(256) for _ in range(rng.randint(1, 300)))
    value = b"\x00" + value  # never valid JSON
    return Message(_key(rng), value, expect=_dead("not_json"))


def truncated_json(rng: random.Random) -> Message:
    rid = f"trunc-{rng.randrange(10**9)}"
    text = json.dumps(_envelope(rid, "comment", {"text": "x"}))
    return _msg(rid, text[: rng.randint(1, len(text) - 1)].encode(), "not_json")


def invalid_utf8(rng: random.Random) -> Message:
    return Message(_key(rng), b'{"specversion": "1.0", "id": "\xff\xfe"}', expect=_dead("not_json"))


def tombstone(rng: random.Random) -> Message:
    return Message(_key(rng), None, expect=_dead("not_json"))


def empty(rng: random.Random) -> Message:
    return Message(_key(rng), b"", expect=_dead("not_json"))


def too_deep(rng: random.Random) -> Message:
    depth = rng.randint(20_000, 60_000)
    return Message(_key(rng), b"[" * depth + b"]" * depth, expect=_dead("not_json"))


# ---------------------------------------------------------------------- not_cloudevent
def no_specversion(rng: random.Random) -> Message:
    body = rng.choice([{"hello": "world"}, [1, 2, 3], "text", 42, None, {"type": "x"}])
    return _msg(f"nospec-{rng.randrange(10**9)}", body, "not_cloudevent")


def wrong_attribute_types(rng: random.Random) -> Message:
    rid = f"types-{rng.randrange(10**9)}"
    attrs = rng.choice(
        [
            {"id": 12345},
            {"source": ["a"]},
            {"specversion": "0.3"},
            {"data": [1, 2]},
            {"time": "yesterday"},
            {"datacontenttype": "text/plain"},
            {"id": "x" * 201},
            {"id": ""},
            {"subject": {"nested": True}},
        ]
    )
    return _msg(rid, _envelope(rid, "comment", {"text": "hi"}, **attrs), "not_cloudevent")


def bad_binary_headers(rng: random.Random) -> Message:
    headers = [("ce_specversion", b"1.0"), ("ce_id", b"\xff\xfe\xfd"), ("ce_type", b"x")]
    return Message(_key(rng), b"{}", headers, expect=_dead("not_cloudevent"))


# ---------------------------------------------------------------------- unknown_type
def unknown_type(rng: random.Random) -> Message:
    rid = f"type-{rng.randrange(10**9)}"
    kind = rng.choice(
        [
            "org.tierflow.request.frobnicate.v1",
            "org.tierflow.request.submit.v2",
            "com.example.order.created",
            "org.tierflow.request.acknowledged.v1",  # an event type, not a command
        ]
    )
    return _msg(rid, _envelope(rid, "comment", {"text": "x"}, type=kind), "unknown_type")


# ---------------------------------------------------------------------- schema_invalid
def schema_invalid_action(rng: random.Random) -> Message:
    rid = f"schema-{rng.randrange(10**9)}"
    command, data = rng.choice(
        [
            ("resolve", {}),  # text required
            ("rate", {"rating": "five"}),
            ("rate", {"rating": 9}),
            ("reassign", {"text": "because"}),  # institution_id required
            ("comment", {"text": "   "}),
            ("comment", {"text": "x", "actor": {"id": "a", "role": "god"}}),
            ("comment", {"text": 7}),
        ]
    )
    return _msg(rid, _envelope(rid, command, {"request_id": rid, **data}), "schema_invalid")


def bad_request_id(rng: random.Random) -> Message:
    rid = rng.choice(["bad id!", "-starts-with-dash", "x" * 80, "ünïcode"])
    body = _envelope(rid, "comment", {"request_id": rid, "text": "x"}, subject=None)
    return Message(_key(rng), json.dumps(body).encode(), expect=_dead("schema_invalid"))


def key_mismatch(rng: random.Random) -> Message:
    req = new_request("keymm")
    good = submit(req)
    return Message(b"some-other-key", good.value, expect=_dead("schema_invalid"))


def submit_missing_fields(rng: random.Random) -> Message:
    req = new_request("miss")
    data = req.model_dump(mode="json")
    data.pop(rng.choice(["enterprise", "category", "subject"]))
    return _msg(req.request_id, _envelope(req.request_id, SUBMIT, data), "schema_invalid")


# ---------------------------------------------------------------------- invalid_uscc
def invalid_uscc(rng: random.Random) -> Message:
    req = new_request("uscc")
    data = req.model_dump(mode="json")
    uscc = data["enterprise"]["uscc"]
    wrong = next(c for c in "0123456789ABCDEFGHJKLMNPQRTUWXY" if c != uscc[-1])
    data["enterprise"]["uscc"] = uscc[:-1] + wrong
    return _msg(req.request_id, _envelope(req.request_id, SUBMIT, data), "invalid_uscc")


# ---------------------------------------------------------------------- oversize
def oversize(rng: random.Random) -> Message:
    rid = f"big-{rng.randrange(10**9)}"
    filler = "x" * (MAX_COMMAND_BYTES + rng.randint(1, 4096))
    return _msg(rid, _envelope(rid, "comment", {"request_id": rid, "text": filler}), "oversize")


DECODE_FAILURES: list[Generator] = [
    garbage,
    truncated_json,
    invalid_utf8,
    tombstone,
    empty,
    too_deep,
    no_specversion,
    wrong_attribute_types,
    bad_binary_headers,
    unknown_type,
    schema_invalid_action,
    bad_request_id,
    key_mismatch,
    submit_missing_fields,
    invalid_uscc,
]


def unknown_request() -> Message:
    """An action for a request nobody submitted: dead-lettered after the not-found budget."""
    rid = f"ghost-{uuid.uuid4().hex[:10]}"
    msg = action(rid, ActionKind.COMMENT, f"{rid}/ghost")
    return Message(msg.key, msg.value, expect=_dead("unknown_request"), request_id=rid)


def good_lifecycle(req: RequestInput) -> list[Message]:
    """A good request with refused actions mixed in; the good ones end it resolved.

    Refused (``rejected``): resolve before acknowledge, acknowledge twice (new id), rate
    before resolution, start after resolution. Refused for the role (``forbidden``): an
    enterprise acknowledging.
    """
    rid = req.request_id
    enterprise = {"id": req.enterprise.uscc, "role": "enterprise"}

    def act(n: int, kind: ActionKind, expect: str = "applied", **extra: object) -> Message:
        msg = action(rid, kind, f"{rid}/g{n}-{kind.value}", **extra)
        return Message(msg.key, msg.value, expect=expect, event_id=msg.event_id, request_id=rid)

    refused = _dead("rejected")
    return [
        submit(req),
        act(1, ActionKind.RESOLVE, refused),
        act(2, ActionKind.RATE, refused),
        act(3, ActionKind.ACKNOWLEDGE, _dead("forbidden"), actor=enterprise),
        act(4, ActionKind.ACKNOWLEDGE),
        act(5, ActionKind.ACKNOWLEDGE, refused),
        act(6, ActionKind.START),
        act(7, ActionKind.COMMENT),
        act(8, ActionKind.RESOLVE),
        act(9, ActionKind.START, refused),
    ]


REFUSED_PER_GOOD = 5


def decode_failures(rng: random.Random, count: int) -> list[Message]:
    """``count`` messages the decoder refuses; about 1 % oversize, the rest spread evenly."""
    big = max(1, count // 100)
    out = [oversize(rng) for _ in range(big)]
    out += [rng.choice(DECODE_FAILURES)(rng) for _ in range(count - big)]
    return out
