"""Refusals of an action as its caller receives them: English, and a catalog message.

A refusal's reason is a ``Said`` (``schemas.messages``) wherever the workflow words it: its
English text is the error's message (the API's answer, the ingress's dead-letter reason),
and its msgid and values travel as the error's one detail, so the console can read it in the
user's language (``api.service.actions.refusal_message``). A refusal of one field (a target
the directory refuses) names it there too.
"""

from __future__ import annotations

from temporalio.exceptions import ApplicationError

from schemas.lifecycle import Wording


def refused(reason: str, kind: str, field: str | None = None) -> ApplicationError:
    """A non-retryable ``ApplicationError`` of type ``kind`` (Forbidden, InvalidTransition,
    ...) saying ``reason``; its detail holds the msgid and values of a ``Said`` reason, and
    the ``field`` the refusal is about."""
    wording = Wording.of(reason)
    detail = {"field": field} | (wording.model_dump() if wording else {})
    return ApplicationError(str(reason), detail, type=kind, non_retryable=True)
