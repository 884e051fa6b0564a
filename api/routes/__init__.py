"""Routers of the versioned API; each carries the full prefix so metrics see the path."""

from typing import Any

from pydantic import BaseModel

from api.models import ErrorOut, FieldErrorOut

API_PREFIX = "/api/v1"
COMPONENTS = "#/components/schemas/{model}"


class ValidationErrorsOut(BaseModel):
    """A 422 answer: one item per field at fault."""

    detail: list[FieldErrorOut]


_RETRY_AFTER = {"description": "Seconds to wait before trying again", "schema": {"type": "integer"}}
# What any route of the API may answer besides its own: a client generated from the document
# knows them, and which to retry (503, after Retry-After; an action with the same key).
COMMON_RESPONSES: dict[int | str, dict[str, Any]] = {
    413: {"model": ErrorOut, "description": "The body is larger than the API takes"},
    422: {
        "model": ValidationErrorsOut,
        "description": "A field, parameter or header is not what the route takes (one item "
        "each, naming it and why); a query parameter the route does not have is refused too",
    },
    502: {"model": ErrorOut, "description": "Temporal refused the call; a retry does not help"},
    503: {
        "model": ErrorOut,
        "description": "Temporal or the database cannot answer now: try again after "
        "Retry-After seconds. An action whose answer did not come in time carries the "
        "Idempotency-Key to repeat it with: repeated, it is applied once",
        "headers": {
            "Retry-After": _RETRY_AFTER,
            "Idempotency-Key": {
                "description": "The key an action was sent with (repeat it to retry)",
                "schema": {"type": "string"},
            },
        },
    },
}


def component_schema(model: type[BaseModel]) -> dict[str, Any]:
    """A model's JSON schema for a body described by hand (``openapi_extra``).

    Its nested models point at the document's components, where FastAPI publishes them, not
    at a ``$defs`` of its own that OpenAPI tools do not resolve.
    """
    schema = model.model_json_schema(ref_template=COMPONENTS)
    schema.pop("$defs", None)
    return schema
