"""Edge rules of the shared models: what both the API and the Kafka ingress refuse, by field.

Each case goes through ``parse_command`` (the ingress's decoder) and ``RequestInput`` /
``ActionRequest`` (what the API validates its bodies with); the integration test
``tests/integration/test_edge_inputs.py`` sends the same inputs to the running API and ingress.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from schemas.divisions import DIVISIONS
from schemas.domain import Role
from schemas.edge import sms_number
from schemas.events import SUBMIT, CommandError, command_event, parse_command
from schemas.lifecycle import ActionKind, ActionRequest, WorkflowState
from schemas.request import RequestInput
from tests.utils.factories import make_request
from tierflow.auth_store import AuthStoreError, create_user
from tierflow.db.engine import make_engine
from tierflow.db.migrate import upgrade
from tierflow.directory import Directory

NOW = datetime.now(UTC)


def submit_data(**changes: Any) -> dict[str, Any]:
    data = make_request().model_dump(mode="json")
    enterprise = changes.pop("enterprise", {})
    data["enterprise"].update(enterprise)
    data.update(changes)
    return data


def refused_submit(data: dict[str, Any]) -> CommandError:
    raw = command_event(SUBMIT, data, source="/tests").to_json_bytes()
    with pytest.raises(CommandError) as caught:
        parse_command(raw, [])
    return caught.value


# (field path, changes, words the reason contains)
BAD_SUBMITS: list[tuple[str, dict[str, Any], str]] = [
    ("subject", {"subject": "loan\x00"}, "control character U+0000"),
    ("description", {"description": "a\x1bb"}, "control character U+001B"),
    ("channel", {"channel": "portal\x7f"}, "control character U+007F"),
    # a direction override reorders what a reader sees ("Trojan Source"); a C1 control too
    ("subject", {"subject": "贷款\u202e额度"}, "control character U+202E at position 3"),
    ("description", {"description": "a\u2066b"}, "control character U+2066"),
    ("enterprise.name", {"enterprise": {"name": "启明\x85科技"}}, "control character U+0085"),
    ("enterprise.name", {"enterprise": {"name": "启明\x00"}}, "control character"),
    ("enterprise.contact_name", {"enterprise": {"contact_name": "王\x08芳"}}, "control"),
    ("attachments.0.name", {"attachments": [{"name": "a\x00.pdf"}]}, "control character"),
    ("subject", {"subject": "贷" * 201}, "603 bytes in UTF-8, limit 600"),
    ("description", {"description": "贷" * 10_001}, "30003 bytes in UTF-8, limit 30000"),
    ("submitted_at", {"submitted_at": "2026-03-02T09:30:00"}, "must include a time zone"),
    (
        "submitted_at",
        {"submitted_at": (NOW + timedelta(days=1)).isoformat()},
        "is in the future",
    ),
    ("submitted_at", {"submitted_at": "2025-12-31T15:59:59Z"}, "first SLA policy (2026.1)"),
    ("enterprise.division_code", {"enterprise": {"division_code": "３３０１０６"}}, "ASCII"),
    ("enterprise.division_code", {"enterprise": {"division_code": "110199"}}, "division data"),
    ("enterprise.division_code", {"enterprise": {"division_code": "990101"}}, "division data"),
    ("request_id", {"request_id": "req-1\n"}, "pattern"),
    ("submitted_by.id", {"submitted_by": {"id": "e\x001", "role": "enterprise"}}, "control"),
    ("subject", {"subject": " \t "}, "must not be blank"),
    ("enterprise.name", {"enterprise": {"name": "\u3000"}}, "must not be blank"),  # 全角空格
    ("attachments.0.name", {"attachments": [{"name": " "}]}, "must not be blank"),
    # the console shows the link to click: a script in it would run in a caseworker's session
    (
        "attachments.0.url",
        {"attachments": [{"name": "a.pdf", "url": "javascript:alert(1)"}]},
        "must be an http or https link",
    ),
    ("attachments.0.url", {"attachments": [{"name": "a", "url": "data:text/html,x"}]}, "http"),
    # the notifier mails this address: one address, no header-ending line break, no list
    (
        "enterprise.contact_email",
        {"enterprise": {"contact_email": "w@example.com\nBcc: x@y.org"}},
        "must be an e-mail address",
    ),  # fmt: skip
    (
        "enterprise.contact_email",
        {"enterprise": {"contact_email": "w@example.com, x@y.org"}},
        "must be an e-mail address",
    ),  # fmt: skip
    (
        "enterprise.contact_email",
        {"enterprise": {"contact_email": "王芳 <w@example.com>"}},
        "must be an e-mail address",
    ),  # fmt: skip
    # the notifier texts this number and a caseworker calls it: one number, as people write it
    (
        "enterprise.contact_phone",
        {"enterprise": {"contact_phone": "王经理 0571-8765"}},
        "must be one telephone number",
    ),  # fmt: skip
    (
        "enterprise.contact_phone",
        {"enterprise": {"contact_phone": "13800000000, 13900000000"}},
        "must be one telephone number",
    ),  # fmt: skip
    (
        "enterprise.contact_phone",
        {"enterprise": {"contact_phone": "12345"}},
        "must be one telephone number",
    ),  # fmt: skip
]


@pytest.mark.parametrize(
    ("field", "changes", "reason"), BAD_SUBMITS, ids=[f"{c[0]}:{c[2][:20]}" for c in BAD_SUBMITS]
)
def test_a_bad_submit_is_refused_naming_the_field(
    field: str, changes: dict[str, Any], reason: str
) -> None:
    data = submit_data(**changes)
    error = refused_submit(data)
    assert error.reason_code == "schema_invalid"
    assert error.message.startswith(f"data.{field}: ") and reason in error.message
    with pytest.raises(ValidationError) as caught:  # the API's body model says the same
        RequestInput.model_validate(data)
    assert ".".join(str(p) for p in caught.value.errors()[0]["loc"]) == field


def test_what_the_rules_still_accept() -> None:
    tab_newline = submit_data(description="第一行\r\n\t第二行", subject="贷" * 200)
    assert parse_command(command_event(SUBMIT, tab_newline, "/t").to_json_bytes(), []).submit
    skew = submit_data(submitted_at=(NOW + timedelta(minutes=4)).isoformat())
    assert RequestInput.model_validate(skew).submitted_at is not None
    ascii_long = submit_data(description="x" * 30_000)  # bytes, not characters, are bounded
    assert len(RequestInput.model_validate(ascii_long).description) == 30_000
    no_email = submit_data(enterprise={"contact_email": ""})  # none given, as before
    assert RequestInput.model_validate(no_email).enterprise.contact_email == ""
    for phone in (
        "13800000000",
        "+86 138 0000 0000",
        "(0571) 8765-4321 转 8021",
        "+1 415 555 0100",
    ):
        accepted = RequestInput.model_validate(submit_data(enterprise={"contact_phone": phone}))
        assert accepted.enterprise.contact_phone == phone  # kept as written


@pytest.mark.parametrize(
    ("phone", "texted"),
    [
        ("13800000000", "+8613800000000"),
        ("+86 138-0000-0000", "+8613800000000"),
        ("0086 13800000000", "+8613800000000"),
        ("+1 (415) 555-0100", "+14155550100"),  # abroad: its network knows
        ("0571-87654321", None),  # a landline
        ("+86 10 5555 0100", None),  # a Beijing landline, international form
        ("13800000000 转 12", None),  # a switchboard
        ("", None),
    ],
)
def test_a_text_message_goes_to_a_mobile_number_in_e164(phone: str, texted: str | None) -> None:
    assert sms_number(phone) == texted


@pytest.mark.parametrize("county", ["440106", "510104", "659001", "330103"])
def test_a_county_anywhere_on_the_mainland_is_accepted(county: str) -> None:
    """Guangzhou, Chengdu, a county-level city under Xinjiang, a retired Hangzhou code."""
    data = submit_data(enterprise={"division_code": county})
    parsed = parse_command(command_event(SUBMIT, data, "/t").to_json_bytes(), [])
    assert parsed.submit is not None and parsed.submit.enterprise.division_code == county


def test_a_lower_case_uscc_is_upper_cased_before_the_check() -> None:
    data = submit_data()
    upper = data["enterprise"]["uscc"]
    data["enterprise"]["uscc"] = upper.lower()
    parsed = parse_command(command_event(SUBMIT, data, "/t").to_json_bytes(), [])
    assert parsed.submit is not None and parsed.submit.enterprise.uscc == upper


def action_data(**changes: Any) -> dict[str, Any]:
    return {"request_id": "req-1", "text": "ok", **changes}


@pytest.mark.parametrize(
    ("kind", "changes", "field", "reason"),
    [
        (ActionKind.COMMENT, {"text": "hello\x00world"}, "text", "control character U+0000"),
        (ActionKind.COMMENT, {"text": "评" * 10_001}, "text", "limit 30000"),
        (
            ActionKind.REASSIGN,
            {"text": "move", "institution_id": "zj-330105-sme\n"},
            "institution_id",
            "pattern",
        ),
        # the person a system client acts for: their id reaches logs and the audit columns
        # (PostgreSQL refuses a NUL there, for good), so no control character at all
        (
            ActionKind.COMMENT,
            {"actor": {"id": "e-1\x00", "role": "enterprise"}},
            "actor.id",
            "control character U+0000 at position 4 is not allowed in a name",
        ),
        (
            ActionKind.COMMENT,
            {"actor": {"id": "e-1\nforged log line", "role": "enterprise"}},
            "actor.id",
            "control character U+000A",
        ),
        (ActionKind.COMMENT, {"actor": {"id": " ", "role": "enterprise"}}, "actor.id", "blank"),
        (
            ActionKind.COMMENT,
            {"actor": {"id": "cw\u2028admin", "role": "caseworker", "institution_id": "x"}},
            "actor.id",
            "control character U+2028",
        ),
        (
            ActionKind.COMMENT,
            {"actor": {"id": "cw-1", "role": "caseworker", "institution_id": "zj\t1"}},
            "actor.institution_id",
            "control character U+0009",
        ),
    ],
)
def test_a_bad_action_is_refused_naming_the_field(
    kind: ActionKind, changes: dict[str, Any], field: str, reason: str
) -> None:
    raw = command_event(kind.value, action_data(**changes), "/tests").to_json_bytes()
    with pytest.raises(CommandError) as caught:
        parse_command(raw, [])
    assert caught.value.reason_code == "schema_invalid"
    assert caught.value.message.startswith(f"data.{field}: ") and reason in caught.value.message


def test_a_source_with_a_control_character_is_not_a_cloudevent() -> None:
    envelope = json.loads(command_event("comment", action_data(), "/tests").to_json_bytes())
    envelope["source"] = "/portal\r\nX-Forged: 1"
    with pytest.raises(CommandError) as caught:
        parse_command(json.dumps(envelope).encode(), [])
    assert caught.value.reason_code == "not_cloudevent"
    assert caught.value.message.startswith("source: ") and "U+000D" in caught.value.message


def test_ids_are_matched_as_whole_strings() -> None:
    event = command_event("comment", {"text": "hi"}, "/tests", subject="req-1\n")
    with pytest.raises(CommandError) as caught:
        parse_command(event.to_json_bytes(), [])
    assert caught.value.reason_code == "schema_invalid" and "request_id" in caught.value.message
    envelope = json.loads(command_event("comment", action_data(), "/tests").to_json_bytes())
    envelope["type"] += "\n"
    with pytest.raises(CommandError) as caught:
        parse_command(json.dumps(envelope).encode(), [])
    assert caught.value.reason_code == "unknown_type"
    envelope = json.loads(command_event("comment", action_data(), "/tests").to_json_bytes())
    envelope["id"] = "evt-1\n"
    with pytest.raises(CommandError) as caught:
        parse_command(json.dumps(envelope).encode(), [])
    assert caught.value.reason_code == "not_cloudevent" and caught.value.message.startswith("id:")
    with pytest.raises(ValidationError):
        ActionRequest(action_id="a-1\n", kind=ActionKind.START, actor={"id": "x", "role": "admin"})


def test_a_time_zone_less_cloudevent_time_is_refused() -> None:
    envelope = json.loads(command_event("comment", action_data(), "/tests").to_json_bytes())
    envelope["time"] = "2026-03-02T09:30:00"
    with pytest.raises(CommandError) as caught:
        parse_command(json.dumps(envelope).encode(), [])
    assert caught.value.message.startswith("time:") and "time zone" in caught.value.message


def test_stored_state_still_decodes_what_older_rules_accepted() -> None:
    """A running request's state must decode after the rules tighten, or it would wedge."""
    state = WorkflowState(request=make_request()).model_dump(mode="json")
    state["request"]["subject"] = "old\x00subject"
    state["request"]["submitted_at"] = "2024-05-01T10:00:00"
    state["request"]["enterprise"]["division_code"] = "110199"
    state["request"]["enterprise"]["contact_email"] = "w@example.com, x@y.org"
    state["request"]["enterprise"]["contact_phone"] = "王经理 0571-8765"
    decoded = WorkflowState.model_validate_json(json.dumps(state))
    assert decoded.request.subject == "old\x00subject"
    assert decoded.request.enterprise.contact_email == "w@example.com, x@y.org"
    with pytest.raises(ValidationError) as caught:  # while the edge refuses each of them
        RequestInput.model_validate(state["request"])
    fields = {".".join(str(p) for p in e["loc"]) for e in caught.value.errors()}
    assert fields == {
        "subject",
        "submitted_at",
        "enterprise.division_code",
        "enterprise.contact_email",
        "enterprise.contact_phone",
    }


def test_the_division_data_covers_the_packaged_directory() -> None:
    directory = Directory.load()
    assert {d.code: d.name for d in directory.divisions} == DIVISIONS
    assert {e.division_code for e in directory.entries} <= set(DIVISIONS)


def test_a_user_name_with_a_trailing_newline_is_refused(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'auth.db'}"
    upgrade(url)
    engine = make_engine(url)
    try:
        with pytest.raises(AuthStoreError, match="name: 'ana\\\\n' must be"):
            create_user(engine, "ana\n", Role.ADMIN)
        assert create_user(engine, "ana", Role.ADMIN).id == "ana"
    finally:
        engine.dispose()
