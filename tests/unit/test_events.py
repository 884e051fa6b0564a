"""CloudEvents envelope: lifecycle events out, command parsing in (structured and binary)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from schemas.domain import Role
from schemas.enterprise import uscc_check_character
from schemas.events import (
    COMMANDS,
    MAX_COMMAND_BYTES,
    CloudEvent,
    CommandError,
    command_event,
    command_type,
    event_from_transition,
    parse_command,
)
from schemas.lifecycle import ActionKind, TransitionRecord
from schemas.request import Actor, RequestInput
from tests.utils.factories import RecordFactory

USCC = "91110105MA01B2C3D" + uscc_check_character("91110105MA01B2C3D")
NOW = datetime(2025, 9, 29, 2, 30, tzinfo=UTC)


def submit_data(request_id: str = "req-1", uscc: str = USCC) -> dict[str, Any]:
    return {
        "request_id": request_id,
        "enterprise": {
            "uscc": uscc,
            "name": "Chaoyang Precision Tools Co.",
            "division_code": "330105",
            "contact_name": "Li Wei",
            "contact_phone": "+86 10 5555 0100",
            "contact_email": "li.wei@example.cn",
        },
        "category": "financing",
        "subject": "Bridge loan for export orders",
    }


def transition(with_request: bool) -> TransitionRecord:
    """The submitted record of ``submit_data()``'s request, with or without the request."""
    record = RecordFactory(RequestInput.model_validate(submit_data()), start=NOW).submitted()
    return record if with_request else record.model_copy(update={"request": None})


def structured(command: str, data: dict[str, Any], **attrs: Any) -> bytes:
    return command_event(command, data, source="/tests/portal", **attrs).to_json_bytes()


def binary_headers(command: str, event_id: str, source: str) -> list[tuple[str, bytes]]:
    """The required ``ce_`` headers of a binary-mode command."""
    return [
        ("ce_specversion", b"1.0"),
        ("ce_id", event_id.encode()),
        ("ce_source", source.encode()),
        ("ce_type", command_type(command).encode()),
    ]


def reason_of(raw: bytes, headers: list[tuple[str, bytes]] | None = None) -> CommandError:
    with pytest.raises(CommandError) as info:
        parse_command(raw, headers or [])
    return info.value


def test_event_from_transition_round_trips_and_drops_contact_pii() -> None:
    record = transition(with_request=True)
    event = event_from_transition(record)
    raw = event.to_json_bytes()

    assert event.id == "req-1:1"
    assert event.type == "org.tierflow.request.submitted.v1"
    assert event.subject == "req-1"
    assert event.source == "/tierflow/worker"
    for pii in (b"Li Wei", b"5555", b"li.wei@example.cn", b"contact_"):
        assert pii not in raw
    back = CloudEvent.model_validate_json(raw)
    assert back == event
    assert back.time == NOW
    assert back.data["request"]["enterprise"]["uscc"] == USCC
    # The rest of the record survives intact.
    again = TransitionRecord.model_validate(back.data)
    assert again.model_dump(exclude={"request"}) == record.model_dump(exclude={"request"})


def test_event_without_request_payload() -> None:
    event = event_from_transition(transition(with_request=False), source="/tests")
    assert event.data["request"] is None
    assert event.data["summary"]["enterprise_uscc"] == USCC
    assert json.loads(event.to_json_bytes())["specversion"] == "1.0"


def test_command_types_cover_submit_and_every_action() -> None:
    assert COMMANDS == {"submit", *(k.value for k in ActionKind)}
    assert command_type("hand_back") == "org.tierflow.request.hand_back.v1"
    with pytest.raises(ValueError, match="unknown command 'explode'"):
        command_type("explode")


def test_parse_structured_submit() -> None:
    parsed = parse_command(structured("submit", submit_data(), subject="req-1"), [])
    assert parsed.command == "submit"
    assert parsed.request_id == "req-1"
    assert parsed.submit is not None and parsed.action is None
    assert parsed.submit.enterprise.contact_name == "Li Wei"  # PII is fine on the way in


