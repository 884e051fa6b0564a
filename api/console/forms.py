"""Console forms: turn posted fields into the API's models and its errors into inline ones.

Validation is the API's: the walk-in form builds the same ``RequestInput`` the API accepts
and the action forms the same ``ActionBody``; only the error layout differs (per field).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from api.errors import describe
from api.models import ActionBody
from schemas.request import RequestInput

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


def new_walk_in_id() -> str:
    return f"walkin-{uuid.uuid4().hex[:12]}"


def field_errors(exc: ValidationError) -> dict[str, str]:
    """Return {dotted field: reason} for a validation error, first reason per field."""
    errors: dict[str, str] = {}
    for item in describe(exc.errors()):
        errors.setdefault(item["field"], _PREFIX.sub("", item["msg"]))
    return errors


def parse_walk_in(form: Mapping[str, Any]) -> tuple[dict[str, str], RequestInput | None, dict]:
    """Return (values echoed back, the request or None, {field: reason})."""
    values = {name: str(form.get(name, "")).strip() for name in WALK_IN_FIELDS}
    values["enterprise.uscc"] = values["enterprise.uscc"].upper()
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
    try:
        return values, RequestInput.model_validate(data), {}
    except ValidationError as exc:
        return values, None, field_errors(exc)


# The fields of an action form: ActionBody's (text and what some actions need besides).
ACTION_FIELDS = tuple(ActionBody.model_fields)


def parse_action_body(form: Mapping[str, Any]) -> tuple[ActionBody | None, dict[str, str]]:
    """Return the action's body (text, institution, rating) or the per-field errors."""
    data = {name: value for name in ACTION_FIELDS if (value := str(form.get(name, "")).strip())}
    try:
        return ActionBody.model_validate(data), {}
    except ValidationError as exc:
        return None, field_errors(exc)


def detail_errors(detail: Any) -> tuple[str, dict[str, str]]:
    """Split an HTTPException detail into (message, {field: reason}) for inline display."""
    if isinstance(detail, list):
        fields = {str(d.get("field", "body")): str(d.get("msg", "")) for d in detail}
        return "; ".join(f"{k}: {v}" for k, v in fields.items()), fields
    return str(detail), {}
