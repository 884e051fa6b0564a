"""Console sessions: the API token in an HttpOnly cookie, and CSRF tokens bound to it.

The cookie holds the caller's API token, so every page resolves it with the API's own
``get_principal`` (revocation takes effect at once). CSRF tokens are an HMAC of the session
cookie under a secret kept on the app, so a form from another site cannot be replayed.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from urllib.parse import quote

from fastapi import HTTPException, Request, Response, status
from fastapi.security import HTTPAuthorizationCredentials

from api.deps import ApiContext, get_principal
from tierflow.auth_store import Principal

SESSION_COOKIE = "tf_console"
PRE_COOKIE = "tf_console_pre"  # binds the sign-in form's CSRF token before a session exists
COOKIE_PATH = "/console"
SESSION_MAX_AGE = 12 * 3600


def _secret(request: Request) -> bytes:
    """Return the app's CSRF secret, made on first use (one per API process)."""
    state = request.app.state
    secret: bytes | None = getattr(state, "console_secret", None)
    if secret is None:
        secret = secrets.token_bytes(32)
        state.console_secret = secret
    return secret


def csrf_for(request: Request, bound_to: str) -> str:
    """Return the CSRF token for forms of the session (or pre-session) ``bound_to``."""
    return hmac.new(_secret(request), bound_to.encode(), hashlib.sha256).hexdigest()


def check_csrf(request: Request, bound_to: str | None, submitted: str | None) -> None:
    """Answer 403 unless ``submitted`` is the CSRF token of ``bound_to``."""
    if (
        not bound_to
        or not submitted
        or not hmac.compare_digest(csrf_for(request, bound_to), submitted)
    ):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            "csrf_token: missing or does not match this session; reload the page and retry",
        )


def session_token(request: Request) -> str | None:
    return request.cookies.get(SESSION_COOKIE) or None


def principal_or_none(ctx: ApiContext, token: str | None) -> Principal | None:
    """Resolve a token with the API's bearer check; None when missing, unknown or revoked."""
    if not token:
        return None
    try:
        return get_principal(ctx, HTTPAuthorizationCredentials(scheme="Bearer", credentials=token))
    except HTTPException:
        return None


def sign_in_redirect(request: Request) -> HTTPException:
    """Return a 303 to the sign-in page that comes back here afterwards."""
    target = request.url.path
    if request.url.query:
        target += "?" + request.url.query
    return HTTPException(
        status.HTTP_303_SEE_OTHER,
        "sign in first",
        headers={"Location": f"{COOKIE_PATH}/login?next={quote(target, safe='')}"},
    )


def set_cookie(request: Request, response: Response, name: str, value: str, max_age: int) -> None:
    """Set an HttpOnly, SameSite=Strict cookie scoped to the console (Secure over HTTPS)."""
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
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
