"""Error answers: 422 bodies that name each field and its reason, without echoing input;
503 when a store the answer needs (the database, Temporal) cannot serve it now."""

from __future__ import annotations

import difflib
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import HTTPException, Request, status
from fastapi.dependencies.models import Dependant
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException
from temporalio.service import RPCError, RPCStatusCode

from schemas.events import UNKNOWN_FIELD
from schemas.lifecycle import Wording
from schemas.messages import N_, Said, TranslatableError, named_check, pydantic_reason
from tierflow.i18n import from_accept_language, translations
from tierflow.i18n.refusals import refusal_text

log = logging.getLogger("tierflow.api")

LOCATIONS = {"body", "query", "path", "header", "cookie"}


def field_name(loc: Sequence[Any]) -> str:
    """Return ``enterprise.uscc`` for ``("body", "enterprise", "uscc")``."""
    parts = [str(p) for p in loc]
    if parts and parts[0] in LOCATIONS and len(parts) > 1:
        parts = parts[1:]
    return ".".join(parts) or "body"


def _message(err: Any) -> str:
    """An error's reason; a str as it is: a catalog message (``Said``) stays one, for the
    console."""
    if err.get("type") == "extra_forbidden":
        return UNKNOWN_FIELD
    msg = err.get("msg", "")
    return msg if isinstance(msg, str) else str(msg)


def wording(err: Mapping[str, Any]) -> Wording | None:
    """An error's reason worded as a catalog message, for reading it in a person's language:
    a shared check's own message (a ``Said`` or a ``TranslatableError``), or pydantic's kind
    of error in our words with the values it names from ``ctx``; None for other errors."""
    if check := _whole_model_check(err):  # its field is named apart: the reason alone
        return Wording.of(check.values["reason"])
    context = err.get("ctx") or {}
    said = Wording.of(_message(err)) or Wording.of(context.get("error"))
    return said or Wording.of(pydantic_reason(err))


def _whole_model_check(err: Mapping[str, Any]) -> TranslatableError | None:
    """A check of a whole model (an action's fields together) that names its field."""
    return named_check(err) if field_name(err.get("loc", ())) == "body" else None


def error_field(err: Mapping[str, Any]) -> str:
    """The field an error is about: its location, or the field a whole-model check names."""
    check = _whole_model_check(err)
    return str(check.values["field"]) if check else field_name(err.get("loc", ()))


def describe(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """Return FastAPI-shaped error items plus ``field``, leaving the caller's input out; an
    item's ``reason`` (msgid and values) words it for clients that read it in a person's
    language."""
    items: list[dict[str, Any]] = []
    for err in errors:
        item: dict[str, Any] = {
            "loc": list(err.get("loc", ())),
            "msg": _message(err),
            "type": str(err.get("type", "value_error")),
            "field": error_field(err),
        }
        if (said := wording(err)) is not None:
            item["reason"] = said.model_dump()
        items.append(item)
    return items


def field_error(loc: tuple[str, ...], reason: str) -> HTTPException:
    """Return a 422 for one field."""
    return HTTPException(
        status.HTTP_422_UNPROCESSABLE_CONTENT,
        describe([{"loc": loc, "msg": reason, "type": "value_error"}]),
    )


def refuse_unknown_fields(model: type[BaseModel], data: object) -> None:
    """Raise a 422 naming each field of the JSON body ``data`` that ``model`` does not have
    (at any depth): pydantic ignores them, and a misspelt optional field would be lost."""
    try:
        model.model_validate(data, extra="forbid")
    except ValidationError as exc:
        unknown = [
            {**e, "loc": ("body", *e["loc"])}
            for e in exc.errors()
            if e["type"] == "extra_forbidden"
        ]
        if unknown:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, describe(unknown)) from None


def _query_names(route: object) -> set[str]:
    """The query parameters a route declares (its dependencies' too), by the name sent."""
    found: set[str] = set()
    dependants = [getattr(route, "dependant", None)]
    while dependants:
        dependant = dependants.pop()
        if isinstance(dependant, Dependant):
            found.update(param.alias for param in dependant.query_params)
            dependants.extend(dependant.dependencies)
    return found


def unknown_parameter(name: str, known: set[str]) -> Said:
    """Why ``name`` is refused: unknown, and the declared name it was likely meant to be."""
    meant = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
    if meant:
        return Said(N_("unknown parameter (did you mean %(name)s?)"), name=meant[0])
    return Said(N_("unknown parameter (misspelt?)"))


