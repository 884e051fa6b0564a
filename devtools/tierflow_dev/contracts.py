"""Generated contracts of the Kafka interface: JSON Schemas per message and an AsyncAPI 3.0 doc.

The Pydantic models are the source of truth; ``tierflow events schemas`` writes
``schemas/json/<name>.v1.json`` and ``schemas/asyncapi.json`` from them, and ``--check``
(also a unit test) fails when the checked-in files are stale.
"""

from __future__ import annotations

import copy
import json
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, Field, create_model
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from schemas.dlq import (
    DLQ_ATTEMPTS,
    DLQ_CLIENT,
    DLQ_COMMAND_ID,
    DLQ_HEADERS_DROPPED,
    DLQ_MESSAGE,
    DLQ_NULL_HEADERS,
    DLQ_OFFSET,
    DLQ_PARTITION,
    DLQ_REASON,
    DLQ_REASONS,
    DLQ_SOURCE,
    DLQ_TOPIC,
    DLQ_VALUE_NULL,
    DLQ_VALUE_SHA256,
    DLQ_VALUE_SIZE,
    DLQ_WORDING,
)
from schemas.edge import ACTION_TEXT_BYTES
from schemas.events import (
    MAX_COMMAND_BYTES,
    PII_CONTACT_FIELDS,
    SUBMIT,
    TRANSITION_SCHEMA,
    TYPE_PREFIX,
    CloudEvent,
    command_type,
)
from schemas.lifecycle import (
    FIELD_REQUIRED,
    OPERATOR_ACTIONS,
    TEXT_REQUIRED,
    ActionFields,
    ActionKind,
    EscalationReason,
    EventType,
    FollowUpOutcome,
    TransitionRecord,
)
from schemas.messages import fill
from schemas.request import REQUEST_ID_PATTERN, Actor, RequestInput
from tierflow import constants
from tierflow.dead_letter import MAX_COPY_BYTES
from tierflow_dev.paths import REPO_ROOT

SCHEMA_DIR = REPO_ROOT / "schemas" / "json"
ASYNCAPI_PATH = REPO_ROOT / "schemas" / "asyncapi.json"
ID_BASE = "urn:tierflow:schema:"
EXAMPLE_REQUEST_ID = "req-2025-000123"
# The AsyncAPI operations: name, action, channel, summary.
OPERATIONS = (
    ("sendCommand", "send", "commands", "Other systems submit requests and act on them"),
    ("receiveCommand", "receive", "commands", "tierflow ingress applies a command to its workflow"),
    ("publishEvent", "send", "events", "tierflow worker publishes each transition"),
    ("receiveEvent", "receive", "events", "Other systems follow requests"),
    ("deadLetter", "send", "deadLetters", "tierflow ingress parks a poison command"),
    (
        "sendClientCommand",
        "send",
        "clientCommands",
        "A system client with Kafka authentication on sends on its own commands topic",
    ),
    (
        "receiveClientDeadLetter",
        "receive",
        "clientDeadLetters",
        "A system client reads its own refused commands",
    ),
)


# A required text holds more than white space (schemas.edge.check_not_blank)
NOT_BLANK = r"\S"
# The reasons a person escalates by: sla_breach is the engine's own, refused from anyone else
PERSON_REASONS = tuple(r.value for r in EscalationReason if r is not EscalationReason.SLA_BREACH)
PersonReason: Any = Literal[PERSON_REASONS]
# Commands the ingress can apply: the operator's (retry, resolve) are an admin's, and no
# system client may be granted them or act for an admin
PUBLISHED_ACTIONS = [kind for kind in ActionKind if kind not in OPERATOR_ACTIONS]


