"""The ingress's pure step: bytes + headers + key -> a command, or a CommandError (no I/O).

Kept apart from the consumer so it can be fuzzed: whatever arrives on the commands topic,
``decode`` either returns a ParsedCommand or raises CommandError with a DLQ reason code.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

from schemas.dlq import DeadLetterReason as Reason
from schemas.events import COMMANDS, TYPE_PREFIX, CommandError, ParsedCommand, parse_command

log = logging.getLogger("tierflow.ingress")


def decode(
    value: bytes | None,
    headers: Sequence[tuple[str, bytes | None]] | None = None,
    key: bytes | None = None,
) -> ParsedCommand:
    """Validate one commands-topic message; raise only CommandError.

    ``parse_command`` already ties a submit's ``subject`` to ``data.request_id``. Beyond it:
    a tombstone (no value) is ``not_json``, and a message key, when present, must be the
    request id (the key picks the partition; a request's commands must share one to stay
    ordered).
    """
    if value is None:
        raise CommandError(Reason.NOT_JSON, "message has no value (tombstone)")
    try:
        pairs = [(k, v) for k, v in headers or [] if v is not None]
        parsed = parse_command(bytes(value), pairs)
    except CommandError:
        raise
    except RecursionError:
        raise CommandError(Reason.NOT_JSON, "message value is JSON nested too deeply") from None
    except Exception as exc:  # noqa: BLE001 - any other failure means the input is unusable
        log.warning("decoder failed unexpectedly: %s: %s", type(exc).__name__, exc)
        raise CommandError(Reason.SCHEMA_INVALID, f"{type(exc).__name__}: {exc}") from None
    if key is not None:
        text = _text(key)
        if text != parsed.request_id:
            mismatch = CommandError(
                Reason.SCHEMA_INVALID,
                f"key: {text!r} differs from the request id {parsed.request_id!r} "
                "(commands must be keyed by request id)",
            )
            mismatch.event = parsed.event  # read, then refused: its id and source name it
            raise mismatch
    return parsed


def command_label(value: bytes | None, headers: Sequence[tuple[str, Any]] | None) -> str:
    """Best-effort command name for metrics when decoding failed ("unknown" if none)."""
    candidates: list[str] = []
    for name, raw in headers or []:
        if str(name).lower() == "ce_type" and isinstance(raw, bytes):
            candidates.append(_text(raw))
    if value and len(value) < 4096 and b'"type"' in value:
        try:
            body = json.loads(value)
            if isinstance(body, dict) and isinstance(body.get("type"), str):
                candidates.append(body["type"])
        except (ValueError, RecursionError):
            pass
    for type_ in candidates:
        name = type_.removeprefix(TYPE_PREFIX).removesuffix(".v1")
        if name in COMMANDS:
            return name
    return "unknown"


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace")
