"""API users and tokens: create users, issue tokens (shown once), resolve a bearer token.

Only the SHA-256 digest of a token is stored. Every token expires (90 days unless asked
otherwise) and can be revoked on its own. Supervisors' tier and division are derived from their
institution in the directory when the user is created, so scope checks need no directory at
request time. Creating a user, issuing and revoking a token each write a security audit record
(``tierflow.security_log``) in the same transaction, naming the ``actor`` who did it.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from schemas import edge
from schemas.divisions import check_known_division
from schemas.domain import Role, Tier
from schemas.messages import Said
from schemas.permissions import HANDLER_ROLES, REGIONAL_ROLES, SYSTEM_GRANTS
from schemas.request import Actor
from tierflow import security_log
from tierflow.db.auth_models import ApiToken, ApiUser, SecurityEventKind
from tierflow.directory import Directory
from tierflow.i18n import N_, TranslatableError
from tierflow.security_log import UNNAMED

TOKEN_PREFIX = "tf_"
DEFAULT_TOKEN_LIFETIME = timedelta(days=90)
MAX_TOKEN_LIFETIME = timedelta(days=3 * 365)
LAST_USED_RESOLUTION = timedelta(minutes=1)  # at most one write per token and minute
USER_ID_PATTERN = re.compile(edge.USER_ID_PATTERN)
INSTITUTION_ROLES = frozenset({Role.CASEWORKER, Role.SUPERVISOR, Role.FOLLOW_UP, Role.DISPATCHER})


class AuthStoreError(TranslatableError):
    """A user or token operation that cannot be done; the message says which field and why
    (English as ``str()``, in the admin's language in the CLI)."""


UNKNOWN_TOKEN = N_("unknown token")


class TokenRefused(Exception):
    """A bearer token that does not authenticate; the message says why (unknown, expired...).

    ``unknown``: no token of that value was ever issued (a guess, or a mistyped one), as
    opposed to a real token revoked, expired or of a disabled user; ``reason`` says which
    (``unknown``, ``revoked``, ``expired``, ``disabled``), and ``token_id`` and ``user_id``
    name a real one (from ``token``, its row), for the security audit log."""

    def __init__(
        self, said: Said, *, unknown: bool = False, reason: str = "", token: ApiToken | None = None
    ) -> None:
        super().__init__(str(said))
        self.said, self.unknown = said, unknown
        self.reason = reason or ("unknown" if unknown else "refused")
        self.token_id = token.id if token else None
        self.user_id = token.user_id if token else None


@dataclass(frozen=True)
class Principal:
    """The authenticated caller of one API request."""

    user_id: str
    role: Role
    institution_id: str | None = None
    tier: Tier | None = None
    division_code: str | None = None
    grants: frozenset[str] = field(default_factory=frozenset)
    token_id: int = 0

    @property
    def actor(self) -> Actor:
        """Return the actor recorded in the workflow and the audit trail; a system client's
        region is its division code (it acts on the requests from there only)."""
        regional = self.role in REGIONAL_ROLES
        return Actor(
            id=self.user_id,
            role=self.role,
            institution_id=self.institution_id,
            tier=self.tier if regional else None,
            division_code=self.division_code if regional or self.role is Role.SYSTEM else None,
            grants=sorted(self.grants) if self.role is Role.SYSTEM else [],
        )


def hash_token(token: str) -> str:
    """Return the hex SHA-256 digest under which a token is stored."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    """Return a fresh random token (``tf_`` + 43 URL-safe characters)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def create_user(
    engine: Engine,
    user_id: str,
    role: Role,
    institution_id: str | None = None,
    grants: list[str] | None = None,
    directory: Directory | None = None,
    *,
    region: str | None = None,
    actor: str = UNNAMED,
) -> ApiUser:
    """Create a user; caseworkers and supervisors need an institution of the directory.

    ``region``: a system client's (a province, city or county code), which limits it to the
    requests from there, as a regional Kafka client is; none: every request.
    ``actor``: who creates it, for the security audit log (the CLI: ``cli:<os user>``)."""
    if not USER_ID_PATTERN.fullmatch(user_id):  # "ana\n" would match with match()
        raise AuthStoreError(
            N_("name: %(name)r must be 1-100 letters, digits or _.@- (starting alphanumeric)"),
            name=user_id,
        )
    if role is Role.ENTERPRISE:
        raise AuthStoreError(N_("role: enterprises act through a system client, not a user"))
    tier = division = None
    if role in INSTITUTION_ROLES:
        if not institution_id:
            raise AuthStoreError(N_("institution: required for role %(role)s"), role=role.value)
        entry = (directory or Directory.load()).get(institution_id)
        if entry is None:
            raise AuthStoreError(
                N_("institution: %(unit)r is not in the directory"), unit=institution_id
            )
        tier, division = entry.tier, entry.division_code
    elif institution_id:
        raise AuthStoreError(
            N_("institution: only an institution's staff have one, not %(role)s"),
            role=role.value,
        )
    if region is not None:
        if role is not Role.SYSTEM:
            raise AuthStoreError(
                N_("region: only system clients have one; %(role)s take their institution's"),
                role=role.value,
            )
        try:
            division = check_known_division(region)
        except TranslatableError as exc:
            raise AuthStoreError(N_("region: %(problem)s"), problem=exc) from None
    grants = sorted(set(grants or []))
    if grants and role is not Role.SYSTEM:
        raise AuthStoreError(N_("grant: only system clients have grants"))
    unknown = sorted(set(grants) - SYSTEM_GRANTS)
    if unknown:
        raise AuthStoreError(
            N_("grant: unknown %(unknown)s (allowed: %(allowed)s)"),
            unknown=", ".join(unknown),
            allowed=", ".join(sorted(SYSTEM_GRANTS)),
        )
    user = ApiUser(
        id=user_id,
        role=role,
        institution_id=institution_id,
        tier=tier,
        division_code=division,
        grants=grants,
        created_at=datetime.now(UTC),
    )
    with Session(engine) as session:
        if session.get(ApiUser, user_id) is not None:
            raise AuthStoreError(N_("name: user %(user)r already exists"), user=user_id)
        session.add(user)
        created = {"role": role.value, "institution_id": institution_id, "grants": grants}
        if tier is not None:
            created |= {"tier": tier.value, "division_code": division}
        elif division is not None:
            created |= {"region": division}
        security_log.record(
            session,
            SecurityEventKind.USER_CREATED,
            actor=actor,
            subject=user_id,
            details=created,
            now=user.created_at,
        )
        session.commit()
        session.refresh(user)
    return user


def issue_token(
    engine: Engine,
    user_id: str,
    expires_in: timedelta = DEFAULT_TOKEN_LIFETIME,
    now: datetime | None = None,
    *,
    actor: str = UNNAMED,
) -> str:
    """Create a token for ``user_id`` and return it; it is never stored in plain text.

    ``actor``: who issues it, for the security audit log."""
    if not timedelta(0) < expires_in <= MAX_TOKEN_LIFETIME:
        raise AuthStoreError(
            N_("expires-in: must be more than 0 and at most %(days)d days"),
            days=MAX_TOKEN_LIFETIME.days,
        )
    token = new_token()
    now = now or datetime.now(UTC)
    with Session(engine) as session:
        if session.get(ApiUser, user_id) is None:
            raise AuthStoreError(
                N_("user: %(user)r does not exist (create it with `tierflow users add`)"),
                user=user_id,
            )
        row = ApiToken(
            token_hash=hash_token(token),
            display_prefix=token[: len(TOKEN_PREFIX) + 6],
            user_id=user_id,
            created_at=now,
            expires_at=now + expires_in,
        )
        session.add(row)
        session.flush()  # the row's id, for the record
        issued = {"token_id": row.id, "expires_at": _iso(row.expires_at)}
        security_log.record(
            session,
            SecurityEventKind.TOKEN_ISSUED,
            actor=actor,
            subject=user_id,
            details=issued,
            now=now,
        )
        session.commit()
    return token


def list_tokens(engine: Engine, user_id: str) -> list[ApiToken]:
    """Return a user's tokens (digests, dates, never the token), oldest first."""
    with Session(engine) as session:
        if session.get(ApiUser, user_id) is None:
            raise AuthStoreError(N_("user: %(user)r does not exist"), user=user_id)
        query = select(ApiToken).where(ApiToken.user_id == user_id).order_by(col(ApiToken.id))
        return list(session.exec(query).all())


def revoke_token(
    engine: Engine, token_id: int, now: datetime | None = None, *, actor: str = UNNAMED
) -> ApiToken:
    """Revoke one token by its id (``tokens list`` shows it); return its row. ``actor``: who
    revokes it, for the security audit log (a token revoked before changes, and records,
    nothing)."""
    with Session(engine) as session:
        row = session.get(ApiToken, token_id)
        if row is None:
            raise AuthStoreError(N_("token: no token with id %(id)d"), id=token_id)
        if row.revoked_at is None:
            row.revoked_at = now or datetime.now(UTC)
            session.add(row)
            _record_revoked(session, row, actor, row.revoked_at)
            session.commit()
            session.refresh(row)
        return row


def token_id_of(engine: Engine, token: str) -> int:
    """The id of the token whose value is ``token`` (a leaked one, found by its digest)."""
    with Session(engine) as session:
        found = session.exec(
            select(ApiToken.id).where(ApiToken.token_hash == hash_token(token.strip()))
        ).first()
    if found is None:
        raise AuthStoreError(N_("token: no token has that value"))
    return found


def revoke_tokens(
    engine: Engine, user_id: str, now: datetime | None = None, *, actor: str = UNNAMED
) -> int:
    """Revoke every live token of a user; return how many were revoked (a security audit
    record each, naming ``actor``). AuthStoreError for a user that does not exist: a typo
    must not read as "revoked 0 tokens"."""
    now = now or datetime.now(UTC)
    with Session(engine) as session:
        if session.get(ApiUser, user_id) is None:
            raise AuthStoreError(N_("user: %(user)r does not exist"), user=user_id)
        rows = session.exec(
            select(ApiToken).where(ApiToken.user_id == user_id, ApiToken.revoked_at == None)  # noqa: E711
        ).all()
        for row in rows:
            row.revoked_at = now
            session.add(row)
            _record_revoked(session, row, actor, now, every=True)
        session.commit()
        return len(rows)


def _record_revoked(
    session: Session, row: ApiToken, actor: str, now: datetime, every: bool = False
) -> None:
    """Record a token's revocation (``every``: with all of its user's live tokens)."""
    details: dict[str, object] = {"token_id": row.id}
    if every:
        details["all_of_user"] = True
    security_log.record(
        session,
        SecurityEventKind.TOKEN_REVOKED,
        actor=actor,
        subject=row.user_id,
        details=details,
        now=now,
    )


def set_disabled(
    engine: Engine,
    user_id: str,
    disabled: bool,
    now: datetime | None = None,
    *,
    actor: str = UNNAMED,
) -> bool:
    """Disable a user (a leaver: every token and console session of theirs is refused at
    once, they are offered as no handler and told nothing) or enable them again; return
    whether it changed (a security audit record when it did). AuthStoreError for a user
    that does not exist."""
    now = now or datetime.now(UTC)
    with Session(engine) as session:
        user = session.get(ApiUser, user_id)
        if user is None:
            raise AuthStoreError(N_("user: %(user)r does not exist"), user=user_id)
        if user.disabled == disabled:
            return False
        user.disabled = disabled
        session.add(user)
        kind = SecurityEventKind.USER_DISABLED if disabled else SecurityEventKind.USER_ENABLED
        security_log.record(session, kind, actor=actor, subject=user_id, details={}, now=now)
        session.commit()
    return True


def list_users(engine: Engine) -> list[ApiUser]:
    with Session(engine) as session:
        return list(session.exec(select(ApiUser).order_by(ApiUser.id)).all())


def possible_handlers(engine: Engine, institution_id: str) -> list[str]:
    """The user names a request ``institution_id`` holds may be handed to (承办人): its
    enabled caseworkers and lead, as the handler check (``activities/handlers.py``) admits."""
    query = (
        select(ApiUser.id)
        .where(ApiUser.institution_id == institution_id)
        .where(col(ApiUser.role).in_(sorted(HANDLER_ROLES)))
        .where(col(ApiUser.disabled).is_(False))
        .order_by(ApiUser.id)
    )
    with Session(engine) as session:
        return list(session.exec(query).all())


def authenticate(engine: Engine, token: str, now: datetime | None = None) -> Principal | None:
    """Return the principal a live token belongs to, or None (unknown, expired, revoked)."""
    try:
        return resolve_token(engine, token, now)
    except TokenRefused:
        return None


def resolve_token(engine: Engine, token: str, now: datetime | None = None) -> Principal:
    """Return the principal of a live token and note its use; raise ``TokenRefused`` why not."""
    if not token.startswith(TOKEN_PREFIX):
        raise TokenRefused(Said(UNKNOWN_TOKEN), unknown=True)
    with Session(engine) as session:
        row = session.exec(select(ApiToken).where(ApiToken.token_hash == hash_token(token))).first()
        return _principal(session, row, now or datetime.now(UTC))


def principal_of_token_id(engine: Engine, token_id: int, now: datetime | None = None) -> Principal:
    """Return the principal of the live token ``token_id`` (a console session's token)."""
    with Session(engine) as session:
        return _principal(session, session.get(ApiToken, token_id), now or datetime.now(UTC))


def _principal(session: Session, row: ApiToken | None, now: datetime) -> Principal:
    if row is None:
        raise TokenRefused(Said(UNKNOWN_TOKEN), unknown=True)
    if row.revoked_at is not None:
        revoked = N_("token %(prefix)s… was revoked at %(at)s")
        said = Said(revoked, prefix=row.display_prefix, at=_iso(row.revoked_at))
        raise TokenRefused(said, reason="revoked", token=row)
    if now >= row.expires_at:
        expired = N_("token %(prefix)s… expired at %(at)s; ask for a new one")
        said = Said(expired, prefix=row.display_prefix, at=_iso(row.expires_at))
        raise TokenRefused(said, reason="expired", token=row)
    user = session.get(ApiUser, row.user_id)
    if user is None or user.disabled:
        disabled = N_("user of token %(prefix)s… is disabled")
        raise TokenRefused(Said(disabled, prefix=row.display_prefix), reason="disabled", token=row)
    principal = Principal(
        user_id=user.id,
        role=user.role,
        institution_id=user.institution_id,
        tier=user.tier,
        division_code=user.division_code,
        grants=frozenset(user.grants),
        token_id=row.id or 0,
    )
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_RESOLUTION:
        row.last_used_at = now
        session.add(row)
        session.commit()
    return principal


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