def action_data_model(kind: ActionKind) -> type[BaseModel]:
    """The ``data`` of an action command: ActionRequest minus action_id/kind, plus request_id.

    ``action_id`` is the CloudEvent id and ``kind`` comes from the type; ``actor`` defaults
    to a system actor named after the CloudEvent source. Fields take ActionFields' own
    annotations (patterns, byte limits), required where the kind needs them.
    """
    text_needed = kind in TEXT_REQUIRED
    fields: dict[str, Any] = {
        "request_id": (
            str | None,
            Field(
                default=None,
                pattern=REQUEST_ID_PATTERN,
                description="The request acted on (or give it as the CloudEvent subject)",
            ),
        ),
        "actor": (Actor, Field(default=None, description="Default: the system client itself")),
    }
    if text_needed:
        fields["text"] = (
            str,
            Field(
                min_length=1,
                max_length=ACTION_TEXT_BYTES,
                pattern=NOT_BLANK,
                json_schema_extra={"maxUtf8Bytes": ACTION_TEXT_BYTES},
                description=TEXT_REQUIRED[kind],
            ),
        )
    for field, what in FIELD_REQUIRED.get(kind, ()):
        fields[field] = _required(field, what)
    fields["reason_code"] = (
        PersonReason | None,
        Field(default=None, description="Why, as a code (other if unset)"),
    )
    if kind is not ActionKind.RATE:
        fields["stage"] = (
            Literal["conclusion"],
            Field(default="conclusion", description="Only rate takes another stage"),
        )
    for other, info in ActionFields.model_fields.items():  # accepted on every kind, unused
        fields.setdefault(other, (info.annotation, info))
    name = "".join(part.title() for part in kind.value.split("_")) + "Command"
    return create_model(name, __doc__=f"Data of the {kind.value} command.", **fields)


def _required(field: str, what: str) -> tuple[Any, FieldInfo]:
    """ActionFields' own ``field`` (its type and bounds), required, described as the kind
    that needs it says (``FIELD_REQUIRED``)."""
    info = ActionFields.model_fields[field]
    kind_of = next(a for a in get_args(info.annotation) if a is not type(None))  # X | None
    codes = ", ".join(kind_of) if isinstance(kind_of, type) and issubclass(kind_of, StrEnum) else ""
    described = fill(what, {"choices": codes})
    required = FieldInfo.merge_field_infos(info, description=described)
    required.default = PydanticUndefined
    return kind_of, required


def _data_schema(kind: ActionKind) -> dict:
    """The JSON Schema of an action command's data, with what a model cannot say: the actor
    given or left out (never null), the text an unsatisfied follow-up requires."""
    schema = action_data_model(kind).model_json_schema()
    actor = schema["properties"]["actor"]
    actor.pop("default", None)
    if kind is ActionKind.FOLLOW_UP:
        schema["if"] = {
            "properties": {"outcome": {"const": FollowUpOutcome.UNSATISFIED.value}},
            "required": ["outcome"],
        }
        schema["then"] = {
            "properties": {"text": {"type": "string", "pattern": NOT_BLANK}},
            "required": ["text"],
        }
    return schema


def _closed(schema: dict) -> dict:
    """The schema with no property beyond those it names, at any depth: the ingress refuses
    an unknown field (``schemas.events``), so the contract says so."""
    closed = copy.deepcopy(schema)
    for part in (closed, *closed.get("$defs", {}).values()):
        if "properties" in part:
            part["additionalProperties"] = False
    return closed


def _envelope(
    name: str,
    title: str,
    type_schema: dict,
    data_schema: dict,
    extra: dict | None = None,
    data_required: bool = True,
) -> dict:
    """A CloudEvent envelope schema whose ``data`` is ``data_schema`` (its $defs hoisted);
    ``data`` may be left out of an action that needs no field (the subject names the
    request)."""
    envelope = CloudEvent.model_json_schema()
    data = copy.deepcopy(data_schema)
    defs = data.pop("$defs", {})
    data.pop("title", None)
    props = envelope["properties"]
    props["type"] = type_schema
    props["data"] = data
    if extra:
        props.update(extra)
    required = {*envelope.get("required", []), "specversion"} | (
        {"data"} if data_required else set()
    )
    envelope["required"] = sorted(required)
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{ID_BASE}{name}:v1",
        "title": title,
        **{k: v for k, v in envelope.items() if k not in ("title", "$defs")},
    }
    if defs:
        schema["$defs"] = defs
    return schema


def _without_pii(schema: dict) -> dict:
    """Drop the enterprise contact fields from a schema (they never leave the worker)."""
    enterprise = schema.get("$defs", {}).get("Enterprise")
    if enterprise:
        for field in PII_CONTACT_FIELDS:
            enterprise["properties"].pop(field, None)
        if "required" in enterprise:
            enterprise["required"] = [
                f for f in enterprise["required"] if f not in PII_CONTACT_FIELDS
            ]
    return schema