def test_parse_structured_action_takes_id_and_actor() -> None:
    actor = {"id": "portal-user-7", "role": "enterprise"}
    data = {"request_id": "req-9", "actor": actor, "text": "Our 2024 audit report"}
    raw = structured("provide_info", data, event_id="cmd-42")
    parsed = parse_command(raw, [])
    assert parsed.request_id == "req-9"
    assert parsed.action is not None
    assert parsed.action.action_id == "cmd-42"
    assert parsed.action.kind is ActionKind.PROVIDE_INFO
    assert parsed.action.actor == Actor(id="portal-user-7", role=Role.ENTERPRISE)


def test_action_actor_defaults_to_source_and_request_id_to_subject() -> None:
    raw = structured("withdraw", {}, subject="req-3")
    parsed = parse_command(raw, [])
    assert parsed.request_id == "req-3"
    assert parsed.action is not None
    assert parsed.action.actor == Actor(id="/tests/portal", role=Role.SYSTEM)


def test_an_action_whose_subject_names_another_request_is_refused() -> None:
    """The subject and data.request_id both name the request: when they disagree, neither
    is guessed (the action would go to a request the sender did not key or route by)."""
    raw = structured("comment", {"request_id": "req-B", "text": "x"}, subject="req-A")
    err = reason_of(raw)
    assert err.reason_code == "schema_invalid"
    assert err.message == "subject: 'req-A' differs from data.request_id 'req-B'"
    agreed = structured("comment", {"request_id": "req-A", "text": "x"}, subject="req-A")
    assert parse_command(agreed, []).request_id == "req-A"


def test_parse_binary_mode() -> None:
    headers = [
        *binary_headers("external_status", "cmd-7", "/crm"),
        ("ce_time", b"2025-09-29T02:30:00Z"),
        ("ce_subject", b"req-5"),
        ("content-type", b"application/json"),
    ]
    raw = json.dumps({"text": "Loan approved by the partner bank"}).encode()
    parsed = parse_command(raw, headers)
    assert parsed.event.id == "cmd-7"
    assert parsed.event.time == NOW
    assert parsed.request_id == "req-5"
    assert parsed.action is not None
    assert parsed.action.kind is ActionKind.EXTERNAL_STATUS
    assert parsed.action.actor.id == "/crm"


def test_binary_mode_submit() -> None:
    headers = binary_headers("submit", "s-1", "/portal")
    parsed = parse_command(json.dumps(submit_data("req-b")).encode(), headers)
    assert parsed.submit is not None and parsed.request_id == "req-b"


def test_not_json() -> None:
    err = reason_of(b"\xff{not json")
    assert err.reason_code == "not_json"


def test_not_cloudevent() -> None:
    assert reason_of(json.dumps({"hello": 1}).encode()).reason_code == "not_cloudevent"
    assert reason_of(b"[1, 2]").reason_code == "not_cloudevent"
    envelope = {"specversion": "1.0", "source": "/x", "type": command_type("withdraw")}
    err = reason_of(json.dumps(envelope).encode())
    assert err.reason_code == "not_cloudevent"
    assert "id: Field required" in err.message
    wrong_version = {**envelope, "id": "1", "specversion": "0.3"}
    assert reason_of(json.dumps(wrong_version).encode()).reason_code == "not_cloudevent"


def test_an_envelope_the_binding_cannot_read_is_named() -> None:
    """What the CloudEvents binding refuses with its own words (a time it cannot parse, a
    number longer than Python reads) and a header given twice are named for the sender."""
    envelope = {"specversion": "1.0", "id": "1", "source": "/x", "type": command_type("withdraw")}
    for time in (1.5, 253402300800, "next week"):
        err = reason_of(json.dumps({**envelope, "time": time}).encode())
        assert (err.reason_code, err.message) == (
            "not_cloudevent",
            f"time: {time!r} is not an RFC 3339 timestamp",
        )
    headers = [*binary_headers("withdraw", "w-1", "/crm"), ("ce_time", b"99999-01-01")]
    err = reason_of(b"{}", headers)
    assert err.message == "time: '99999-01-01' is not an RFC 3339 timestamp"
    long = b'{"specversion": "1.0", "id": "1", "source": "/x", "n": ' + b"9" * 5000 + b"}"
    assert reason_of(long).message == "message value has a number of over 4300 digits"
    twice = [*binary_headers("withdraw", "w-2", "/crm"), ("CE_SOURCE", b"/portal")]
    err = reason_of(b"{}", twice)
    assert err.reason_code == "not_cloudevent" and "header ce_source appears more" in err.message


