"""Refusals of an action as its caller receives them: English, and a catalog message.

A refusal's reason is a ``Said`` (``schemas.messages``) wherever the workflow words it: its
English text is the error's message (the API's answer, the ingress's dead-letter reason),
and its msgid and values travel as the error's one detail, so the console can read it in the
user's language (``reason_of``, which the API and the ingress read it with). A refusal of
one field (a target the directory refuses) names it there too (``field_of``).
"""

from __future__ import annotations

from temporalio.exceptions import ApplicationError

from schemas.lifecycle import Wording
from schemas.messages import N_, Said


def refused(reason: str, kind: str, field: str | None = None) -> ApplicationError:
    """A non-retryable ``ApplicationError`` of type ``kind`` (Forbidden, InvalidTransition,
    ...) saying ``reason``; its detail holds the msgid and values of a ``Said`` reason, and
    the ``field`` the refusal is about."""
    wording = Wording.of(reason)
    detail = {"field": field} | (wording.model_dump() if wording else {})
    return ApplicationError(str(reason), detail, type=kind, non_retryable=True)


def reason_of(cause: ApplicationError) -> str:
    """A refusal's reason: a ``Said`` rebuilt from the error's detail, or its English message
    when it has no wording that renders it."""
    match cause.details:
        case (detail,):
            return Wording.read(detail, cause.message)
    return cause.message


def field_of(cause: ApplicationError) -> str | None:
    """The field a refusal is about, as ``refused`` named it."""
    match cause.details:
        case ({"field": str(field)},):  # a mapping pattern: other keys may be there
            return field
    return None


def reused_id(action_id: str) -> Said:
    """Why an action is refused whose id the request's trail holds for another action."""
    return Said(
        N_(
            "action id %(action_id)r was used on this request for another action; give this "
            "one an id of its own"
        ),
        action_id=action_id,
    )
