"""The console's answer to an HTTP error that no page turned into a page of its own: an
address that does not exist (an old bookmark, a mistyped link), a method a page does not
take, a query value a page cannot read. A browser gets the console's error page in the
reader's language, not the API's JSON body; a redirect (to sign in) stays a redirect, and
the API's own paths answer JSON as before.
"""

from __future__ import annotations

from fastapi import HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.console.forms import joined, reason
from api.console.routes import error_page, gettext
from api.console.unavailable import reader
from api.errors import error_field, on_http_error, on_validation_error
from tierflow.i18n import N_, Said

CONSOLE_PREFIX = "/console"

# what a reader is told when the error carries no words of its own (Starlette's bare ones)
BY_STATUS = {
    404: N_("There is no such page. Check the address, or go back to your queue."),
    405: N_("This page is not used that way. Go back and use its links and buttons."),
}


def _for_console(request: Request, status: int) -> bool:
    return request.url.path.startswith(CONSOLE_PREFIX) and status >= 400


async def console_http_error(request: Request, exc: Exception) -> Response:
    """``on_http_error``'s answer, as an error page for the console's paths."""
    assert isinstance(exc, StarletteHTTPException)
    if not _for_console(request, exc.status_code):
        return await on_http_error(request, exc)
    detail = exc.detail
    if exc.status_code in BY_STATUS and detail in ("Not Found", "Method Not Allowed"):
        detail = Said(BY_STATUS[exc.status_code])  # the router's, or a bare raise
    page = error_page(request, reader(request), HTTPException(exc.status_code, detail))
    page.headers.update(exc.headers or {})
    return page


async def console_validation_error(request: Request, exc: Exception) -> Response:
    """``on_validation_error``'s answer, as an error page naming the fields (a console page
    whose query value cannot be read: ``?sort=sideways``)."""
    assert isinstance(exc, RequestValidationError)
    if not _for_console(request, 422):
        return await on_validation_error(request, exc)
    user = reader(request)
    catalog = gettext(request, user)
    fields = {error_field(e): reason(e, catalog) for e in exc.errors()}
    problem = HTTPException(422, joined(fields, catalog))
    return error_page(request, user, problem)