def test_unknown_type() -> None:
    envelope = {"specversion": "1.0", "id": "1", "source": "/x", "type": "com.example.order.v1"}
    err = reason_of(json.dumps(envelope).encode())
    assert err.reason_code == "unknown_type"
    assert "com.example.order.v1" in err.message
    envelope["type"] = "org.tierflow.request.explode.v1"
    assert reason_of(json.dumps(envelope).encode()).reason_code == "unknown_type"


def test_schema_invalid_names_field_and_reason() -> None:
    data = submit_data()
    data["category"] = "astrology"
    err = reason_of(structured("submit", data))
    assert err.reason_code == "schema_invalid"
    assert err.message.startswith("data.category: Input should be")

    err = reason_of(structured("resolve", {"request_id": "req-1"}))
    assert err.reason_code == "schema_invalid"
    assert err.message == "data.text: required for resolve: the resolution"
    unsatisfied = {"request_id": "req-1", "outcome": "unsatisfied"}  # the fields together
    err = reason_of(structured("follow_up", unsatisfied))
    assert err.message == "data.text: required for an unsatisfied follow-up: what is not solved"

    err = reason_of(structured("withdraw", {}))
    assert err.reason_code == "schema_invalid"
    assert err.message.startswith("data.request_id: required")

    err = reason_of(structured("submit", submit_data("req-1"), subject="req-2"))
    assert err.reason_code == "schema_invalid" and "subject" in err.message


def test_a_field_no_command_has_is_named_not_dropped() -> None:
    """A misspelt optional field would otherwise be lost (a rating of the conclusion instead
    of the intake's): it is dead-lettered naming it, at any depth."""
    data = submit_data()
    data["enterprise"]["contact"] = "王芳"  # contact_name
    err = reason_of(structured("submit", data))
    assert (err.reason_code, err.message) == (
        "schema_invalid",
        "data.enterprise.contact: unknown field (misspelt?)",
    )
    err = reason_of(structured("rate", {"request_id": "req-1", "rating": 5, "stages": "intake"}))
    assert (err.reason_code, err.message) == (
        "schema_invalid",
        "data.stages: unknown field (misspelt?)",
    )


def test_a_bad_rating_says_why_and_staff_say_how_the_enterprise_gave_it() -> None:
    """差评 without its reason gives the unit's 整改 nothing to act on: dead-lettered naming
    the field; a good rating needs none, a desk's recorded rating says how it was given."""
    for rating in (1, 2):
        err = reason_of(structured("rate", {"request_id": "req-1", "rating": rating}))
        assert (err.reason_code, err.message) == (
            "schema_invalid",
            "data.text: required for rate: why the service was rated 1 or 2 (a bad rating)",
        )
    reasoned = {"request_id": "req-1", "rating": 1, "text": "答复敷衍"}
    assert parse_command(structured("rate", reasoned), []).command == "rate"
    assert parse_command(structured("rate", {"request_id": "req-1", "rating": 3}), []).action
    desk = {"id": "desk-1", "role": "follow_up", "institution_id": "zj-330100-sme"}
    err = reason_of(structured("rate", {"request_id": "req-1", "rating": 5, "actor": desk}))
    assert (
        err.message == "data.text: required for rate: how and when the enterprise gave the rating"
    )


def test_invalid_uscc() -> None:
    bad = USCC[:17] + ("0" if USCC[17] != "0" else "1")
    err = reason_of(structured("submit", submit_data(uscc=bad)))
    assert err.reason_code == "invalid_uscc"
    assert err.message.startswith("data.enterprise.uscc: USCC check character")


def test_oversize() -> None:
    data = submit_data()
    data["description"] = "x" * MAX_COMMAND_BYTES
    err = reason_of(structured("submit", data))
    assert err.reason_code == "oversize"
    assert str(MAX_COMMAND_BYTES) in err.message
