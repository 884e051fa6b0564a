"""Command messages for the commands topic: submits, actions and whole lifecycles.

Every command is keyed by its request id (one partition per request, so order holds) and has
a deterministic CloudEvents id, which is also the action id the workflow dedupes by.
"""

from __future__ import annotations

import uuid
from typing import Any

from schemas.domain import Priority
from schemas.events import SUBMIT, command_event
from schemas.lifecycle import TEXT_REQUIRED, ActionKind
from schemas.request import RequestInput
from tests.chaos.harness import SOURCE, Message
from tests.utils.factories import make_request

LIFECYCLE = (ActionKind.ACKNOWLEDGE, ActionKind.START, ActionKind.RESOLVE)


def new_request(prefix: str, priority: Priority = Priority.NORMAL) -> RequestInput:
    """A valid request (Hangzhou Xihu district: every tier up to national routes it)."""
    return make_request(f"{prefix}-{uuid.uuid4().hex[:10]}", priority=priority)


def submit(req: RequestInput, event_id: str | None = None) -> Message:
    rid = req.request_id
    event = command_event(
        SUBMIT,
        req.model_dump(mode="json"),
        source=SOURCE,
        subject=rid,
        event_id=event_id or f"submit-{rid}",
    )
    return Message(rid.encode(), event.to_json_bytes(), event_id=event.id, request_id=rid)


def action_data(rid: str, kind: ActionKind, **extra: Any) -> dict[str, Any]:
    """Valid data for an action by the system actor (the default for Kafka commands)."""
    data: dict[str, Any] = {"request_id": rid}
    if kind in TEXT_REQUIRED:
        data["text"] = f"chaos {kind.value}"
    if kind is ActionKind.RATE:
        data["rating"] = 4
    data.update({k: v for k, v in extra.items() if v is not None})
    return data


def action(rid: str, kind: ActionKind, event_id: str, **extra: Any) -> Message:
    event = command_event(
        kind.value, action_data(rid, kind, **extra), source=SOURCE, subject=rid, event_id=event_id
    )
    return Message(rid.encode(), event.to_json_bytes(), event_id=event.id, request_id=rid)


def lifecycle(req: RequestInput, kinds: tuple[ActionKind, ...] = LIFECYCLE) -> list[Message]:
    """Submit then each action in order (ids ``<rid>/<n>-<kind>``)."""
    rid = req.request_id
    steps = [submit(req)]
    steps += [action(rid, kind, f"{rid}/{n}-{kind.value}") for n, kind in enumerate(kinds, 1)]
    return steps


def interleave(per_request: list[list[Message]]) -> list[Message]:
    """Round-robin the requests' message lists (each list keeps its order)."""
    out: list[Message] = []
    longest = max((len(m) for m in per_request), default=0)
    for i in range(longest):
        out += [msgs[i] for msgs in per_request if i < len(msgs)]
    return out
