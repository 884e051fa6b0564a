"""CloudEvents 1.0 envelopes for Kafka: lifecycle events out, commands in (pure, no Kafka).

Types: commands ``org.tierflow.request.<command>.v1`` (``submit`` or an ActionKind value),
events ``org.tierflow.request.<EventType value>.v1``. Structured mode (JSON envelope in the
value) and binary mode (``ce_*`` headers, data in the value) are both accepted for commands.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from cloudevents.core.bindings.kafka import CE_PREFIX, KafkaMessage, from_kafka, to_structured
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent as SpecCloudEvent
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from schemas.domain import Role
from schemas.edge import ACTION_ID_PATTERN, check_aware, check_name, edge_rule
from schemas.lifecycle import (
    ActionKind,
    ActionRequest,
    EventType,
    TransitionRecord,
    rating_text_missing,
)
from schemas.messages import N_, Said, TranslatableError, named_check, pydantic_reason
from schemas.request import REQUEST_ID_PATTERN, Actor, RequestInput

MAX_COMMAND_BYTES = 256 * 1024
TYPE_PREFIX = "org.tierflow.request."
SUBMIT = "submit"
COMMANDS: frozenset[str] = frozenset({SUBMIT, *(kind.value for kind in ActionKind)})
TRANSITION_SCHEMA = "urn:tierflow:schema:TransitionRecord:v1"
PII_CONTACT_FIELDS = {"contact_name", "contact_phone", "contact_email"}
_TYPE_RE = re.compile(r"^org\.tierflow\.request\.([a-z_]+)\.v1$")
_JSON = JSONFormat()


class CloudEvent(BaseModel):
    """A CloudEvents 1.0 event in structured JSON mode; extension attributes are kept."""

    model_config = ConfigDict(extra="allow")

    specversion: Literal["1.0"] = "1.0"
    id: str = Field(pattern=ACTION_ID_PATTERN)  # printable ASCII: it reaches logs
    source: Annotated[str, Field(min_length=1, max_length=500), edge_rule(check_name)]
    type: str = Field(min_length=1, max_length=200)
    time: Annotated[datetime | None, AfterValidator(check_aware)] = None
    subject: str | None = Field(default=None, max_length=200)
    datacontenttype: str = Field(
        default="application/json", pattern=r"^application/([\w.-]+\+)?json"
    )
    dataschema: str | None = Field(default=None, max_length=500)
    data: dict[str, Any] = Field(default_factory=dict)

    def to_json_bytes(self) -> bytes:
        """Serialise as a structured-mode message value."""
        return self.to_kafka().value

    def to_kafka(self) -> KafkaMessage:
        """A structured-mode Kafka message by the CloudEvents Kafka binding, keyed by subject."""
        attributes = self.model_dump(exclude_none=True, exclude={"data"})
        data = self.model_dump(mode="json", include={"data"})["data"]
        event = SpecCloudEvent(attributes=attributes, data=data)
        return to_structured(event, _JSON, key_mapper=lambda _: self.subject)


class CommandError(ValueError):
    """A command that can never succeed; ``reason_code`` goes into the DLQ header.

    ``message`` is the DLQ's English reason (a field's problem in pydantic's words where
    pydantic found it); ``worded`` says the same for people, as catalog messages, so that the
    CLI refusing to send a command says why in its reader's language.
    """

    def __init__(self, reason_code: str, message: str, worded: Said | None = None) -> None:
        super().__init__(f"{reason_code}: {message}")
        self.reason_code = reason_code
        self.message = message
        self.worded = worded if worded is not None else _said(message)
        # the command, when it was read before being refused (its id and source name it)
        self.event: CloudEvent | None = None


def _said(message: str) -> Said | None:
    return message if isinstance(message, Said) else None


class ParsedCommand(BaseModel):
    """A validated command: exactly one of ``submit`` and ``action`` is set."""

    event: CloudEvent
    command: str
    request_id: str
    submit: RequestInput | None = None
    action: ActionRequest | None = None
    # the person the command says it acts for (``data.actor`` / ``data.submitted_by``): a claim
    # the ingress accepts only from a system client granted to act for that role
    claimed_actor: Actor | None = None


def command_type(command: str) -> str:
    """Return the CloudEvents type of a command (``submit`` or an ActionKind value)."""
    if command not in COMMANDS:
        raise ValueError(f"unknown command {command!r}; known: {', '.join(sorted(COMMANDS))}")
    return f"{TYPE_PREFIX}{command}.v1"


def event_type_name(event_type: EventType) -> str:
    """Return the CloudEvents type of a lifecycle event."""
    return f"{TYPE_PREFIX}{event_type.value}.v1"


def command_event(
    command: str,
    data: dict[str, Any],
    source: str,
    subject: str | None = None,
    event_id: str | None = None,
) -> CloudEvent:
    """Build a command CloudEvent (a fresh id and the current time unless given)."""
    return CloudEvent(
        id=event_id or str(uuid.uuid4()),
        source=source,
        type=command_type(command),
        time=datetime.now(UTC),
        subject=subject,
        data=data,
    )


# the CloudEvents ``source`` of lifecycle events unless a deployment names its own
# (``TIERFLOW_EVENT_SOURCE``: consumers of several deployments tell their events apart by
# source and id)
EVENT_SOURCE = "/tierflow/worker"
# a URI-reference as a source: a path, or a scheme and what follows; no spaces or controls
EVENT_SOURCE_PATTERN = r"^(/|[A-Za-z][A-Za-z0-9+.-]*:)[!-~]{0,199}$"


def event_from_transition(record: TransitionRecord, source: str = EVENT_SOURCE) -> CloudEvent:
    """Wrap a transition as a lifecycle event, leaving out the enterprise contact PII."""
    exclude: Any = {"request": {"enterprise": PII_CONTACT_FIELDS}} if record.request else None
    return CloudEvent(
        id=record.event_id,
        source=source,
        type=event_type_name(record.event_type),
        time=record.occurred_at,
        subject=record.request_id,
        dataschema=TRANSITION_SCHEMA,
        data=record.model_dump(mode="json", exclude=exclude),
    )


def parse_command(raw: bytes, headers: list[tuple[str, bytes]]) -> ParsedCommand:
    """Validate a command message in structured or binary mode; raise CommandError if bad."""
    if len(raw) > MAX_COMMAND_BYTES:
        too_big = N_("message has %(size)d bytes, limit %(limit)d")
        raise CommandError("oversize", Said(too_big, size=len(raw), limit=MAX_COMMAND_BYTES))
    envelope = _envelope(raw, headers)
    try:
        event = CloudEvent.model_validate(envelope)
    except ValidationError as exc:
        raise CommandError("not_cloudevent", *described(exc)) from None
    try:
        return _parse_event(event)
    except CommandError as exc:  # read, then refused: its id and source name it
        exc.event = event
        raise


def _parse_event(event: CloudEvent) -> ParsedCommand:
    match = _TYPE_RE.fullmatch(event.type)  # a whole-string match: no trailing newline
    if match is None or match.group(1) not in COMMANDS:
        unknown = N_(
            "type %(type)r is not a command; expected %(prefix)s<command>.v1 with <command> "
            "one of %(commands)s"
        )
        commands = ", ".join(sorted(COMMANDS))
        raise CommandError(
            "unknown_type", Said(unknown, type=event.type, prefix=TYPE_PREFIX, commands=commands)
        )
    command = match.group(1)
    if command == SUBMIT:
        return _parse_submit(event)
    return _parse_action(event, ActionKind(command))


def _parse_submit(event: CloudEvent) -> ParsedCommand:
    try:
        request = RequestInput.model_validate(event.data, extra="forbid")  # a typo is named
    except ValidationError as exc:
        raise _schema_error(exc, "data") from None
    if event.subject and event.subject != request.request_id:
        differs = N_("subject: %(subject)r differs from data.request_id %(request_id)r")
        raise CommandError(
            "schema_invalid",
            Said(differs, subject=event.subject, request_id=request.request_id),
        )
    claimed = request.submitted_by if "submitted_by" in event.data else None
    return ParsedCommand(
        event=event,
        command=SUBMIT,
        request_id=request.request_id,
        submit=request,
        claimed_actor=claimed,
    )


def _parse_action(event: CloudEvent, kind: ActionKind) -> ParsedCommand:
    data = dict(event.data)
    named = data.pop("request_id", None)
    if named is not None and event.subject and event.subject != named:
        differs = N_("subject: %(subject)r differs from data.request_id %(request_id)r")
        raise CommandError(
            "schema_invalid", Said(differs, subject=event.subject, request_id=str(named))
        )
    request_id = named or event.subject
    if not isinstance(request_id, str) or not re.fullmatch(REQUEST_ID_PATTERN, request_id):
        required = N_(
            "data.request_id: required (or the subject) and must match %(pattern)s, got %(got)r"
        )
        raise CommandError(
            "schema_invalid", Said(required, pattern=REQUEST_ID_PATTERN, got=request_id)
        )
    claimed = "actor" in data
    # until the ingress names the system client, the source stands in as the actor
    data.setdefault("actor", Actor(id=event.source[:100], role=Role.SYSTEM).model_dump())
    try:
        fields = {**data, "action_id": event.id, "kind": kind}
        action = ActionRequest.model_validate(fields, extra="forbid")  # a typo is named
    except ValidationError as exc:
        raise _schema_error(exc, "data") from None
    missing = rating_text_missing(kind, action, action.actor.role)
    if missing:  # an edge's rule: see rating_text_missing
        name, why = missing
        worded = Said(N_("%(field)s: %(message)s"), field=f"data.{name}", message=why)
        raise CommandError("schema_invalid", str(worded), worded)
    return ParsedCommand(
        event=event,
        command=kind.value,
        request_id=request_id,
        action=action,
        claimed_actor=action.actor if claimed else None,
    )


class _Envelope:
    """What the CloudEvents Kafka binding read, unvalidated: ``CloudEvent`` validates it.

    The binding's own event classes would refuse a bad envelope with messages that do not
    name the field the way every other refusal does, so it hands its reading to this.
    """

    def __init__(self, attributes: dict[str, Any], data: Any) -> None:
        self.attributes, self.data = attributes, data


def _envelope(raw: bytes, headers: list[tuple[str, bytes]]) -> dict[str, Any]:
    """Read the envelope with the CloudEvents Kafka binding (binary mode if ``ce_*`` headers)."""
    present = {k: v for k, v in headers or [] if v is not None}
    binary = any(k.lower().startswith(CE_PREFIX) for k in present)
    named = [
        k.lower() for k, v in headers or [] if v is not None and k.lower().startswith(CE_PREFIX)
    ]
    if twice := sorted({k for k in named if named.count(k) > 1}):
        again = N_("header %(header)s appears more than once (in any case): which one is meant?")
        raise CommandError("not_cloudevent", Said(again, header=twice[0]))
    if not raw:
        raise CommandError("not_json", Said(N_("message value is empty")))
    message = KafkaMessage(headers=present, key=None, value=raw)
    try:
        read: Any = from_kafka(message, _JSON, event_factory=_Envelope)  # type: ignore[arg-type]
    except UnicodeDecodeError as exc:
        if binary:
            raise CommandError("not_cloudevent", f"a ce_ header is not UTF-8: {exc}") from None
        raise CommandError("not_json", f"message value is not UTF-8: {exc}") from None
    except json.JSONDecodeError as exc:
        raise CommandError("not_json", f"message value is not JSON: {exc}") from None
    except (ValueError, TypeError, AttributeError) as exc:
        raise _unreadable(raw, present, binary, exc) from None
    attributes = dict(read.attributes)
    if "specversion" not in attributes:
        none = N_("no specversion in the JSON value nor a ce_specversion header")
        raise CommandError("not_cloudevent", Said(none))
    data = read.data
    if binary and not isinstance(data, dict):
        try:
            json.loads(raw)
        except (UnicodeDecodeError, ValueError) as exc:
            raise CommandError("not_json", f"message value is not JSON: {exc}") from None
    if read.data is not None:
        attributes["data"] = data
    return attributes


def _unreadable(
    raw: bytes, headers: dict[str, bytes], binary: bool, exc: Exception
) -> CommandError:
    """Why the binding could not read the envelope, naming the field where we can tell: the
    ``time`` it parses, or a number longer than Python reads."""
    if "integer string conversion" in str(exc):
        return CommandError("not_json", Said(N_("message value has a number of over 4300 digits")))
    if binary:
        found = {k.lower(): v for k, v in headers.items()}.get(CE_PREFIX + "time")
        time: Any = found.decode("utf-8", "replace") if found is not None else None
    else:
        try:
            body = json.loads(raw)
        except (ValueError, RecursionError):
            body = None
        time = body.get("time") if isinstance(body, dict) else None
    if time is not None:
        not_a_time = N_("time: %(got)s is not an RFC 3339 timestamp")
        return CommandError("not_cloudevent", Said(not_a_time, got=repr(time)[:100]))
    return CommandError("not_cloudevent", f"{type(exc).__name__}: {exc}")


# A command's field no schema names: refused, so that a misspelt optional field is not lost.
UNKNOWN_FIELD = Said(N_("unknown field (misspelt?)"))


def described(exc: ValidationError, prefix: str = "") -> tuple[str, Said]:
    """Name each failing field path and its reason, e.g. ``data.subject: ...``: a check's own
    message, or pydantic's words for its kind of error; in English as the DLQ says it, and
    as catalog messages (pydantic's kinds of error in our words) for people."""
    english: list[str] = []
    worded: list[Said] = []
    for err in exc.errors():
        loc: tuple[Any, ...] = err["loc"]
        cause = (err.get("ctx") or {}).get("error")
        check = named_check(err) if not loc else None
        if check is not None:  # a check of the fields together, which names its field
            loc, why = (check.values["field"],), check.values["reason"]
        elif err["type"] == "extra_forbidden":
            why = UNKNOWN_FIELD
        elif isinstance(cause, ValueError):  # without pydantic's "Value error, "
            why = cause if isinstance(cause, Said | TranslatableError) else str(cause)
        else:
            why = err["msg"]
        path = ".".join(str(p) for p in (prefix, *loc) if p != "") or "<root>"
        english.append(f"{path}: {why}")
        worded.append(Said(N_("%(field)s: %(message)s"), field=path, message=_worded(err, why)))
    joined = worded[0]
    for then in worded[1:]:
        joined = Said(N_("%(first)s; %(then)s"), first=joined, then=then)
    return "; ".join(english), joined


def _worded(err: Any, why: object) -> object:
    """A field's problem for people: a check's own message, else pydantic's kind in our
    words, else pydantic's English."""
    if isinstance(why, Said | TranslatableError):
        return why
    return pydantic_reason(err) or why


def _schema_error(exc: ValidationError, prefix: str) -> CommandError:
    uscc = any(tuple(err["loc"][:2]) == ("enterprise", "uscc") for err in exc.errors())
    return CommandError("invalid_uscc" if uscc else "schema_invalid", *described(exc, prefix))
