"""The console's answer when a store a page needs cannot answer: the API's 503 (or 502) as a
page in the reader's language, not the API's JSON body.

The API's handlers (``api.errors``) decide the status, log the cause and set Retry-After; a
console page keeps all of that and says in words what a caseworker can do about it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import HTTPException, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import SQLAlchemyError

from api.console.routes import error_page, gettext
from api.console.session import session_principal, session_token
from tierflow.auth_store import Principal
from tierflow.i18n import N_

CONSOLE_PREFIX = "/console"
Handler = Callable[[Request, Exception], Awaitable[Response]]

# what a reader is told, by the store that failed and the status the API chose
MESSAGES = {
    ("database", 503): N_("The database cannot answer right now. Please try again in a moment."),
    ("temporal", 503): N_(
        "The workflow engine cannot serve this request right now. Please try again in a "
        "moment; if it keeps happening, tell your operators."
    ),
    ("temporal", 502): N_(
        "The workflow engine refused this step. Please tell your operators; the API's log has "
        "the details."
    ),
}


def reader(request: Request, store: str | None = None) -> Principal | None:
    """The signed-in user of an error page, read only when the database is not the store
    that failed and can answer (else the page goes without the user's name and saved
    language)."""
    if store == "database":
        return None
    try:
        return session_principal(request.app.state.ctx, session_token(request))
    except SQLAlchemyError:
        return None


def for_console(handler: Handler, store: str) -> Handler:
    """``handler``'s answer, as an error page for the console's paths."""

    async def answer(request: Request, exc: Exception) -> Response:
        response = await handler(request, exc)
        if not request.url.path.startswith(CONSOLE_PREFIX):
            return response
        user = reader(request, store)
        text = MESSAGES.get((store, response.status_code), MESSAGES[(store, 503)])
        message = gettext(request, user).gettext(text)
        page = error_page(request, user, HTTPException(response.status_code, message))
        if "Retry-After" in response.headers:
            page.headers["Retry-After"] = response.headers["Retry-After"]
        return page

    return answer


FAULT = N_(
    "Something went wrong on our side and this page could not be shown. Please try again; if "
    "it keeps happening, tell your operators (the API's log has the details)."
)


async def on_fault(request: Request, exc: Exception) -> Response:
    """An unexpected error (500): a page in the reader's language on the console's paths,
    with the console's headers; a short JSON answer elsewhere. The server logs the error."""
    if not request.url.path.startswith(CONSOLE_PREFIX):
        return JSONResponse({"detail": "internal error; the API's log has the details"}, 500)
    try:
        user = reader(request)
    except Exception:  # noqa: BLE001 - the fault may be the session's store: no user then
        user = None
    message = gettext(request, user).gettext(FAULT)
    return error_page(request, user, HTTPException(500, message))
