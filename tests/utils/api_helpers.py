"""Helpers for API tests: users with tokens in the stack's database, an ASGI client, polling."""

from __future__ import annotations

import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any, NoReturn

import httpx
import uvicorn
from sqlalchemy import Engine
from temporalio.service import RPCError, RPCStatusCode

from schemas.domain import Role
from tests.utils.eventually import eventually_sync
from tierflow.auth_store import create_user, issue_token
from tierflow.directory import Directory
from tierflow_dev.devstack.procs import free_port

# key -> (role, institution, grants). The default request (division 330106, financing) is
# held by zj-330106-sme; zj-330100 is its city, zj-330000 its province; 330105 and 330200
# are other places in the same province.
USERS: dict[str, tuple[Role, str | None, list[str]]] = {
    "cw_own": (Role.CASEWORKER, "zj-330106-sme", []),
    "cw_mate": (Role.CASEWORKER, "zj-330106-sme", []),  # a colleague of cw_own
    "sup_own": (Role.SUPERVISOR, "zj-330106-sme", []),  # the lead of cw_own's unit
    "desk_city": (Role.FOLLOW_UP, "zj-330100-sme", []),  # the city's follow-up desk
    "desk_prov": (Role.FOLLOW_UP, "zj-330000-sme", []),  # the province's
    "disp_city": (Role.DISPATCHER, "zj-330100-sme", []),  # the city's dispatch desk
    "cw_other": (Role.CASEWORKER, "zj-330105-sme", []),
    "cw_city": (Role.CASEWORKER, "zj-330100-sme", []),
    "sup_city": (Role.SUPERVISOR, "zj-330100-sme", []),
    "sup_other": (Role.SUPERVISOR, "zj-330200-sme", []),
    "sup_prov": (Role.SUPERVISOR, "zj-330000-sme", []),
    "admin": (Role.ADMIN, None, []),
    "sys_portal": (Role.SYSTEM, None, ["submit", "read", "provide_info", "comment"]),
    "sys_none": (Role.SYSTEM, None, []),
    "sys_submit": (Role.SYSTEM, None, ["submit"]),  # submits, may not read
    # Zhejiang's hotline over HTTP: a system client with a region (REGIONS)
    "sys_zj": (Role.SYSTEM, None, ["submit", "read", "comment", "reports"]),
}
REGIONS = {"sys_zj": "330000"}


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
    directory = Directory.load()
    for key, (role, institution, grants) in USERS.items():
        user_id = f"{key}-{suffix}"
        create_user(engine, user_id, role, institution, grants, directory, region=REGIONS.get(key))
        ids[key] = user_id
        tokens[key] = issue_token(engine, user_id)
    return Users(tokens, ids)


def asgi_client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api")


class Forgotten:
    """A Temporal client that keeps no workflow: every request is read from the read model."""

    def get_workflow_handle(self, workflow_id: str) -> Forgotten:
        return self

    async def query(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise RPCError("workflow not found", RPCStatusCode.NOT_FOUND, b"")


@asynccontextmanager
async def read_model_client(
    engine: Engine, url: str
) -> AsyncIterator[tuple[httpx.AsyncClient, Users]]:
    """The real app on the read model at ``url`` (what the test projected with ``engine``),
    its users made and the directory's institutions in it (as a worker's start leaves them),
    Temporal keeping no workflow; the engine is disposed after."""
    from api.app import create_app
    from tierflow.directory_store import fill_institutions
    from tierflow.settings import Settings

    fill_institutions(engine, Directory.load())
    users = make_users(engine)
    app = create_app(Settings(database_url=url), Forgotten(), engine)  # type: ignore[arg-type]
    try:
        async with asgi_client(app) as client:
            yield client, users
    finally:
        engine.dispose()


def request_body(req: Any) -> dict[str, Any]:
    return req.model_dump(mode="json", exclude={"submitted_by", "submitted_at"})


@contextmanager
def serve_in_thread(app: Any, *, temporal: bool = True) -> Iterator[str]:
    """Run ``app`` under a real uvicorn on a free port in a thread; yield its base URL once
    it serves and (``temporal``) is connected to Temporal, which it does in the background."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"api-{port}", daemon=True)
    thread.start()
    try:

        def started() -> bool:
            if server.started:
                return True
            if not thread.is_alive():
                raise RuntimeError(f"uvicorn on port {port} stopped before it started")
            return False

        eventually_sync(started, 60, f"uvicorn started on port {port}")
        if temporal:
            connected = lambda: app.state.ctx.client is not None  # noqa: E731
            eventually_sync(connected, 60, f"the API on port {port} connected to Temporal")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
