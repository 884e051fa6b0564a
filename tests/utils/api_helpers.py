"""Helpers for API tests: users with tokens in the stack's database, an ASGI client, polling."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import Engine

from schemas.domain import Role
from tierflow.auth_store import create_user, issue_token

# key -> (role, institution, grants). The default request (division 330106, financing) is
# held by zj-330106-sme; zj-330100 is its city, zj-330000 its province; 330105 and 330200
# are other places in the same province.
USERS: dict[str, tuple[Role, str | None, list[str]]] = {
    "cw_own": (Role.CASEWORKER, "zj-330106-sme", []),
    "cw_other": (Role.CASEWORKER, "zj-330105-sme", []),
    "cw_city": (Role.CASEWORKER, "zj-330100-sme", []),
    "sup_city": (Role.SUPERVISOR, "zj-330100-sme", []),
    "sup_other": (Role.SUPERVISOR, "zj-330200-sme", []),
    "sup_prov": (Role.SUPERVISOR, "zj-330000-sme", []),
    "admin": (Role.ADMIN, None, []),
    "sys_portal": (Role.SYSTEM, None, ["submit", "read", "provide_info", "comment"]),
    "sys_none": (Role.SYSTEM, None, []),
}


@dataclass
class Users:
    """Tokens and user ids by key (ids carry a unique suffix per test module)."""

    tokens: dict[str, str]
    ids: dict[str, str]

    def auth(self, key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[key]}"}


def make_users(engine: Engine) -> Users:
    suffix = uuid.uuid4().hex[:6]
    tokens, ids = {}, {}
    for key, (role, institution, grants) in USERS.items():
        user_id = f"{key}-{suffix}"
        create_user(engine, user_id, role, institution, grants)
        ids[key] = user_id
        tokens[key] = issue_token(engine, user_id)
    return Users(tokens, ids)


def asgi_client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api")


def request_body(req: Any) -> dict[str, Any]:
    return req.model_dump(mode="json", exclude={"submitted_by", "submitted_at"})
