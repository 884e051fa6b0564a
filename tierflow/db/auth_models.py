"""API users and their hashed tokens: who may call the HTTP API and what they may see.

A token is shown once when issued; only its SHA-256 digest is stored, so a leaked database
does not leak usable credentials. ``security_event`` records who administered users and tokens
and who signed in (``tierflow.security_log``).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, String
from sqlmodel import Field, SQLModel

from schemas.domain import Role, Tier
from tierflow.db.types import EnumText, UtcDateTime


class ApiUserBase(SQLModel):
    id: str = Field(primary_key=True, sa_type=String(100))  # the user name, also the actor id
    role: Role = Field(sa_type=EnumText(Role))
    institution_id: str | None = Field(default=None, sa_type=String(64))
    tier: Tier | None = Field(default=None, sa_type=EnumText(Tier))  # the institution's tier
    division_code: str | None = Field(default=None, sa_type=String(6))  # institution division
    grants: list[str] = Field(default_factory=list, sa_type=JSON)  # system clients only
    disabled: bool = False


class ApiUser(ApiUserBase, table=True):
    """A caseworker, supervisor, admin or system client of the API."""

    __tablename__ = "api_user"
    created_at: datetime = Field(sa_type=UtcDateTime)


class ApiUserPublic(ApiUserBase):
    created_at: datetime


class ApiToken(SQLModel, table=True):
    """One bearer token of a user, stored as its SHA-256 digest."""

    __tablename__ = "api_token"
    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(sa_type=String(64), unique=True)
    display_prefix: str = Field(sa_type=String(16))  # e.g. "tf_ab12cd": enough to tell apart
    user_id: str = Field(sa_type=String(100), index=True)
    created_at: datetime = Field(sa_type=UtcDateTime)
    expires_at: datetime = Field(sa_type=UtcDateTime)  # refused from then on (401, "expired")
    last_used_at: datetime | None = Field(default=None, sa_type=UtcDateTime)  # to the minute
    revoked_at: datetime | None = Field(default=None, sa_type=UtcDateTime)


class ConsoleSession(SQLModel, table=True):
    """One signed-in browser: the cookie holds a random id, only its SHA-256 digest is here.

    A session is not the API token: it ends on its own (idle or absolute expiry), on sign-out,
    and with the token it was opened with (revoked or expired).
    """

    __tablename__ = "console_session"
    id_hash: str = Field(primary_key=True, sa_type=String(64))
    user_id: str = Field(sa_type=String(100), index=True)
    token_id: int  # the API token signed in with
    created_at: datetime = Field(sa_type=UtcDateTime)
    last_seen_at: datetime = Field(sa_type=UtcDateTime)
    expires_at: datetime = Field(sa_type=UtcDateTime)  # absolute end, whatever the activity
    # when it ended: signed out, or (once a request with its cookie noticed) expired
    revoked_at: datetime | None = Field(default=None, sa_type=UtcDateTime)


class SecurityEventKind(StrEnum):
    """What a security audit record (安全审计记录) says happened."""

    USER_CREATED = "user_created"
    USER_DISABLED = "user_disabled"
    USER_ENABLED = "user_enabled"
    TOKEN_ISSUED = "token_issued"
    TOKEN_REVOKED = "token_revoked"
    SIGN_IN = "sign_in"
    SIGN_IN_FAILED = "sign_in_failed"
    ADDRESS_LOCKED = "address_locked"
    SIGN_OUT = "sign_out"
    SESSION_EXPIRED = "session_expired"


class SecurityEvent(SQLModel, table=True):
    """One administration or access event, for an auditor (等保 2.0 安全审计): written once,
    never changed or deleted by tierflow; never holds a token, a session id or a digest."""

    __tablename__ = "security_event"
    id: int | None = Field(default=None, primary_key=True)
    occurred_at: datetime = Field(sa_type=UtcDateTime, index=True)
    kind: SecurityEventKind = Field(sa_type=EnumText(SecurityEventKind))
    actor: str | None = Field(default=None, sa_type=String(100))  # user id, cli:<os user>, None
    subject: str | None = Field(default=None, sa_type=String(100))  # the user acted on
    address: str | None = Field(default=None, sa_type=String(100))  # the client's; None: CLI
    details: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
