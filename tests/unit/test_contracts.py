"""The checked-in JSON Schemas and AsyncAPI doc are current, consistent and truthful."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import jsonschema
import pytest
from typer.testing import CliRunner

from schemas.events import (
    SUBMIT,
    CommandError,
    command_event,
    event_from_transition,
    parse_command,
)
from schemas.lifecycle import FIELD_REQUIRED, TEXT_REQUIRED, ActionKind
from tests.utils.factories import RecordFactory, make_request
from tierflow.cli import app
from tierflow_dev import contracts

SCHEMAS = contracts.SCHEMA_DIR


def _load(path: Path) -> dict:
    return json.loads(path.read_text())


def _schema(name: str) -> dict:
    return _load(SCHEMAS / f"{name}.v1.json")


def _validator(schema: dict) -> jsonschema.protocols.Validator:
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def test_checked_in_files_are_current() -> None:
    stale = contracts.stale()
    assert not stale, f"run `tierflow events schemas`: stale {[str(p) for p in stale]}"


def test_cli_check_passes_and_detects_drift(tmp_path, monkeypatch) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["events", "schemas", "--check"]).exit_code == 0
    monkeypatch.setattr(contracts, "SCHEMA_DIR", tmp_path / "json")
    monkeypatch.setattr(contracts, "ASYNCAPI_PATH", tmp_path / "asyncapi.json")
    result = runner.invoke(app, ["events", "schemas", "--check"])
    assert result.exit_code == 1 and "stale" in result.output
    assert runner.invoke(app, ["events", "schemas"]).exit_code == 0
    assert (tmp_path / "json" / "command.submit.v1.json").exists()
    assert runner.invoke(app, ["events", "schemas", "--check"]).exit_code == 0


def test_every_schema_is_valid_json_schema_and_covers_every_command() -> None:
    names = {p.name.removesuffix(".v1.json") for p in SCHEMAS.glob("*.v1.json")}
    expected = {f"command.{SUBMIT}", *(f"command.{k.value}" for k in contracts.PUBLISHED_ACTIONS)}
    assert expected | {"cloudevent", "event.lifecycle", "TransitionRecord"} == names
    for name in names:
        _validator(_schema(name))


def test_asyncapi_structure_and_references() -> None:
    doc = _load(contracts.ASYNCAPI_PATH)
    assert doc["asyncapi"] == "3.0.0"
    components = doc["components"]["messages"]

    def resolve(ref: str) -> dict:
        assert ref.startswith("#/"), ref
        node = doc
        for part in ref[2:].split("/"):
            node = node[part]
        return node

    addresses = {c["address"] for c in doc["channels"].values()}
    assert addresses == {
        "tierflow.commands.v1",
        "tierflow.events.v1",
        "tierflow.commands.dlq.v1",
        "{topic}",  # a system client's own commands topic, as its clients file names it
        "{deadLetterTopic}",
    }
    for channel in doc["channels"].values():  # a parameter of the address is described
        names = set(re.findall(r"\{(\w+)\}", channel["address"]))
        assert names == set(channel.get("parameters", {})), channel["address"]
    for channel in doc["channels"].values():
        for message in channel["messages"].values():
            assert resolve(message["$ref"]) in components.values()
    for operation in doc["operations"].values():
        assert operation["action"] in ("send", "receive")
        assert resolve(operation["channel"]["$ref"]) in doc["channels"].values()
    for message in components.values():
        payload_ref = message["payload"].get("$ref")
        if payload_ref:
            assert (contracts.ASYNCAPI_PATH.parent / payload_ref).exists(), payload_ref
        assert message["bindings"]["kafka"]["key"]["type"] == "string"
    reasons = components["DeadLetter"]["headers"]["properties"]["tierflow_dlq_reason"]["enum"]
    assert {"not_json", "rejected", "unknown_request", "workflow_closed"} <= set(reasons)


def test_examples_validate_and_are_accepted_by_the_ingress() -> None:
    doc = _load(contracts.ASYNCAPI_PATH)
    checked = 0
    for message in doc["components"]["messages"].values():
        for example in message.get("examples", []):
            schema = _load(contracts.ASYNCAPI_PATH.parent / message["payload"]["$ref"])
            _validator(schema).validate(example["payload"])
            parse_command(json.dumps(example["payload"]).encode(), [])  # the ingress agrees
            checked += 1
    assert checked >= 2


@pytest.mark.parametrize("kind", contracts.PUBLISHED_ACTIONS)
def test_action_schemas_match_what_the_ingress_accepts(kind: ActionKind) -> None:
    data = {
        "request_id": "req-1",
        "text": "because",
        "institution_id": "inst-1",
        "rating": 4,
        "return_reason": "outside_region",
        "days": 3,
        "suspend_reason": "third_party",
        "handler_id": "cw-1",
        "outcome": "satisfied",
    }
    event = command_event(kind.value, data, source="/tests").model_dump(mode="json")
    _validator(_schema(f"command.{kind.value}")).validate(event)
    parse_command(json.dumps(event).encode(), [])
    needed = {"text"} if kind in TEXT_REQUIRED else set()
    needed |= {name for name, _ in FIELD_REQUIRED.get(kind, ())}
    for name in needed:  # the schema requires what the ingress requires
        without = copy.deepcopy(event)
        del without["data"][name]
        with pytest.raises(jsonschema.ValidationError):
            _validator(_schema(f"command.{kind.value}")).validate(without)


REFUSED_BY_BOTH = {
    "an engine's reason": ("escalate", {"text": "up", "reason_code": "sla_breach"}),
    "a null actor": ("comment", {"text": "x", "actor": None}),
    "a blank required text": ("comment", {"text": "   "}),
    "an unsatisfied follow-up without text": ("follow_up", {"outcome": "unsatisfied"}),
    "a stage on another kind": ("comment", {"text": "x", "stage": "intake"}),
    "a handler id with spaces": ("transfer", {"handler_id": "bad id", "text": "x"}),
    "an institution id with spaces": ("reassign", {"institution_id": "zj 330106", "text": "x"}),
}


@pytest.mark.parametrize("case", sorted(REFUSED_BY_BOTH))
def test_what_the_ingress_refuses_the_contract_refuses(case: str) -> None:
    """An integrator validating against the published schema learns what the ingress would
    dead-letter, before sending it."""
    kind, data = REFUSED_BY_BOTH[case]
    event = command_event(kind, {"request_id": "req-1", **data}, source="/tests")
    payload = event.model_dump(mode="json")
    with pytest.raises(jsonschema.ValidationError):
        _validator(_schema(f"command.{kind}")).validate(payload)
    with pytest.raises(CommandError):
        parse_command(json.dumps(payload).encode(), [])


def test_what_the_ingress_accepts_the_contract_accepts() -> None:
    """A long ASCII text within the byte limit, an action without data (the subject names
    the request)."""
    long = command_event("comment", {"request_id": "req-1", "text": "a" * 20_000}, source="/t")
    bare = command_event("acknowledge", {}, source="/t", subject="req-1").model_dump(mode="json")
    del bare["data"]
    for kind, payload in (("comment", long.model_dump(mode="json")), ("acknowledge", bare)):
        _validator(_schema(f"command.{kind}")).validate(payload)
        parse_command(json.dumps(payload).encode(), [])


def test_operator_commands_are_not_published() -> None:
    """No system client may be granted an operator's retry or resolve: the contract does not
    offer what the ingress can only refuse."""
    doc = _load(contracts.ASYNCAPI_PATH)
    assert not [name for name in doc["components"]["messages"] if name.startswith("operator_")]
    assert not list(SCHEMAS.glob("command.operator_*.v1.json"))


@pytest.mark.parametrize("kind", [SUBMIT, ActionKind.COMMENT.value])
def test_a_field_the_contract_does_not_name_is_refused_by_both(kind: str) -> None:
    """The schemas are closed as the ingress is: a misspelt field fails both, at any depth."""
    data = (
        make_request().model_dump(mode="json")
        if kind == SUBMIT
        else {"request_id": "req-1", "text": "because"}
    )
    for path in (("stages",), ("actor", "unit") if kind != SUBMIT else ("enterprise", "contact")):
        wrong = copy.deepcopy(data)
        if len(path) == 2:
            wrong.setdefault(path[0], {"id": "crm", "role": "system"})[path[1]] = "x"
        else:
            wrong[path[0]] = "intake"
        event = command_event(kind, wrong, source="/tests").model_dump(mode="json")
        with pytest.raises(jsonschema.ValidationError):
            _validator(_schema(f"command.{kind}")).validate(event)
        with pytest.raises(CommandError, match=r"unknown field \(misspelt\?\)"):
            parse_command(json.dumps(event).encode(), [])


def test_real_lifecycle_events_validate_and_carry_no_pii() -> None:
    records = RecordFactory(make_request())
    validator = _validator(_schema("event.lifecycle"))
    data_schema = _schema("TransitionRecord")  # what each event's dataschema names
    for record in (records.submitted(), records.assigned("inst-330106-fin"), records.resolved()):
        event = json.loads(event_from_transition(record).to_json_bytes())
        validator.validate(event)
        assert event["dataschema"] == data_schema["$id"]
        _validator(data_schema).validate(event["data"])
    assert not {"contact_name", "contact_phone", "contact_email"} & set(
        data_schema["$defs"]["Enterprise"]["properties"]
    )
    enterprise = _schema("event.lifecycle")["$defs"]["Enterprise"]["properties"]
    assert not {"contact_name", "contact_phone", "contact_email"} & set(enterprise)
    submit = command_event(SUBMIT, make_request().model_dump(mode="json"), source="/t")
    _validator(_schema(f"command.{SUBMIT}")).validate(submit.model_dump(mode="json"))
