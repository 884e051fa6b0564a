"""`tierflow grades` on a real database: import a published list, withdraw, export, show.

The commands speak Chinese by default; one run asks for English (TIERFLOW_LANG=en).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from click.testing import Result
from typer.testing import CliRunner

from tests.utils.factories import GIANT, GRADE_LIST, SMALL
from tests.utils.language import language_env
from tierflow.cli import app as cli_app


def run(url: str, *args: str, locale: str | None = None) -> Result:
    env = {"TIERFLOW_DATABASE_URL": url, "COLUMNS": "200"} | language_env(locale)
    return CliRunner().invoke(cli_app, list(args), env=env)


def test_import_withdraw_export_and_show(db_url: str, tmp_path: Path) -> None:
    published = tmp_path / "2025年第七批专精特新小巨人企业名单.csv"
    published.write_bytes(GRADE_LIST.encode("gb18030"))  # as Excel saves it on a Chinese desktop
    result = run(db_url, "grades", "import", str(published))
    assert result.exit_code == 0, result.output
    assert "新增 2 条，更新 0 条" in result.output
    again = run(db_url, "grades", "import", str(published), locale="en")
    assert "0 added, 2 updated" in again.output

    result = run(db_url, "grades", "show", GIANT, "--on", "2026-03-02")
    assert "2026-03-02 适用的等级：专精特新“小巨人”企业（little_giant）" in result.output
    result = run(db_url, "grades", "show", GIANT, "--on", "2026-03-02", locale="en")
    assert "grade applied on 2026-03-02: Little giant (little_giant)" in result.output

    result = run(
        db_url, "grades", "withdraw", GIANT, "--reason", "复核不合格", "--on", "2026-03-01"
    )
    assert result.exit_code == 0, result.output
    assert (
        f"{GIANT}：专精特新“小巨人”企业（little_giant，国家级）自 2026-03-01 起撤销"
        in result.output
    )
    assert (
        "2026-03-02 适用的等级：无（none）"
        in run(db_url, "grades", "show", GIANT, "--on", "2026-03-02").output
    )

    out = tmp_path / "registry.csv"
    assert run(db_url, "grades", "export", "--out", str(out)).exit_code == 0
    raw = out.read_bytes()
    assert raw.startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    found = sorted((r["uscc"], r["grade"], r["withdrawn_on"], r["withdrawal_reason"]) for r in rows)
    assert found == sorted(
        [(SMALL, "innovative", "", ""), (GIANT, "little_giant", "2026-03-01", "复核不合格")]
    )
    # the export imports again unchanged
    assert "新增 0 条，更新 2 条" in run(db_url, "grades", "import", str(out)).output


def test_a_bad_list_is_refused_whole_with_each_line_named(db_url: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(
        GRADE_LIST + f"{GIANT[:17]}0,某公司,巨人,国家级,工业和信息化部,2025-07-01,\n", "utf-8"
    )
    result = run(db_url, "grades", "import", str(bad))
    assert result.exit_code == 1
    assert f"{bad}：未导入，共 2 个问题：" in result.output
    # each line as the grade list's check words it, in the operator's language
    assert "第 4 行：统一社会信用代码：第 18 位校验码为 '0'" in result.output
    assert "第 4 行：等级：未知等级 '巨人'" in result.output
    english = run(db_url, "grades", "import", str(bad), locale="en")
    assert "line 4: uscc: USCC check character at position 18" in english.output
    assert "line 4: grade: unknown grade '巨人'" in english.output
    assert "适用的等级：无（none）" in run(db_url, "grades", "show", GIANT).output
    assert "little_giant" not in run(db_url, "grades", "show", GIANT).output


def test_withdraw_refuses_a_bad_uscc_and_an_unknown_enterprise(db_url: str) -> None:
    result = run(db_url, "grades", "withdraw", GIANT[:17] + "0", "--reason", "x")
    assert result.exit_code == 1
    assert "统一社会信用代码有误：第 18 位校验码为 '0'" in result.output
    result = run(db_url, "grades", "withdraw", SMALL, "--reason", "x", "--on", "2026-03-01")
    assert result.exit_code == 1
    assert f"{SMALL} 在 2026-03-01 没有有效的认定" in result.output
    result = run(
        db_url, "grades", "withdraw", SMALL, "--reason", "x", "--on", "2026-03-01", locale="en"
    )
    assert result.exit_code == 1
    assert f"{SMALL} holds no recognition valid on 2026-03-01" in result.output
