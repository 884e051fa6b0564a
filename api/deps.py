"""Shared state of one API app and its dependencies: bearer auth, rate limits, scope."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine
from temporalio.client import Client

from api.errors import RETRY_AFTER_SECONDS
from schemas.domain import Role
from schemas.messages import N_, Said
from tierflow import security_log
from tierflow.auth_store import Principal, TokenRefused, resolve_token
from tierflow.db.auth_models import SecurityEventKind
from tierflow.metrics import ApiMetrics
from tierflow.rate_limit import FailureLimit, RateLimiter
from tierflow.settings import Settings

log = logging.getLogger("tierflow.api")


@dataclass(frozen=True)
class ApiLimits:
    """Per-token rate limits (a rate and the burst allowed; a system client's token gets
    ``system_rate_factor`` times each: it serves many people), the request body size limits
    (``max_upload_bytes``: the console's directory import, a whole national directory), how
    long an action waits for its answer and a read for the workflow's view. Set through
    ``TIERFLOW_API_*`` (``Settings``)."""

    submit_per_second: float
    submit_burst: int
    actions_per_second: float
    actions_burst: int
    reads_per_second: float
    reads_burst: int
    system_rate_factor: float
    max_body_bytes: int
    max_upload_bytes: int
    action_wait_seconds: float
    view_wait_seconds: float
    sign_in_failures: int
    sign_in_failure_window_seconds: int

    @classmethod
    def from_settings(cls, settings: Settings) -> ApiLimits:
        """Each limit is the setting ``api_<its name>`` (``TIERFLOW_API_<ITS NAME>``)."""
        return cls(**{f.name: getattr(settings, f"api_{f.name}") for f in fields(cls)})


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class ApiContext:
    """Everything the routes need; ``client`` may connect later, in the app's lifespan.

    ``clock`` decides token and session expiry, so tests move time instead of sleeping.
    """

    settings: Settings
    client: Client | None
    engine: Engine
    registry: CollectorRegistry
    metrics: ApiMetrics
    limits: ApiLimits
    clock: Callable[[], datetime] = utc_now
    submit_limiter: RateLimiter = field(init=False)
    action_limiter: RateLimiter = field(init=False)
    read_limiter: RateLimiter = field(init=False)
    sign_in_failures: FailureLimit = field(init=False)

    def __post_init__(self) -> None:
        self.submit_limiter = RateLimiter(self.limits.submit_per_second, self.limits.submit_burst)
        self.action_limiter = RateLimiter(self.limits.actions_per_second, self.limits.actions_burst)
        self.read_limiter = RateLimiter(self.limits.reads_per_second, self.limits.reads_burst)
        self.sign_in_failures = FailureLimit(
            self.limits.sign_in_failures, self.limits.sign_in_failure_window_seconds
        )

    @property
    def temporal(self) -> Client:
        if self.client is None:
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE,
                Said(N_("the workflow engine is not connected yet; retry in a moment")),
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
        return self.client


def get_ctx(request: Request) -> ApiContext:
    ctx: ApiContext = request.app.state.ctx
    return ctx


Ctx = Annotated[ApiContext, Depends(get_ctx)]
_bearer = HTTPBearer(auto_error=False, description="API token issued by `tierflow tokens issue`")


def get_principal(
    request: Request,
    ctx: Ctx,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """Resolve the bearer token to a principal, or answer 401 (429 while the address is
    locked out for the refused tokens it sent: ``check_token``)."""
    if creds is None or creds.scheme.lower() != "bearer":
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing bearer token (Authorization: Bearer tf_...)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    try:
        return check_token(ctx, client_address(request), creds.credentials)
    except TokenRefused as refused:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            refused.said,
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        ) from None


def check_token(ctx: ApiContext, address: str, token: str) -> Principal:
    """The principal of ``token``, sent from ``address`` (the API's bearer and the console's
    sign-in). A refused token is counted against the address and raises ``TokenRefused``, or
    429 (an HTTPException) while the address is locked out. A good token is answered even
    then: others behind the same address (an office's NAT, a portal's host) are not locked
    out by someone's guesses, and a token of 256 random bits is not found by guessing."""
    try:
        return resolve_token(ctx.engine, token, ctx.clock())
    except TokenRefused:
        if (wait := ctx.sign_in_failures.locked_for(address)) is not None:
            raise _too_many_guesses(wait) from None
        _note_guess(ctx, address)
        raise


def client_address(request: Request) -> str:
    """The caller's address (a proxy's client, when uvicorn trusts its X-Forwarded-For)."""
    return request.client.host if request.client else "unknown"


def _note_guess(ctx: ApiContext, address: str) -> None:
    """Count a refused token against ``address``; once that locks it out, say so in the log
    and record it in the security audit log (a locked-out address is refused before it is
    counted again, so each lockout is recorded once).

    A revoked or expired token counts too: the lockout only refuses refused tokens, so a
    script awaiting its new one locks out nobody else, and a leaver replaying an old token
    at the console's sign-in stops filling the security audit log."""
    ctx.sign_in_failures.fail(address)
    if (wait := ctx.sign_in_failures.locked_for(address)) is not None:
        log.warning("client %s sent too many refused tokens; refused for a while", address)
        limits = ctx.limits
        security_log.record(
            ctx.engine,
            SecurityEventKind.ADDRESS_LOCKED,
            actor=None,
            address=address,
            details={
                "failures": limits.sign_in_failures,
                "window_seconds": limits.sign_in_failure_window_seconds,
                "retry_after_seconds": max(1, math.ceil(wait)),
            },
            now=ctx.clock(),
        )


def _too_many_guesses(wait: float) -> HTTPException:
    retry_after = max(1, math.ceil(wait))
    said = Said(
        N_("too many refused tokens from this address; retry in %(seconds)d s"),
        seconds=retry_after,
    )
    return HTTPException(
        status.HTTP_429_TOO_MANY_REQUESTS, said, headers={"Retry-After": str(retry_after)}
    )


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


def _limit(ctx: ApiContext, limiter: RateLimiter, principal: Principal, over: str) -> None:
    """429 when the caller is over ``limiter``'s rate; ``over`` says so (its seconds filled).
    A system client's token has ``system_rate_factor`` times the rate and burst."""
    factor = ctx.limits.system_rate_factor if principal.role is Role.SYSTEM else 1.0
    wait = limiter.take(principal.token_id, factor)
    if wait is not None:
        retry_after = max(1, math.ceil(wait))  # whole seconds, as the header wants
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            Said(over, seconds=retry_after),
            headers={"Retry-After": str(retry_after)},
        )


def submit_rate(ctx: Ctx, principal: CurrentPrincipal) -> Principal:
    """Authenticate and take a token from the caller's submit bucket."""
    _limit(
        ctx,
        ctx.submit_limiter,
        principal,
        N_("rate limit for submit exceeded; retry in %(seconds)d s"),
    )
    return principal


def action_rate(ctx: Ctx, principal: CurrentPrincipal) -> Principal:
    """Authenticate and take a token from the caller's action bucket."""
    _limit(
        ctx,
        ctx.action_limiter,
        principal,
        N_("rate limit for actions exceeded; retry in %(seconds)d s"),
    )
    return principal


def read_rate(ctx: Ctx, principal: CurrentPrincipal) -> Principal:
    """Authenticate and take a token from the caller's bucket of request reads: each asks the
    workflow for its view, a worker's task (a whole replay for an ended request)."""
    _limit(
        ctx,
        ctx.read_limiter,
        principal,
        N_("rate limit for reads exceeded; retry in %(seconds)d s"),
    )
    return principal


ReadingPrincipal = Annotated[Principal, Depends(read_rate)]