def json_schemas() -> dict[str, dict]:
    """Every message schema by file stem: commands, the lifecycle event, the bare envelope."""
    schemas: dict[str, dict] = {}
    envelope = CloudEvent.model_json_schema()
    schemas["cloudevent"] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{ID_BASE}cloudevent:v1",
        **envelope,
    }
    schemas[f"command.{SUBMIT}"] = _envelope(
        f"command.{SUBMIT}",
        "Submit command",
        {"const": command_type(SUBMIT), "type": "string"},
        _closed(RequestInput.model_json_schema()),
    )
    for kind in PUBLISHED_ACTIONS:
        schemas[f"command.{kind.value}"] = _envelope(
            f"command.{kind.value}",
            f"{kind.value} command",
            {"const": command_type(kind.value), "type": "string"},
            _closed(_data_schema(kind)),
            data_required=kind in TEXT_REQUIRED or kind in FIELD_REQUIRED,
        )
    event_types = [f"{TYPE_PREFIX}{t.value}.v1" for t in EventType]
    schemas["event.lifecycle"] = _without_pii(
        _envelope(
            "event.lifecycle",
            "Lifecycle event (TransitionRecord, without enterprise contact PII)",
            {"enum": event_types, "type": "string"},
            TransitionRecord.model_json_schema(),
            {"dataschema": {"const": TRANSITION_SCHEMA, "type": "string"}},
        )
    )
    # what a lifecycle event's ``dataschema`` names: its ``data`` alone
    schemas["TransitionRecord"] = _without_pii(
        {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": TRANSITION_SCHEMA,
            **TransitionRecord.model_json_schema(),
            "title": "Lifecycle event data (TransitionRecord, without enterprise contact PII)",
        }
    )
    return schemas


def _examples() -> dict[str, dict]:
    """One realistic payload per message kind (validated against its schema in tests)."""
    import random

    from tierflow_dev.demo import make_uscc  # local: demo data is not needed to import this module

    enterprise = {
        "uscc": make_uscc("330106", random.Random(1)),
        "name": "Hangzhou Qiming Intelligent Technology Co., Ltd.",
        "division_code": "330106",
        "grade": "innovative",
        "contact_name": "Wang Fang",
        "contact_phone": "13800000000",
        "contact_email": "wang@example.com",
    }
    submit = {
        "specversion": "1.0",
        "id": "6f1c2f1e-8d0e-4a53-9d87-0c1a2b3c4d5e",
        "source": "/portal",
        "type": command_type(SUBMIT),
        "time": "2025-10-09T01:30:00Z",
        "subject": EXAMPLE_REQUEST_ID,
        "datacontenttype": "application/json",
        "data": {
            "request_id": EXAMPLE_REQUEST_ID,
            "enterprise": enterprise,
            "category": "financing",
            "priority": "normal",
            "subject": "Credit loan matching for a technology SME",
            # the portal names the enterprise it acts for (by its USCC): it never acts in its
            # own name
            "submitted_by": {"id": enterprise["uscc"], "role": "enterprise"},
        },
    }
    provide_info = {  # the portal, for the enterprise: by its USCC, on its own request
        **submit,
        "id": "0b7e0f8a-3c1d-4a3e-a8f5-1f2e3d4c5b6a",
        "type": command_type(ActionKind.PROVIDE_INFO.value),
        "time": "2025-10-10T02:00:00Z",
        "data": {
            "request_id": EXAMPLE_REQUEST_ID,
            "actor": {"id": enterprise["uscc"], "role": "enterprise"},
            "text": "Uploaded the 2024 audited financial statements",
        },
    }
    return {"submit": submit, "provide_info": provide_info}


def _headers(names: dict[str, str], required: list[str] | None = None) -> dict:
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {n: {"type": "string", "description": d} for n, d in names.items()},
    }
    if required:
        schema["required"] = required
    return schema


