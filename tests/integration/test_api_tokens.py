"""API tokens expire and are revoked one by one: the admin CLI and the real app's answers.

The CLI writes to a real migrated database; the app reads it with an injected clock, so an
expiry is reached by moving the clock, not by waiting. The CLI speaks Chinese unless asked for
English (TIERFLOW_LANG=en).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from api.app import create_app
from schemas.domain import Role
from tests.utils.api_helpers import asgi_client
from tests.utils.language import language_env
from tierflow.auth_store import create_user, issue_token, list_tokens
from tierflow.cli import app as cli_app
from tierflow.db.engine import make_engine
from tierflow.settings import Settings

START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def engine(sqlite_url: str) -> Iterator[Engine]:
    engine = make_engine(sqlite_url)
    create_user(engine, "ana", Role.ADMIN)
    try:
        yield engine
    finally:
        engine.dispose()


def cli(url: str, tmp_path: Path, *args: str, locale: str | None = None) -> tuple[int, str]:
    env = {"TIERFLOW_DATABASE_URL": url, "TIERFLOW_HOME": str(tmp_path / "home")}
    result = CliRunner().invoke(cli_app, list(args), env=env | language_env(locale))
    return result.exit_code, result.output


async def get_queue(engine: Engine, url: str, token: str, now: datetime) -> tuple[int, str]:
    app = create_app(Settings(database_url=url), None, engine, clock=lambda: now)
    async with asgi_client(app) as client:
        r = await client.get("/api/v1/requests", headers={"Authorization": f"Bearer {token}"})
    return r.status_code, r.text


async def test_an_expired_token_answers_401_saying_so(engine: Engine, sqlite_url: str) -> None:
    token = issue_token(engine, "ana", timedelta(days=30), now=START)
    assert (await get_queue(engine, sqlite_url, token, START + timedelta(days=29)))[0] == 200
    code, body = await get_queue(engine, sqlite_url, token, START + timedelta(days=30))
    assert code == 401
    assert f"token {token[:9]}… expired at 2026-12-31T09:00:00Z; ask for a new one" in body
    [row] = list_tokens(engine, "ana")
    assert row.last_used_at == START + timedelta(days=29)  # the last accepted use


async def test_the_cli_issues_lists_and_revokes_one_token(
    engine: Engine, sqlite_url: str, tmp_path: Path
) -> None:
    code, out = cli(sqlite_url, tmp_path, "tokens", "issue", "ana", "--expires-in", "30d")
    assert code == 0, out
    first = out.strip().splitlines()[-1]
    assert first.startswith("tf_") and re.search(r"到期时间 \d{4}-\d\d-\d\dT\d\d:\d\dZ", out)
    code, out = cli(sqlite_url, tmp_path, "tokens", "issue", "ana", locale="en")  # 90 days
    second = out.strip().splitlines()[-1]
    assert second.startswith("tf_") and re.search(r"expires \d{4}-\d\d-\d\dT\d\d:\d\dZ", out)
    rows = list_tokens(engine, "ana")
    assert [r.expires_at - r.created_at for r in rows] == [timedelta(days=30), timedelta(days=90)]

    now = datetime.now(UTC)
    assert (await get_queue(engine, sqlite_url, first, now))[0] == 200
    code, listing = cli(sqlite_url, tmp_path, "tokens", "list", "ana")
    assert code == 0 and first not in listing and second not in listing  # never the token
    lines = listing.strip().splitlines()
    assert lines[0] == "编号\t前缀\t创建时间\t到期时间\t最近使用\t状态"
    assert [line.split("\t")[1] for line in lines[1:]] == [first[:9], second[:9]]
    assert lines[1].split("\t")[4] != "-" and lines[2].split("\t")[4] == "-"  # last used

    code, out = cli(sqlite_url, tmp_path, "tokens", "revoke", str(rows[0].id))
    assert code == 0 and f"已吊销 ana 的令牌 {rows[0].id}（{first[:9]}…）" in out
    code, body = await get_queue(engine, sqlite_url, first, now)
    assert code == 401 and f"token {first[:9]}… was revoked at" in body
    assert (await get_queue(engine, sqlite_url, second, now))[0] == 200  # the other one lives
    listing = cli(sqlite_url, tmp_path, "tokens", "list", "ana")[1]
    statuses = [line.rsplit("\t", 1)[1] for line in listing.strip().splitlines()[1:]]
    assert statuses == ["已吊销", "有效"]
    english = cli(sqlite_url, tmp_path, "tokens", "list", "ana", locale="en")[1].splitlines()
    assert english[0] == "id\tprefix\tcreated\texpires\tlast used\tstatus"
    assert [line.rsplit("\t", 1)[1] for line in english[1:]] == ["revoked", "live"]

    # a token found pasted in a chat: revoked by its value, read from standard input
    env = {"TIERFLOW_DATABASE_URL": sqlite_url, "TIERFLOW_HOME": str(tmp_path / "home")}
    leaked = CliRunner().invoke(
        cli_app, ["tokens", "revoke", "--leaked"], input=second + "\n", env=env
    )
    assert leaked.exit_code == 0 and f"已吊销 ana 的令牌 {rows[1].id}" in leaked.output
    assert second not in leaked.output  # the value is never echoed
    assert (await get_queue(engine, sqlite_url, second, now))[0] == 401
    unknown = CliRunner().invoke(cli_app, ["tokens", "revoke", "--leaked"], input="tf_x\n", env=env)
    assert unknown.exit_code == 1 and "没有这个值的令牌" in unknown.output


@pytest.mark.parametrize(
    ("args", "message", "english"),
    [
        (
            ("tokens", "issue", "ana", "--expires-in", "30"),
            "请以天或小时表示，如 30d 或 12h",
            "use days or hours, e.g. 30d or 12h",
        ),
        (
            ("tokens", "issue", "ana", "--expires-in", "2000d"),
            "不超过 1095 天",
            "at most 1095 days",
        ),
        (("tokens", "revoke", "999"), "没有编号为 999 的令牌", "token: no token with id 999"),
        (
            ("tokens", "revoke"),
            "请给出 TOKEN_ID、--all-of USER 或 --leaked",
            "give a TOKEN_ID, --all",
        ),
        (("tokens", "revoke", "3", "--leaked"), "三者选一", "(one of them)"),
        (("tokens", "list", "bob"), "用户 'bob' 不存在", "user: 'bob' does not exist"),
    ],
)
def test_the_cli_refuses_bad_token_commands(
    engine: Engine,
    sqlite_url: str,
    tmp_path: Path,
    args: tuple[str, ...],
    message: str,
    english: str,
) -> None:
    code, out = cli(sqlite_url, tmp_path, *args)
    assert code != 0 and message in out, out
    code, out = cli(sqlite_url, tmp_path, *args, locale="en")
    assert code != 0 and english in out, out
