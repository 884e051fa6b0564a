"""Whatever lands on the commands topic, the ingress's decode step raises only CommandError."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.dlq import DECODE_REASONS
from schemas.events import COMMANDS, CommandError, ParsedCommand, command_event
from tests.utils.factories import make_request
from workers.ingress.decode import decode

GOOD_SUBMIT = command_event(
    "submit", make_request("req-fuzz-1").model_dump(mode="json"), source="/fuzz"
).model_dump(mode="json", exclude_none=True)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=20,
)
header_lists = st.lists(
    st.tuples(
        st.sampled_from(["ce_specversion", "ce_id", "ce_type", "ce_source", "ce_time", "x"]),
        st.binary(max_size=40) | st.sampled_from([b"1.0", b"org.tierflow.request.submit.v1"]),
    ),
    max_size=5,
)


def _mutate(envelope: dict[str, Any], path: list[str], value: Any) -> bytes:
    """Replace one (possibly nested) field of a valid submit with an arbitrary value."""
    target: Any = json.loads(json.dumps(envelope))
    node = target
    for key in path[:-1]:
        node = node.setdefault(key, {}) if isinstance(node, dict) else node
    if isinstance(node, dict):
        node[path[-1]] = value
    return json.dumps(target).encode()


def _check(value: bytes | None, headers: Any = None, key: bytes | None = None) -> None:
    try:
        parsed = decode(value, headers, key)
    except CommandError as exc:
        assert exc.reason_code in DECODE_REASONS
        assert exc.message
    else:
        assert isinstance(parsed, ParsedCommand)
        assert parsed.command in COMMANDS


@settings(max_examples=120, deadline=None)
@given(st.binary(max_size=500), header_lists, st.none() | st.binary(max_size=20))
def test_random_bytes(value: bytes, headers: Any, key: bytes | None) -> None:
    _check(value, headers, key)


@settings(max_examples=120, deadline=None)
@given(json_values, header_lists)
def test_random_json(value: Any, headers: Any) -> None:
    _check(json.dumps(value).encode(), headers)


@settings(max_examples=120, deadline=None)
@given(
    st.sampled_from(
        [
            ["type"],
            ["id"],
            ["specversion"],
            ["time"],
            ["subject"],
            ["data"],
            ["data", "request_id"],
            ["data", "enterprise"],
            ["data", "enterprise", "uscc"],
            ["data", "category"],
            ["data", "attachments"],
            ["data", "actor"],
        ]
    ),
    json_values,
)
def test_mutated_valid_submit(path: list[str], value: Any) -> None:
    _check(_mutate(GOOD_SUBMIT, path, value))


@settings(max_examples=80, deadline=None)
@given(st.sampled_from(sorted(COMMANDS)), st.dictionaries(st.text(max_size=12), json_values))
def test_any_command_type_with_random_data(command: str, data: dict) -> None:
    event = {**GOOD_SUBMIT, "type": f"org.tierflow.request.{command}.v1", "data": data}
    _check(json.dumps(event).encode())


def test_pathological_inputs() -> None:
    for value in (
        None,
        b"",
        b"[" * 100_000 + b"]" * 100_000,  # deeper than the JSON parser's recursion limit
        b"\xff\xfe\x00",
        b'{"specversion": "1.0"}',
        json.dumps({**GOOD_SUBMIT, "data": [1, 2]}).encode(),
    ):
        _check(value)


def test_good_submit_decodes_and_key_must_match() -> None:
    raw = json.dumps(GOOD_SUBMIT).encode()
    assert decode(raw, [], b"req-fuzz-1").request_id == "req-fuzz-1"
    try:
        decode(raw, [], b"someone-else")
    except CommandError as exc:
        assert exc.reason_code == "schema_invalid" and "key" in exc.message
    else:
        raise AssertionError("a key that is not the request id must be refused")