def asyncapi() -> dict:
    """The AsyncAPI 3.0 document of the topics, a system client's own two too (payloads refer
    to schemas/json/*)."""
    examples = _examples()
    ce_headers = {
        "content-type": "application/cloudevents+json (structured mode)",
        "ce_specversion": "Binary mode: CloudEvents attributes as ce_* headers, data as value",
        "ce_id": "Binary mode: event id",
        "ce_type": "Binary mode: event type",
        "ce_source": "Binary mode: event source",
        "ce_time": "Binary mode: event time",
        "ce_subject": "Binary mode: request id",
    }
    messages: dict[str, Any] = {}
    command_refs = []
    for kind in [SUBMIT, *(k.value for k in PUBLISHED_ACTIONS)]:
        name = f"{kind}Command"
        message: dict[str, Any] = {
            "name": name,
            "title": f"{kind} command",
            "contentType": "application/cloudevents+json",
            "headers": _headers(ce_headers),
            "payload": {"$ref": f"json/command.{kind}.v1.json"},
            "correlationId": {"location": "$message.payload#/id"},
        }
        if kind in examples:
            message["examples"] = [
                {"name": f"{kind}-example", "payload": examples[kind]},
            ]
        messages[name] = message
        command_refs.append({"$ref": f"#/components/messages/{name}"})
    messages["LifecycleEvent"] = {
        "name": "LifecycleEvent",
        "title": "Lifecycle event",
        "contentType": "application/cloudevents+json",
        "headers": _headers(
            {"content-type": "application/cloudevents+json (structured mode, no ce_* headers)"},
            ["content-type"],
        ),
        "payload": {"$ref": "json/event.lifecycle.v1.json"},
    }
    dlq_headers = _headers(
        {
            DLQ_REASON: "Reason code: " + ", ".join(DLQ_REASONS),
            DLQ_MESSAGE: "Human-readable cause (the workflow's refusal for 'rejected')",
            DLQ_TOPIC: "Topic the message came from",
            DLQ_PARTITION: "Its partition",
            DLQ_OFFSET: "Its offset",
            DLQ_ATTEMPTS: "How many times it was tried",
            DLQ_WORDING: "The message as a catalog entry (JSON: message, values), when it is one; "
            "`tierflow events tail` reads it in the reader's language",
        },
        [DLQ_REASON, DLQ_MESSAGE, DLQ_TOPIC, DLQ_PARTITION, DLQ_OFFSET, DLQ_ATTEMPTS],
    )
    dlq_headers["properties"][DLQ_REASON]["enum"] = list(DLQ_REASONS)
    dlq_headers["properties"] |= {
        DLQ_VALUE_NULL: {"type": "string", "description": "1: the original had no value"},
        DLQ_VALUE_SIZE: {
            "type": "string",
            "description": f"Bytes of an original value left out (over {MAX_COPY_BYTES} bytes, "
            "or a topic that refused the full copy)",
        },
        DLQ_VALUE_SHA256: {"type": "string", "description": "SHA-256 (hex) of that value"},
        DLQ_HEADERS_DROPPED: {
            "type": "string",
            "description": "How many original headers were left out with it (ce_* among them)",
        },
        DLQ_NULL_HEADERS: {
            "type": "string",
            "description": "Comma list of original headers that had no value",
        },
        DLQ_COMMAND_ID: {
            "type": "string",
            "description": "The command's CloudEvent id, when it could be read",
        },
        DLQ_SOURCE: {"type": "string", "description": "Its CloudEvent source, likewise"},
        DLQ_CLIENT: {
            "type": "string",
            "description": "The system client it was taken for (not when refused before)",
        },
    }
    messages["DeadLetter"] = {
        "name": "DeadLetter",
        "title": "Dead-lettered command (the original key, value and headers, then tierflow's)",
        "headers": dlq_headers,
        "payload": {
            "description": "The original message value as it came (may not be JSON), or empty "
            f"when it was left out (over {MAX_COPY_BYTES} bytes: "
            f"{DLQ_VALUE_SIZE} and {DLQ_VALUE_SHA256} say what it was). The command's id and "
            "source are the CloudEvent's own, in the value or its ce_* headers"
        },
    }
    key = {"type": "string", "pattern": REQUEST_ID_PATTERN, "description": "Request id"}
    bindings = {"kafka": {"key": key, "bindingVersion": "0.5.0"}}
    for msg in messages.values():
        msg["bindings"] = bindings
    original_key = {
        "type": "string",
        "description": "The original record's key, as it came "
        "(none, or one that did not match the request id: often why it is here)",
    }
    messages["DeadLetter"]["bindings"] = {"kafka": {"key": original_key, "bindingVersion": "0.5.0"}}
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "tierflow Kafka interface",
            "version": "1.0.0",
            "description": (
                "Commands in, lifecycle events out, dead letters aside. Every message is "
                "keyed by request id so one request's messages stay ordered in one partition; "
                "delivery is at-least-once and consumers dedupe by CloudEvents id."
            ),
        },
        "defaultContentType": "application/cloudevents+json",
        "channels": {
            "commands": {
                "address": constants.COMMANDS_TOPIC,
                "description": "Commands for request workflows (consumer group "
                f"{constants.INGRESS_GROUP}); a message is at most {MAX_COMMAND_BYTES} bytes "
                "(dead-lettered oversize beyond), a submit's fields all within their limits "
                "included: link documents, do not list dozens of long links. The outcome of "
                "an action is a lifecycle event whose data.action_id is its CloudEvent id, or "
                "a dead letter whose tierflow_dlq_command_id is; of a submit, the submitted "
                "event of its request id (the event's subject; its data.action_id is empty) "
                "or such a dead letter. A submit repeating one already taken (the same "
                "request id and content, whatever its CloudEvent id) adds nothing: read the "
                "request's first submitted event",
                "messages": {m["$ref"].rsplit("/", 1)[-1]: m for m in command_refs},
            },
            "events": {
                "address": constants.EVENTS_TOPIC,
                "description": "Lifecycle events, one per transition, in sequence per "
                "request; the one exception: operator_needed is published ahead of the "
                "records a request is held on, which follow in sequence once an operator "
                "releases it (docs/reliability.md)",
                "messages": {"LifecycleEvent": {"$ref": "#/components/messages/LifecycleEvent"}},
            },
            "deadLetters": {
                "address": constants.DEAD_LETTER_TOPIC,
                "description": "Commands refused, with the reason in headers: as of then "
                "(a needs_operator command applies when sent again as it was, once an operator "
                "released the request; a rejected one may apply under a new id once the "
                "request allows it); after a crash or a rebalance one may be refused twice: "
                "dedupe by tierflow_dlq_command_id",
                "messages": {"DeadLetter": {"$ref": "#/components/messages/DeadLetter"}},
            },
            "clientCommands": {
                "address": "{topic}",
                "description": "A system client's own commands topic (`topic` in the system "
                "clients file, e.g. tierflow.commands.enterprise-portal.v1): the same commands "
                "as on the shared topic; Kafka ACLs let only the client's SASL principal write "
                "it, and the topic, not the record, names the client (docs/security.md)",
                "parameters": {
                    "topic": {"description": "The client's `topic` in the system clients file"}
                },
                "messages": {m["$ref"].rsplit("/", 1)[-1]: m for m in command_refs},
            },
            "clientDeadLetters": {
                "address": "{deadLetterTopic}",
                "description": "A system client's own dead-letter topic (`dead_letter_topic`, "
                "e.g. tierflow.commands.dlq.enterprise-portal.v1): its refused commands, with "
                "the headers of the shared dead-letter topic; only its principal reads it",
                "parameters": {
                    "deadLetterTopic": {
                        "description": "The client's `dead_letter_topic` in the system clients file"
                    }
                },
                "messages": {"DeadLetter": {"$ref": "#/components/messages/DeadLetter"}},
            },
        },
        "operations": {
            name: {
                "action": action,
                "summary": summary,
                "channel": {"$ref": f"#/channels/{channel}"},
            }
            for name, action, channel, summary in OPERATIONS
        },
        "components": {"messages": messages},
    }


def render() -> dict[Path, str]:
    """Every generated file (path -> text), deterministic."""
    files = {
        SCHEMA_DIR / f"{name}.v1.json": _dump(schema) for name, schema in json_schemas().items()
    }
    files[ASYNCAPI_PATH] = _dump(asyncapi())
    return files


def write() -> list[Path]:
    """Write the generated files and remove stale schema files; return what changed."""
    changed = []
    SCHEMA_DIR.mkdir(parents=True, exist_ok=True)
    files = render()
    for path, text in files.items():
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            changed.append(path)
    for stale in SCHEMA_DIR.glob("*.v1.json"):
        if stale not in files:
            stale.unlink()
            changed.append(stale)
    return changed


def stale() -> list[Path]:
    """Files that differ from what the models generate (missing, changed or extra)."""
    files = render()
    out = [p for p, text in files.items() if not p.exists() or p.read_text() != text]
    out += [p for p in SCHEMA_DIR.glob("*.v1.json") if p not in files]
    return out


def _dump(doc: dict) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=False, sort_keys=False) + "\n"
