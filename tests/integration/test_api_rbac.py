"""The RBAC matrix: every role x own/other institution x read/act, through HTTP."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
import pytest_asyncio

from api.app import create_app
from tests.utils.api_helpers import Users, asgi_client, make_users, request_body
from tests.utils.factories import make_request
from tests.utils.stack_helpers import eventually


@dataclass
class Setup:
    client: httpx.AsyncClient
    users: Users
    request_id: str  # held by zj-330106-sme (county, Hangzhou)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def rbac(stack) -> AsyncIterator[Setup]:
    app = create_app(stack.settings, stack.client, stack.engine)
    users = make_users(stack.engine)
    async with asgi_client(app) as client:
        r = await client.post(
            "/api/v1/requests", json=request_body(make_request()), headers=users.auth("admin")
        )
        assert r.status_code == 202, r.text
        rid = r.json()["request_id"]

        async def assigned() -> bool:
            d = await client.get(f"/api/v1/requests/{rid}", headers=users.auth("admin"))
            row = d.json().get("request") if d.status_code == 200 else None
            return row is not None and row["state"] == "assigned"  # projected, not only queried

        await eventually(assigned, what="assigned")
        yield Setup(client, users, rid)


# (user, relation to the request) -> expected status for read and act (comment)
MATRIX = [
    ("cw_own", "own institution", 200, 200),
    ("cw_other", "other institution", 404, 404),
    ("cw_city", "tier above, not holder", 404, 404),
    ("sup_city", "own region, tier above", 200, 200),
    ("sup_prov", "own province", 200, 200),
    ("sup_other", "other region", 404, 404),
    ("admin", "everything", 200, 200),
    ("sys_portal", "granted read + comment", 200, 200),
    ("sys_none", "no grants", 403, 403),
]


@pytest.mark.parametrize("op", ["read", "act"])
@pytest.mark.parametrize(("user", "relation", "read", "act"), MATRIX, ids=[m[0] for m in MATRIX])
async def test_rbac_matrix(
    rbac: Setup, user: str, relation: str, read: int, act: int, op: str
) -> None:
    path = f"/api/v1/requests/{rbac.request_id}"
    if op == "read":
        r = await rbac.client.get(path, headers=rbac.users.auth(user))
        assert r.status_code == read, (relation, r.text)
        listed = await rbac.client.get(
            "/api/v1/requests", params={"limit": 500}, headers=rbac.users.auth(user)
        )
        if read == 403:
            assert listed.status_code == 403
        else:
            ids = [i["request_id"] for i in listed.json()["items"]]
            assert (rbac.request_id in ids) is (read == 200), relation
    else:
        r = await rbac.client.post(
            f"{path}/actions/comment",
            json={"text": f"note from {user}"},
            headers={**rbac.users.auth(user), "Idempotency-Key": uuid.uuid4().hex},
        )
        assert r.status_code == act, (relation, r.text)
        if act == 200:
            assert r.json()["state"] == "assigned"


@pytest.mark.parametrize(
    ("user", "kind", "body"),
    [
        ("cw_own", "reassign", {"text": "x", "institution_id": "zj-330105-sme"}),
        ("cw_own", "withdraw", {}),
        ("cw_own", "rate", {"rating": 5}),  # its own work
        ("sup_city", "rate", {"rating": 5}),
        ("sys_portal", "acknowledge", {}),
        ("sys_none", "comment", {"text": "x"}),
    ],
)
async def test_kinds_a_role_lacks_are_forbidden(
    rbac: Setup, user: str, kind: str, body: dict
) -> None:
    r = await rbac.client.post(
        f"/api/v1/requests/{rbac.request_id}/actions/{kind}",
        json=body,
        headers=rbac.users.auth(user),
    )
    assert r.status_code == 403, r.text


async def test_out_of_scope_looks_like_unknown(rbac: Setup) -> None:
    """A caseworker cannot tell a request held elsewhere from one that does not exist."""
    elsewhere = await rbac.client.get(
        f"/api/v1/requests/{rbac.request_id}", headers=rbac.users.auth("cw_other")
    )
    missing = await rbac.client.get(
        "/api/v1/requests/does-not-exist", headers=rbac.users.auth("cw_other")
    )
    assert elsewhere.status_code == missing.status_code == 404
    assert elsewhere.json()["detail"].replace(rbac.request_id, "X") == missing.json()[
        "detail"
    ].replace("does-not-exist", "X")
