"""SLA policies as versioned data, for admins: list, add a candidate, promote from a date."""

from __future__ import annotations

from pathlib import PurePath
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Request, Response, status
from starlette.datastructures import UploadFile

from api.deps import Ctx, CurrentPrincipal
from api.errors import field_error
from api.models import ErrorOut
from api.routes import API_PREFIX, ValidationErrorsOut
from api.service import policies as service
from tierflow.policy import VERSION_PATTERN
from tierflow.policy_store import Release

router = APIRouter(prefix=f"{API_PREFIX}/policies", tags=["policies"])
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "Missing or unknown token"},
    403: {"model": ErrorOut, "description": "Only admins manage SLA policies"},
}
REFUSED: dict[int | str, dict[str, Any]] = {
    422: {
        "model": ValidationErrorsOut,
        "description": "Refused: `field` names the input, `msg` (English) and `text` (the "
        "caller's language, Chinese by default) say why",
    }
}
Language = Annotated[str | None, Header(alias="Accept-Language", include_in_schema=False)]
TOML_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/toml": {"schema": {"type": "string"}},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "string", "format": "binary"}},
                    "required": ["file"],
                }
            },
        },
    }
}


@router.get("", response_model=service.PolicyList, responses=ERRORS)
async def list_policies(ctx: Ctx, principal: CurrentPrincipal) -> service.PolicyList:
    """The recorded versions, every release (who promoted it, when, the what-if run that
    justified it) and the policy new requests pin now."""
    return await service.policies(ctx, principal)


async def _policy_text(request: Request) -> tuple[str, str]:
    """The TOML of the body (``application/toml``) or of the upload ``file``; its name."""
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        form = await request.form()
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise field_error(("body", "file"), "upload the policy TOML as the field file")
        data, name = await upload.read(), PurePath(upload.filename or "upload.toml").name
    else:
        data, name = await request.body(), "request body"
    try:
        return data.decode("utf-8"), name[:200]
    except UnicodeDecodeError:
        raise field_error(("body", "policy"), "the policy must be UTF-8 TOML") from None


@router.post(
    "",
    response_model=service.Added,
    status_code=status.HTTP_201_CREATED,
    responses={**ERRORS, **REFUSED, 200: {"description": "Recorded before, the same policy"}},
    openapi_extra=TOML_BODY,
)
async def add_policy(
    request: Request,
    response: Response,
    ctx: Ctx,
    principal: CurrentPrincipal,
    language: Language = None,
) -> service.Added:
    """Validate a candidate policy (TOML body or upload) and record it under its version."""
    text, source = await _policy_text(request)
    added = await service.add(ctx, principal, text, source, language)
    if not added.new:
        response.status_code = status.HTTP_200_OK
    return added


@router.post(
    "/{version}/promote",
    response_model=Release,
    status_code=status.HTTP_201_CREATED,
    responses={**ERRORS, **REFUSED},
)
async def promote_policy(
    body: service.PromoteBody,
    ctx: Ctx,
    principal: CurrentPrincipal,
    version: Annotated[str, Path(pattern=VERSION_PATTERN)],
    language: Language = None,
) -> Release:
    """Make a recorded version the policy new requests pin from ``in_force_from`` (not in the
    past; before a release not started yet, that one still starts at its instant); running
    requests keep the policy they pinned."""
    return await service.promote(ctx, principal, version, body, language)
