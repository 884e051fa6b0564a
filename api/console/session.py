"""Console cookies: a server-side session's random id, and CSRF tokens bound to it.

Signing in with an API token opens a session (``api.service.sessions``); the cookie holds only
the session's id, never the token. CSRF tokens are an HMAC of the session id under
``TIERFLOW_CSRF_SECRET``, so every API replica with that secret accepts the others' forms and a
form from another site cannot be replayed; ``TIERFLOW_CSRF_ACCEPTED_SECRETS`` carries a
rotation's other key.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from urllib.parse import quote

from fastapi import HTTPException, Request, Response, status
from starlette.routing import Match

from api.deps import ApiContext
from api.service.sessions import SessionPolicy, resume_session
from tierflow.auth_store import Principal
from tierflow.i18n import N_, Said

SESSION_COOKIE = "tf_console"
PRE_COOKIE = "tf_console_pre"  # binds the sign-in form's CSRF token before a session exists
COOKIE_PATH = "/console"


def _secret(request: Request) -> bytes:
    """Return the CSRF secret from settings; without one, a random one for this process."""
    state = request.app.state
    configured = state.ctx.settings.csrf_secret.get_secret_value()
    if configured:
        return bytes(configured, "utf-8")
    secret: bytes | None = getattr(state, "console_secret", None)
    if secret is None:
        secret = secrets.token_bytes(32)
        state.console_secret = secret
    return secret


def _accepted(request: Request) -> list[bytes]:
    """The keys whose tokens are accepted: the one tokens are issued under, then a rotation's
    others (``TIERFLOW_CSRF_ACCEPTED_SECRETS``)."""
    others = request.app.state.ctx.settings.csrf_accepted_secrets.get_secret_value()
    # as given, like TIERFLOW_CSRF_SECRET (not stripped: a key moves from one to the other)
    return [_secret(request), *(bytes(k, "utf-8") for k in others.split(",") if k)]


def _token(secret: bytes, bound_to: str) -> str:
    return hmac.new(secret, bound_to.encode(), hashlib.sha256).hexdigest()


def csrf_for(request: Request, bound_to: str) -> str:
    """Return the CSRF token for forms of the session (or pre-session) ``bound_to``."""
    return _token(_secret(request), bound_to)


def check_csrf(request: Request, bound_to: str | None, submitted: str | None) -> None:
    """Answer 403 unless ``submitted`` is the CSRF token of ``bound_to`` under an accepted key
    (during a key's rotation, replicas on the old and the new key take each other's forms)."""
    if (
        not bound_to
        or not submitted
        or not any(
            hmac.compare_digest(_token(key, bound_to).encode(), submitted.encode())
            for key in _accepted(request)
        )
    ):
        stale = N_(
            "This form belongs to another sign-in or an older page (csrf_token). Reload the "
            "page and try again."
        )
        raise HTTPException(status.HTTP_403_FORBIDDEN, Said(stale))


def session_token(request: Request) -> str | None:
    """Return the session id from the cookie (not an API token)."""
    return request.cookies.get(SESSION_COOKIE) or None


def session_principal(
    ctx: ApiContext, session_id: str | None, address: str | None = None
) -> Principal | None:
    """Return the principal of a live session; None when missing, ended or revoked
    (``address``: the client's, recorded when this finds the session expired)."""
    if not session_id:
        return None
    policy = SessionPolicy.from_settings(ctx.settings)
    return resume_session(ctx.engine, session_id, ctx.clock(), policy, address)


def sign_in_redirect(request: Request) -> HTTPException:
    """Return a 303 to the sign-in page that comes back here afterwards: to the page a form
    was sent from, for a form sent after the session ended (its own address answers no GET;
    coming back there would show an error instead of the page)."""
    target = request.url.path
    if request.method not in ("GET", "HEAD"):
        target = page_of(request)
    elif request.url.query:
        target += "?" + request.url.query
    return HTTPException(
        status.HTTP_303_SEE_OTHER,
        "sign in first",
        headers={"Location": f"{COOKIE_PATH}/login?next={quote(target, safe='')}"},
    )


def page_of(request: Request) -> str:
    """The nearest page (an address that answers GET) at or above the request's address: a
    case's action goes back to the case, the walk-in form to itself."""
    path = request.url.path.rstrip("/")
    while path.startswith(COOKIE_PATH) and path != COOKIE_PATH:
        scope = {"type": "http", "path": path, "method": "GET", "root_path": ""}
        if any(route.matches(scope)[0] is Match.FULL for route in request.app.router.routes):
            return path
        path = path.rsplit("/", 1)[0]
    return f"{COOKIE_PATH}/"


def set_cookie(request: Request, response: Response, name: str, value: str, max_age: int) -> None:
    """Set an HttpOnly, SameSite=Strict cookie scoped to the console.

    Secure over HTTPS (behind a proxy, run uvicorn with ``--forwarded-allow-ips`` so its
    ``X-Forwarded-Proto`` counts) or always with ``TIERFLOW_CONSOLE_SECURE_COOKIES``.
    """
    secure = request.url.scheme == "https" or request.app.state.ctx.settings.console_secure_cookies
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=secure,
    )


def clear_cookie(response: Response, name: str) -> None:
    response.delete_cookie(name, path=COOKIE_PATH, httponly=True, samesite="strict")


def safe_next(target: str | None) -> str:
    """Return ``target`` if it is a console path (no open redirects), else the queue."""
    if (
        target
        and target.startswith(COOKIE_PATH + "/")
        and "//" not in target
        and "\\" not in target
    ):
        return target
    return COOKIE_PATH + "/"
