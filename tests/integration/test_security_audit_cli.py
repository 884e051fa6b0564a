"""The admin commands record what they change as ``cli:<os user>``, and `tierflow audit
security` reads the records back, on a real database (SQLite and PostgreSQL): newest first, in
Chinese by default and in English when asked, filtered, and as JSON for scripts.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from typing import Any

from typer.testing import CliRunner, Result

from tests.utils.language import cli_english_words, language_env, mixed_punctuation
from tierflow.auth_store import TOKEN_PREFIX, hash_token
from tierflow.cli import app as cli_app
from tierflow.cli.audit import KIND
from tierflow.db.auth_models import SecurityEventKind
from tierflow.db.engine import make_engine
from tierflow.grades import SHANGHAI
from tierflow.security_log import read

OPERATOR = "ops-li"  # the OS user the commands run as: getpass reads LOGNAME first


def cli(url: str, *args: str, locale: str | None = None) -> Result:
    env = {"TIERFLOW_DATABASE_URL": url, "COLUMNS": "200", "LOGNAME": OPERATOR}
    return CliRunner().invoke(cli_app, list(args), env=env | language_env(locale))


def ok(result: Result) -> str:
    assert result.exit_code == 0, result.output
    return result.output


def administer(url: str) -> list[str]:
    """Create a user and issue, revoke and revoke-all its tokens; return the tokens."""
    ok(cli(url, "users", "add", "lead", "--role", "supervisor", "--institution", "zj-330106-sme"))
    first = ok(cli(url, "tokens", "issue", "lead", "--expires-in", "30d")).splitlines()[-1]
    second = ok(cli(url, "tokens", "issue", "lead")).splitlines()[-1]
    listing = ok(cli(url, "tokens", "list", "lead", locale="en")).splitlines()
    ok(cli(url, "tokens", "revoke", listing[1].split("\t")[0]))
    ok(cli(url, "tokens", "revoke", "--all-of", "lead"))
    return [first, second]


def records(url: str, *args: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = json.loads(ok(cli(url, "audit", "security", "--json", *args)))
    return found


def test_the_admin_commands_are_recorded_as_the_operator(db_url: str) -> None:
    tokens = administer(db_url)
    engine = make_engine(db_url)
    try:
        rows = sorted(read(engine), key=lambda row: row.id or 0)
    finally:
        engine.dispose()
    assert [(r.kind, r.actor, r.subject, r.address) for r in rows] == [
        (SecurityEventKind.USER_CREATED, "cli:ops-li", "lead", None),
        (SecurityEventKind.TOKEN_ISSUED, "cli:ops-li", "lead", None),
        (SecurityEventKind.TOKEN_ISSUED, "cli:ops-li", "lead", None),
        (SecurityEventKind.TOKEN_REVOKED, "cli:ops-li", "lead", None),
        (SecurityEventKind.TOKEN_REVOKED, "cli:ops-li", "lead", None),
    ]
    assert rows[0].details["role"] == "supervisor" and rows[0].details["tier"] == "county"
    first_id, second_id = rows[1].details["token_id"], rows[2].details["token_id"]
    assert rows[3].details == {"token_id": first_id}
    assert rows[4].details == {"token_id": second_id, "all_of_user": True}

    shown = json.dumps(records(db_url))
    for token in tokens:
        assert token.startswith(TOKEN_PREFIX)
        assert token not in shown and hash_token(token) not in shown
        assert token[: len(TOKEN_PREFIX) + 6] not in shown


def test_audit_security_shows_the_records_newest_first_in_chinese(db_url: str) -> None:
    administer(db_url)
    out = ok(cli(db_url, "audit", "security"))
    assert "安全审计日志：5 条记录，最新的在前" in out and "时间为中国时间（UTC+8）" in out
    for heading in ("时间", "事项", "操作人", "用户", "地址", "详情"):
        assert heading in out
    lines = [line for line in out.splitlines() if "cli:ops-li" in line]
    assert [
        next(w for w in ("创建用户", "签发令牌", "吊销令牌") if w in line) for line in lines
    ] == [
        "吊销令牌",
        "吊销令牌",
        "签发令牌",
        "签发令牌",
        "创建用户",
    ]
    assert "角色：督办主管；机构：zj-330106-sme；授权：—；层级：县级；区划代码：330106" in lines[-1]
    assert "令牌编号：" in lines[0] and "随该用户全部令牌一并吊销" in lines[0]
    assert re.search(r"到期时间：\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", lines[-2])
    assert cli_english_words(out, ["lead"]) == set()
    assert mixed_punctuation(out) == []

    english = ok(cli(db_url, "audit", "security", locale="en"))
    assert "Security audit log: 5 records, newest first" in english
    assert "User created" in english and "Token revoked" in english
    assert "role: Supervisor; institution: zj-330106-sme; grants: —; tier: County" in english
    assert "times in China time (UTC+8)" in english


def test_audit_security_filters_by_day_kind_user_and_count(db_url: str) -> None:
    administer(db_url)
    today = datetime.now(SHANGHAI).date()
    assert len(records(db_url, "--since", today.isoformat())) == 5
    assert len(records(db_url, "--until", today.isoformat())) == 5  # the day included
    tomorrow, yesterday = today + timedelta(days=1), today - timedelta(days=1)
    assert records(db_url, "--since", tomorrow.isoformat()) == []
    assert records(db_url, "--until", yesterday.isoformat()) == []
    revoked = records(db_url, "--kind", "token_revoked")
    assert [r["kind"] for r in revoked] == ["token_revoked"] * 2
    assert revoked[0]["details"] == {
        "token_id": revoked[0]["details"]["token_id"],
        "all_of_user": True,
    }
    assert revoked[0]["id"] > revoked[1]["id"] and revoked[0]["occurred_at"].endswith("Z")
    assert len(records(db_url, "--user", "lead")) == 5
    assert len(records(db_url, "--user", "cli:ops-li")) == 5
    assert records(db_url, "--user", "someone") == []
    [newest] = records(db_url, "--limit", "1")
    assert newest == revoked[0] and set(newest) == {
        "id",
        "occurred_at",
        "kind",
        "actor",
        "subject",
        "address",
        "details",
    }
    nothing = ok(cli(db_url, "audit", "security", "--since", tomorrow.isoformat()))
    assert "没有符合条件的安全审计记录" in nothing


def test_audit_security_refuses_a_bad_day_or_kind(sqlite_url: str) -> None:
    day = cli(sqlite_url, "audit", "security", "--since", "2026-13-01")
    assert (
        day.exit_code == 2 and "--since：'2026-13-01' 不是日期（格式为 YYYY-MM-DD）" in day.output
    )
    kind = cli(sqlite_url, "audit", "security", "--kind", "login", locale="en")
    assert kind.exit_code == 2 and "--kind: unknown kind 'login' (user_created, " in kind.output


def test_every_kind_has_words_in_both_languages() -> None:
    assert set(KIND) == {kind.value for kind in SecurityEventKind}
