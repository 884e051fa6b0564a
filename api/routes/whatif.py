"""SLA what-ifs for supervisors and admins: run one, list the saved runs, read one as JSON
or CSV. Promoting the candidate is the policies API's (admins), citing the run."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Request, Response, status
from pydantic import ValidationError
from starlette.datastructures import FormData, UploadFile

from api.auth import require
from api.deps import Ctx, CurrentPrincipal
from api.downloads import csv_attachment
from api.errors import field_error, validation_http_error
from api.models import ErrorOut
from api.routes import API_PREFIX, ValidationErrorsOut, component_schema
from api.service import whatif as service

router = APIRouter(prefix=f"{API_PREFIX}/whatif", tags=["whatif"])
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "Missing or unknown token"},
    403: {"model": ErrorOut, "description": "Only supervisors and admins run what-ifs"},
}
FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "No such run in the caller's region"}
}
CSV: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {}}, "description": "UTF-8 with BOM"}
}
Language = Annotated[str | None, Header(alias="Accept-Language", include_in_schema=False)]
RunId = Annotated[str, Path(pattern=service.RUN_ID_PATTERN)]
FILE_FIELDS = ("policy", "calendar")  # uploads (or plain text fields) of a multipart body
LIST_FIELDS = ("categories", "priorities")
ASK_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": component_schema(service.WhatIfAsk)},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "description": "The same fields; policy and calendar may be files, "
                    "categories and priorities repeat",
                    "properties": {
                        "policy": {"type": "string", "format": "binary"},
                        "calendar": {"type": "string", "format": "binary"},
                    },
                }
            },
        },
    }
}


async def _text(value: str | UploadFile, name: str) -> str:
    if isinstance(value, str):
        return value
    try:
        return (await value.read()).decode("utf-8")
    except UnicodeDecodeError:
        raise field_error(("body", name), f"{name}: the file must be UTF-8 text") from None


async def _from_form(form: FormData) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for name in FILE_FIELDS:
        value = form.get(name)
        if value is not None:
            data[name] = await _text(value, name) or None
    for name in LIST_FIELDS:
        data[name] = [v for v in form.getlist(name) if isinstance(v, str) and v]
    for name in ("version", "since", "until", "division_prefix"):
        value = form.get(name)
        if isinstance(value, str) and value.strip():
            data[name] = value.strip()
    extra = set(form.keys()) - {*FILE_FIELDS, *LIST_FIELDS, *service.WhatIfAsk.model_fields}
    for name in sorted(extra):
        data[name] = form.get(name)  # refused by the model, naming it
    return data


async def _ask(request: Request) -> service.WhatIfAsk:
    """The ask of a JSON body or of a multipart form (the policy file uploaded)."""
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        data: Any = await _from_form(await request.form())
    else:
        try:
            data = json.loads(await request.body())
        except (ValueError, UnicodeDecodeError, RecursionError):  # nested past any real ask
            raise field_error(("body",), "send JSON or multipart/form-data") from None
    try:
        return service.WhatIfAsk.model_validate(data)
    except ValidationError as exc:
        raise validation_http_error(exc, ("body",)) from None


@router.post(
    "",
    response_model=service.RunOut,
    status_code=status.HTTP_201_CREATED,
    responses={
        **ERRORS,
        422: {
            "model": ValidationErrorsOut,
            "description": "Refused: `field` names the input, `msg` and `text` say why",
        },
        429: {"model": ErrorOut, "description": "A what-if is running on this server"},
    },
    openapi_extra=ASK_BODY,
)
async def run_whatif(
    request: Request, ctx: Ctx, principal: CurrentPrincipal, language: Language = None
) -> service.RunOut:
    """Replay the recorded requests in the period and scope under a candidate policy (a
    recorded version, or a TOML file) and optionally a calendar; save the run as the caller's.
    At most ``TIERFLOW_WHATIF_MAX_REQUESTS`` requests: larger runs belong to `tierflow whatif`."""
    require(principal, "whatif")  # before reading a body of up to the upload limit
    ask = await _ask(request)
    return await service.run(ctx, principal, ask, language)


@router.get("", response_model=service.RunList, responses=ERRORS)
async def list_runs(ctx: Ctx, principal: CurrentPrincipal) -> service.RunList:
    """The newest saved runs (a supervisor: those in their region)."""
    return await service.runs(ctx, principal)


@router.get("/{run_id}.csv", responses={**ERRORS, **FOUND, **CSV}, response_class=Response)
async def run_figures_csv(ctx: Ctx, principal: CurrentPrincipal, run_id: RunId) -> Response:
    """The figures before and after, per dimension, group and measure."""
    run = await service.saved(ctx, principal, run_id)
    return csv_attachment(service.figures_csv(run), f"{run_id}.csv")


@router.get("/{run_id}/changed.csv", responses={**ERRORS, **FOUND, **CSV}, response_class=Response)
async def run_changes_csv(ctx: Ctx, principal: CurrentPrincipal, run_id: RunId) -> Response:
    """The requests whose outcome changes: one row per request and changed field."""
    run = await service.saved(ctx, principal, run_id)
    return csv_attachment(service.changes_csv(run), f"{run_id}-changed.csv")


@router.get("/{run_id}", response_model=service.RunOut, responses={**ERRORS, **FOUND})
async def read_run(ctx: Ctx, principal: CurrentPrincipal, run_id: RunId) -> service.RunOut:
    """One saved run: who ran which candidate over which requests, and the report."""
    return await service.saved(ctx, principal, run_id)
