"""A database command on a database not migrated, or a migration that cannot run, ends with
one line saying so in the reader's language, never a traceback (the command as a process)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from schemas.policy import CalendarData


def tierflow(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        **(env or {}),
        "TIERFLOW_DATABASE_URL": f"sqlite:///{tmp_path / 'new.db'}",
        "TIERFLOW_HOME": str(tmp_path / "home"),
        "TIERFLOW_LANG": "zh-CN",
    }
    return subprocess.run(
        [sys.executable, "-m", "tierflow.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_new_database_and_a_bad_revision_are_one_line_each(tmp_path: Path) -> None:
    listed = tierflow(tmp_path, "users", "list")
    assert listed.returncode == 1 and "Traceback" not in listed.stderr
    assert "数据库出错：OperationalError" in listed.stderr
    assert "请先运行 `tierflow db upgrade`" in listed.stderr
    # a publication is recorded before it goes out (a what-if replays it from the record)
    published = tierflow(tmp_path, "calendar", "publish", "--wait", "0")
    assert published.returncode == 1 and "Traceback" not in published.stderr
    assert "请先运行 `tierflow db upgrade`" in published.stderr
    revision = tierflow(tmp_path, "db", "upgrade", "nosuch")
    assert revision.returncode == 1 and "Traceback" not in revision.stderr
    assert revision.stderr.startswith("数据库迁移出错：") and "nosuch" in revision.stderr


def test_a_file_that_is_no_text_and_years_out_of_order_are_named(tmp_path: Path) -> None:
    policy = tmp_path / "candidate.toml"
    policy.write_bytes(b"\xff\xfe not UTF-8")
    read = tierflow(tmp_path, "whatif", "--policy", str(policy))
    assert read.returncode == 1 and "Traceback" not in read.stderr
    assert "不是 UTF-8 文本" in read.stderr
    for command in ("show", "publish"):  # a command-line mistake: exit 2
        args = ["calendar", command, "--first-year", "2030", "--last-year", "2020"]
        if command == "publish":
            args += ["--wait", "0"]
        years = tierflow(tmp_path, *args)
        assert years.returncode == 2 and "Traceback" not in years.stderr, years.stderr
        assert "起始年份不晚于结束年份" in years.stderr
    # a file the command cannot write (its folder is missing): one line naming it
    missing = tmp_path / "no-such-folder" / "grades.csv"
    assert tierflow(tmp_path, "db", "upgrade").returncode == 0
    written = tierflow(tmp_path, "grades", "export", "--out", str(missing))
    assert written.returncode == 1 and "Traceback" not in written.stderr, written.stderr
    assert str(missing) in written.stderr and "无法使用" in written.stderr


def test_temporal_away_for_the_whole_wait_is_one_line(tmp_path: Path) -> None:
    """`calendar publish` and `db refresh-worklists` take --wait as `temporal setup` does, and
    say in one line that Temporal stayed away (a traceback after 120 s before)."""
    away = {"TIERFLOW_TEMPORAL_ADDRESS": "127.0.0.1:9"}
    assert tierflow(tmp_path, "db", "upgrade").returncode == 0
    for args in (
        ("calendar", "publish", "--wait", "1"),
        ("db", "refresh-worklists", "--wait", "1"),
    ):
        done = tierflow(tmp_path, *args, env=away)
        assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr[-500:]
        assert "无法连接：Temporal at 127.0.0.1:9 not reachable after 1 s" in done.stderr


def test_a_calendar_is_published_as_an_admin_user_or_the_system_user(tmp_path: Path) -> None:
    """The audit trail records who published it: ``--as`` names an enabled admin of the user
    table (any text was recorded as an admin before), else ``cli:<the system user>``."""
    assert tierflow(tmp_path, "db", "upgrade").returncode == 0
    named = tierflow(tmp_path, "calendar", "publish", "--as", "张三 not a user", "--wait", "0")
    assert named.returncode == 1 and "Traceback" not in named.stderr, named.stderr
    assert "不是已启用的管理员用户" in named.stderr


def test_a_directory_version_is_checked_as_the_console_checks_it(tmp_path: Path) -> None:
    sheet = tmp_path / "directory.csv"
    sheet.write_text("id,name,tier,division_code,categories\nn,国家中心,national,000000,\n")
    bad = tierflow(tmp_path, "directory", "import", str(sheet), "--version", "有 空格/x")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr, bad.stderr
    assert "1 至 64 个字母、数字或" in bad.stderr


def test_a_downgrade_asks_first_naming_the_database(tmp_path: Path) -> None:
    """`db downgrade base` drops every table, the audit trail with them: it asks first, and
    without a yes nothing changes; `--yes` is for scripts."""
    assert tierflow(tmp_path, "db", "upgrade").returncode == 0
    asked = subprocess.run(
        [sys.executable, "-m", "tierflow.cli", "db", "downgrade", "base"],
        env={
            **os.environ,
            "TIERFLOW_DATABASE_URL": f"sqlite:///{tmp_path / 'new.db'}",
            "TIERFLOW_LANG": "zh-CN",
        },
        input="n\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert asked.returncode == 1 and "new.db" in asked.stdout and "base" in asked.stdout
    assert "未做任何更改" in asked.stderr
    assert tierflow(tmp_path, "users", "list").returncode == 0  # the tables are there
    done = tierflow(tmp_path, "db", "downgrade", "base", "--yes")
    assert done.returncode == 0 and "base" in done.stdout
    assert tierflow(tmp_path, "db", "current").stdout.strip() == "base（尚未迁移）"


def test_a_calendar_written_by_calendar_show_is_what_whatif_takes(tmp_path: Path) -> None:
    """`calendar show --json FILE` writes the installed calendar as the what-if's --calendar
    reads it; a file that is no calendar (a policy's TOML) is refused before anything runs."""
    written = tmp_path / "calendar-2027.json"
    shown = tierflow(
        tmp_path, "calendar", "show", "--first-year", "2027", "--last-year", "2029",
        "--json", str(written),
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    calendar = CalendarData.model_validate_json(written.read_text("utf-8"))
    assert (calendar.first_year, calendar.last_year) == (2027, 2029)
    policy = tmp_path / "candidate.toml"
    policy.write_text((Path(__file__).parents[2] / "tierflow/data/sla_policy.toml").read_text())
    wrong = tierflow(tmp_path, "whatif", "--policy", str(policy), "--calendar", str(policy))
    assert wrong.returncode == 2 and "Traceback" not in wrong.stderr, wrong.stderr
    assert wrong.stderr.startswith("--calendar：不是工作日历（")
