"""Console forms: turn posted fields into the API's models and its errors into inline ones.

Validation is the API's: the walk-in form builds the same ``RequestInput`` the API accepts
and the action forms the same ``ActionBody``; only the error layout differs (per field), and
the reasons are read in the page's language: a shared check's own message (a
``TranslatableError``), or pydantic's kind of error in our words.
"""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import Mapping
from datetime import date
from typing import Any

from babel.support import NullTranslations
from pydantic import ValidationError

from api.errors import error_field, wording
from api.models import ActionBody
from schemas.enterprise import registering_division
from schemas.messages import N_, Catalog, Said
from schemas.request import RequestInput
from tierflow.i18n import formats
from tierflow.i18n.refusals import item_text, refusal_text

# Form field name (dotted, as the API names fields) -> where it goes in RequestInput.
WALK_IN_FIELDS = (
    "request_id",
    "enterprise.uscc",
    "enterprise.name",
    "enterprise.division_code",
    "enterprise.size_class",
    "enterprise.grade",
    "enterprise.contact_name",
    "enterprise.contact_phone",
    "enterprise.contact_email",
    "category",
    "priority",
    "subject",
    "description",
)
WALK_IN_CHANNEL = "walk-in"
_PREFIX = re.compile(r"^(Value error|Assertion failed), ")


def form_text(value: Any) -> str:
    """A posted field's text: "" for a missing field or an uploaded file."""
    return value if isinstance(value, str) else ""


# The days a form may name: a typed 9999-12-31 or 0001-01-01 would run past the calendar
# once moved to China's time or a day on, and no request is that old or that late.
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2099, 12, 31)


def day_of(value: str) -> date | None:
    """The calendar day a form field names (``2026-12-01``), or None when it names none
    (empty, unreadable, outside 2000-2099)."""
    try:
        day = date.fromisoformat(value) if value else None
    except ValueError:
        return None
    return day if day is not None and FIRST_DAY <= day <= LAST_DAY else None


def new_walk_in_id() -> str:
    return f"walkin-{uuid.uuid4().hex[:12]}"


def reason(error: Mapping[str, Any], catalog: NullTranslations) -> str:
    """One validation error's reason in ``catalog``'s language (``api.errors.wording``);
    pydantic's English words for a kind of error this console does not expect."""
    said = wording(error)
    if said is not None:
        with contextlib.suppress(KeyError, TypeError, ValueError):  # values that do not fill it
            return refusal_text(said.as_said(), catalog)
    return _PREFIX.sub("", str(error.get("msg", "")))


def field_errors(exc: ValidationError, catalog: NullTranslations) -> dict[str, str]:
    """Return {dotted field: reason} for a validation error, first reason per field, in
    ``catalog``'s language."""
    errors: dict[str, str] = {}
    for error in exc.errors():
        errors.setdefault(error_field(error), reason(error, catalog))
    return errors


# What the console's forms call the fields an error line names (else the API's name).
FIELD_NAMES = {
    "text": N_("Text"),
    "days": N_("Working days"),
    "rating": N_("Rating (1-5)"),
    "institution_id": N_("Institution id"),
    "handler_id": N_("Caseworker (user name)"),
    "return_reason": N_("Reason"),
    "reason_code": N_("Reason"),
    "suspend_reason": N_("Reason"),
    "outcome": N_("Outcome"),
    "stage": N_("What is rated"),
    "idempotency_key": N_("Form key"),
    "search": N_("Search"),
    "q": N_("Search"),
    "request_id": N_("Request id"),
    "division_prefix": N_("Division prefix"),
    "since": N_("From"),
    "until": N_("To"),
    "version": N_("Version"),
    "policy": N_("Policy"),
    "calendar": N_("Calendar"),
    "categories": N_("Categories"),
    "priorities": N_("Priorities"),
}


