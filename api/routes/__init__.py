"""Routers of the versioned API; each carries the full prefix so metrics see the path."""

from typing import Any

from pydantic import BaseModel

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
