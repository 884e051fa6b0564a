"""Refusals of an action as its caller receives them: English, and a catalog message.

A refusal's reason is a ``Said`` (``schemas.messages``) wherever the workflow words it: its
English text is the error's message (the API's answer, the ingress's dead-letter reason),
and its msgid and values travel as the error's details, so the console can read it in the
user's language (``api.service.actions.refusal_message``).
"""

from __future__ import annotations

from temporalio.exceptions import ApplicationError

from schemas.messages import Said


def refused(reason: str, kind: str) -> ApplicationError:
    """A non-retryable ``ApplicationError`` of type ``kind`` (Forbidden, InvalidTransition,
    ...) saying ``reason``; a ``Said`` reason adds its msgid and values as the details."""
    details = (str(reason.message), dict(reason.values)) if isinstance(reason, Said) else ()
    return ApplicationError(str(reason), *details, type=kind, non_retryable=True)
