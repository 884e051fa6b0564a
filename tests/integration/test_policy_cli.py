"""`tierflow policy` on a real database (SQLite and PostgreSQL): add a candidate, promote it
from a date with a what-if run, list versions and releases; refusals name the field, in
Chinese by default and in English when asked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import Result
from sqlmodel import Session
from typer.testing import CliRunner

from schemas.domain import Role
from tests.utils.fast_policy import Targets, policy_text
from tests.utils.language import language_env
from tierflow.auth_store import create_user
from tierflow.cli import app as cli_app
from tierflow.db.engine import make_engine
from tierflow.db.models import SlaPolicyVersion, WhatIfRun
from tierflow.policy_store import releases


def run(url: str, *args: str, locale: str | None = None, operator: str | None = None) -> Result:
    env = {"TIERFLOW_DATABASE_URL": url, "COLUMNS": "200"} | language_env(locale)
    return CliRunner().invoke(cli_app, list(args), env=env | {"TIERFLOW_OPERATOR": operator})


def save_run(url: str, run_id: str, content: str) -> None:
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            session.add(
                WhatIfRun(
                    run_id=run_id,
                    created_at=datetime.now(UTC),
                    run_by="cli:ops",
                    candidate_version="2027.1",
                    candidate_content=content,
                    requests=3,
                    changed=1,
                    report="{}",
                )
            )
            session.commit()
    finally:
        engine.dispose()


def test_add_promote_and_list(db_url: str, tmp_path: Path) -> None:
    candidate = tmp_path / "candidate.toml"
    candidate.write_text(policy_text(Targets(response=1800, version="2027.1")), encoding="utf-8")
    added = run(db_url, "policy", "add", str(candidate))
    assert added.exit_code == 0, added.output
    assert "时限规则 2027.1 已添加" in added.output
    again = run(db_url, "policy", "add", str(candidate), locale="en")
    assert "policy 2027.1 was recorded before with the same content" in again.output

    start = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
    save_run(db_url, "wi-1", candidate.read_text("utf-8"))
    promoted = run(
        db_url,
        "policy",
        "promote",
        "2027.1",
        "--from",
        start.isoformat(),
        "--whatif-run",
        "wi-1",
        "--note",
        "季度复盘后收紧",
    )
    assert promoted.exit_code == 0, promoted.output
    assert "时限规则 2027.1 自" in promoted.output and "起对新工单生效" in promoted.output
    engine = make_engine(db_url)
    try:
        [release] = releases(engine)
    finally:
        engine.dispose()
    assert (release.in_force_from, release.whatif_run_id) == (start, "wi-1")
    assert release.promoted_by.startswith("cli") and release.note == "季度复盘后收紧"

    listed = run(db_url, "policy", "list", locale="en")
    assert listed.exit_code == 0, listed.output
    assert "2027.1\t" in listed.output and "wi-1\t季度复盘后收紧" in listed.output
    assert "# in force now: the worker's policy file (no release yet)" in listed.output


def test_refusals_name_the_field(db_url: str, tmp_path: Path) -> None:
    later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    unknown = run(db_url, "policy", "promote", "2099.9", "--from", later)
    assert unknown.exit_code == 1
    assert "未发布：version：未记录版本 2099.9" in unknown.output
    naive = run(db_url, "policy", "promote", "2099.9", "--from", "2027-01-01T00:00", locale="en")
    # named by the option given, not the API's field (in_force_from) it fills
    assert "not promoted: --from: give a time zone" in naive.output
    past = run(db_url, "policy", "promote", "2099.9", "--from", "2020-01-01T00:00+08:00")
    assert past.exit_code == 1
    assert "未发布：--from：2020-01-01T00:00:00+08:00 已经过去" in past.output
    candidate = tmp_path / "candidate.toml"
    candidate.write_text(policy_text(Targets(response=1800, version="2099.8")), encoding="utf-8")
    assert run(db_url, "policy", "add", str(candidate)).exit_code == 0
    run_id = run(db_url, "policy", "promote", "2099.8", "--from", later, "--whatif-run", "wi-0")
    assert run_id.exit_code == 1 and "未发布：--whatif-run：" in run_id.output, run_id.output
    garbled = run(db_url, "policy", "promote", "2099.9", "--from", "next week")
    assert garbled.exit_code == 2 and "--from：'next week' 不是 ISO 8601 时间" in garbled.output
    now = run(db_url, "policy", "promote", "2099.8", "--from", "now", "--note", "即时纠错")
    assert now.exit_code == 0 and "时限规则 2099.8 自" in now.output, now.output

    broken = tmp_path / "broken.toml"
    broken.write_text('version = "2027.x"\n', encoding="utf-8")
    refused = run(db_url, "policy", "add", str(broken))
    assert refused.exit_code == 1
    assert "未添加：时限规则：broken.toml：warning_thresholds：为必填项" in refused.output


def test_an_admin_named_by_tierflow_operator_is_who_the_records_name(
    db_url: str, tmp_path: Path
) -> None:
    """In a shared container every admin is the same system user: TIERFLOW_OPERATOR names
    the admin account a change is recorded for, and only an enabled admin's name is taken."""
    engine = make_engine(db_url)
    try:
        create_user(engine, "zhang.wei", Role.ADMIN)
        create_user(engine, "ana", Role.CASEWORKER, "zj-330106-sme")
    finally:
        engine.dispose()
    candidate = tmp_path / "candidate.toml"
    candidate.write_text(policy_text(Targets(response=1800, version="2099.7")), encoding="utf-8")
    assert run(db_url, "policy", "add", str(candidate)).exit_code == 0
    later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    refused = run(db_url, "policy", "promote", "2099.7", "--from", later, operator="ana")
    assert refused.exit_code == 1
    assert "TIERFLOW_OPERATOR：ana 不是已启用的管理员用户" in refused.output, refused.output
    done = run(db_url, "policy", "promote", "2099.7", "--from", later, operator="zhang.wei")
    assert done.exit_code == 0, done.output
    engine = make_engine(db_url)
    try:
        [release] = releases(engine)
    finally:
        engine.dispose()
    assert release.promoted_by.startswith("zhang.wei (cli")  # and the system user who said so


def test_a_release_whose_policy_no_longer_parses_is_listed_as_such(
    db_url: str, tmp_path: Path
) -> None:
    """A stricter check in a later release can make a recorded version unreadable: its
    release is left out of the timeline (the one before it applies), and the listing says
    so rather than dropping it."""
    candidate = tmp_path / "candidate.toml"
    candidate.write_text(policy_text(Targets(response=1800, version="2099.6")), encoding="utf-8")
    assert run(db_url, "policy", "add", str(candidate)).exit_code == 0
    assert run(db_url, "policy", "promote", "2099.6", "--from", "now").exit_code == 0
    engine = make_engine(db_url)
    try:
        with Session(engine) as session:
            stored = session.get(SlaPolicyVersion, "2099.6")
            assert stored is not None
            stored.content = stored.content.replace("warning_thresholds", "warning_levels")
            session.add(stored)
            session.commit()
    finally:
        engine.dispose()
    listed = run(db_url, "policy", "list")
    assert listed.exit_code == 0, listed.output
    [line] = [x for x in listed.output.splitlines() if "\t2099.6\t" in x]
    assert line.endswith("已无法解析，已略过")
    assert "当前生效：工作进程的时限规则文件（没有生效的发布）" in listed.output