def field_name(name: str, catalog: Catalog) -> str:
    """The field as its form names it, in ``catalog``'s language (``days``: 工作日数)."""
    return str(catalog.gettext(FIELD_NAMES[name])) if name in FIELD_NAMES else name


def joined(errors: Mapping[str, str], catalog: Catalog) -> str:
    """``field: reason; field: reason`` for a form that shows its errors in one line, with
    the punctuation of ``catalog``'s language (``工作日数：不能大于 60；…``)."""
    pairs = (
        formats.labelled(field_name(name, catalog), why, catalog) for name, why in errors.items()
    )
    return formats.semicolon(catalog).join(pairs)


UNREACHABLE = N_("give a phone or an e-mail: the enterprise hears of its request by them")


def parse_walk_in(
    form: Mapping[str, Any], catalog: NullTranslations
) -> tuple[dict[str, str], RequestInput | None, dict]:
    """Return (values echoed back, the request or None, {field: reason})."""
    values = {name: str(form.get(name, "")).strip() for name in WALK_IN_FIELDS}
    values["enterprise.uscc"] = values["enterprise.uscc"].upper()
    if not values["enterprise.division_code"]:  # as registered: the USCC's digits 3-8
        values["enterprise.division_code"] = registering_division(values["enterprise.uscc"]) or ""
    data: dict[str, Any] = {"channel": WALK_IN_CHANNEL, "enterprise": {}}
    for name, value in values.items():
        if name == "request_id" and not value:
            value = new_walk_in_id()
        if not value:
            continue  # unset: the model's default, or its "Field required" error
        if name.startswith("enterprise."):
            data["enterprise"][name.split(".", 1)[1]] = value
        else:
            data[name] = value
    # at the window the enterprise is there to ask: without a phone or an e-mail it would hear
    # nothing of its request (no notice, no question, no conclusion)
    unreachable = {}
    if not values["enterprise.contact_phone"] and not values["enterprise.contact_email"]:
        unreachable = {"enterprise.contact_phone": catalog.gettext(UNREACHABLE)}
    try:
        req = RequestInput.model_validate(data)
    except ValidationError as exc:
        return values, None, field_errors(exc, catalog) | unreachable
    return values, None if unreachable else req, unreachable


# The fields of an action form: ActionBody's (text and what some actions need besides).
# the form's fields; documents are sent by the enterprise's portal, the API or the CLI (a link
# to where each lives), not typed into a form
ACTION_FIELDS = tuple(name for name in ActionBody.model_fields if name != "attachments")


def parse_action_body(
    form: Mapping[str, Any], catalog: NullTranslations
) -> tuple[ActionBody | None, dict[str, str]]:
    """Return the action's body (text, institution, rating) or the per-field errors."""
    data = {name: value for name in ACTION_FIELDS if (value := str(form.get(name, "")).strip())}
    try:
        return ActionBody.model_validate(data), {}
    except ValidationError as exc:
        return None, field_errors(exc, catalog)


def detail_errors(detail: Any, catalog: NullTranslations) -> tuple[str, dict[str, str]]:
    """Split an HTTPException detail into (message, {field: reason}) for inline display; a
    reason worded as a catalog message (``Said``: a refusal, a request not found) reads in
    ``catalog``'s language (``tierflow.i18n.refusals``)."""
    if isinstance(detail, list):
        fields = {str(d.get("field", "body")): _item(d, catalog) for d in detail}
        return joined(fields, catalog), fields
    return _text(detail, catalog), {}


def _item(item: Any, catalog: NullTranslations) -> str:
    """One named field's reason in ``catalog``'s language: a catalog message as it is, else
    the item's ``reason`` (msgid and values; a model's own check words its English ``msg``)."""
    message = item.get("msg", "") if isinstance(item, Mapping) else item
    return _text(message, catalog) if isinstance(message, Said) else item_text(item, catalog)


def _text(reason: object, catalog: NullTranslations) -> str:
    return refusal_text(reason, catalog) if isinstance(reason, Said) else str(reason)
