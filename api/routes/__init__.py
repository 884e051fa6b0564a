"""Routers of the versioned API; each carries the full prefix so metrics see the path."""

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel

from api.models import FieldErrorOut, ReasonOut

API_PREFIX = "/api/v1"
COMPONENTS = "#/components/schemas/{model}"


def component_schema(model: type[BaseModel]) -> dict[str, Any]:
    """A model's JSON schema for a body described by hand (``openapi_extra``).

    Its nested models point at the document's components, where FastAPI publishes them, not
    at a ``$defs`` of its own that OpenAPI tools do not resolve.
    """
    schema = model.model_json_schema(ref_template=COMPONENTS)
    schema.pop("$defs", None)
    return schema


def document_field_errors(app: FastAPI) -> None:
    """Publish a 422 item as the API answers it (``api.errors.describe``: ``field`` and
    ``reason`` besides FastAPI's ``loc``, ``msg`` and ``type``), in place of FastAPI's own
    ``ValidationError`` schema that every 422 response points at."""
    build: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schemas = build()["components"]["schemas"]
            schemas["ValidationError"] = component_schema(FieldErrorOut)
            schemas.setdefault("ReasonOut", component_schema(ReasonOut))
        return app.openapi_schema or build()

    app.openapi = openapi  # type: ignore[method-assign]