async def refuse_unknown_query(request: Request) -> None:
    """Refuse (422) a query parameter the route does not declare: FastAPI ignores it, so a
    misspelt filter (``institution_id=`` for ``institution=``) would answer everything."""
    known = _query_names(request.scope.get("route"))
    unknown = sorted({name for name in request.query_params if name not in known})
    if unknown:
        raise RequestValidationError(
            [
                {
                    "loc": ("query", name),
                    "msg": unknown_parameter(name, known),
                    "type": "value_error",
                }
                for name in unknown
            ]
        )


def validation_http_error(exc: ValidationError, prefix: tuple[str, ...]) -> HTTPException:
    """Return a 422 for a model built inside a route."""
    errors = [{**e, "loc": (*prefix, *e["loc"])} for e in exc.errors()]
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, describe(errors))


class Refused(HTTPException):
    """An action refused (403, 409, or 422 naming a ``field``) with its reason in English as
    the detail, and, when the workflow worded it as a catalog message, that message (``said``):
    the console reads it in the user's language, the API answers it as ``reason``."""

    def __init__(self, status_code: int, reason: str, field: str | None = None) -> None:
        detail: object = reason
        if field is not None:
            detail = describe([{"loc": ("body", field), "msg": reason, "type": "value_error"}])
        super().__init__(status_code, detail)
        self.said = reason if isinstance(reason, Said) else None


async def on_http_error(request: Request, exc: Exception) -> Response:
    """Answer an HTTP error as FastAPI does, adding ``reason`` (msgid and values) when its
    reason is worded as a catalog message (a refusal, a request not found): a client such as
    the CLI then shows it in its reader's language; ``text`` is it in the caller's
    (``Accept-Language``, Chinese by default), for a client that shows it as it is."""
    assert isinstance(exc, StarletteHTTPException)
    said = exc.said if isinstance(exc, Refused) else exc.detail
    wording = Wording.of(said) if isinstance(said, Said) else None
    if wording is None:
        return await http_exception_handler(request, exc)
    language = from_accept_language(request.headers.get("accept-language")) or "zh-CN"
    text = refusal_text(wording.as_said(), translations(language))
    body = {"detail": exc.detail, "reason": wording.model_dump(), "text": text}
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)


async def on_validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return JSONResponse(
        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
        content={"detail": describe(exc.errors())},
    )


DATABASE_RETRY_AFTER = "5"  # seconds: a failover or a full pool is over by then, or alerts


async def on_database_error(request: Request, exc: Exception) -> JSONResponse:
    """Answer 503 naming only the error type: its text may quote the statement's values."""
    assert isinstance(exc, SQLAlchemyError)
    name = type(exc).__name__
    route = getattr(request.scope.get("route"), "path", "unmatched")
    log.error("database error %s on %s %s", name, request.method, route)
    return JSONResponse(
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        content={"detail": f"database error ({name}); retry later or see the API's log"},
        headers={"Retry-After": DATABASE_RETRY_AFTER},  # as Temporal's 503s say when
    )


# Temporal's answers that a later attempt can pass, and what each tells the caller
TEMPORAL_NOT_NOW = {
    RPCStatusCode.UNAVAILABLE: "Temporal did not answer",
    RPCStatusCode.DEADLINE_EXCEEDED: "Temporal did not answer in time",
    # the SDK ends a call whose own timeout (rpc_timeout) expired as CANCELLED ("Timeout
    # expired"): a query no worker answered in time, say
    RPCStatusCode.CANCELLED: "Temporal did not answer in time",
    RPCStatusCode.RESOURCE_EXHAUSTED: "Temporal is busy",
    # "Workflow Task in failed state": a worker fails the request's workflow tasks (a bug in
    # a deployed build, say) and Temporal retries them; queries and updates wait for a fix
    RPCStatusCode.FAILED_PRECONDITION: "the request's workflow is not ready: its workflow "
    "tasks are failing and being retried (operators: see the worker's log)",
}
RETRY_AFTER_SECONDS = 5


async def on_temporal_error(request: Request, exc: Exception) -> JSONResponse:
    """Answer 503 with Retry-After when Temporal cannot serve the call now, else 502; name the
    status and what it means, and log Temporal's own message (it may name workflow ids)."""
    assert isinstance(exc, RPCError)
    route = getattr(request.scope.get("route"), "path", "unmatched")
    log.error("temporal error %s on %s %s: %s", exc.status.name, request.method, route, exc)
    meaning = TEMPORAL_NOT_NOW.get(exc.status)
    if meaning is None:
        return JSONResponse(
            status_code=status.HTTP_502_BAD_GATEWAY,
            content={"detail": f"Temporal refused the call ({exc.status.name}); see the API's log"},
        )
    return JSONResponse(
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        content={"detail": f"{meaning} ({exc.status.name}); retry later"},
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )
