"""`tierflow privacy erase` on a real database (SQLite and PostgreSQL): it asks first unless
--yes, erases as the operator, and says how many contacts went (and, for an enterprise's
request, how many open requests keep theirs), in Chinese by default and in English when asked.
"""

from __future__ import annotations

from sqlalchemy import Engine
from typer.testing import CliRunner, Result

from tests.utils.ended_requests import closed, contacts, erasures, persist, rejected, running
from tests.utils.ended_requests import withdrawn as withdrawn_request
from tests.utils.factories import enterprise_uscc
from tests.utils.language import cli_english_words, language_env, mixed_punctuation
from tierflow.cli import app as cli_app
from tierflow.db.engine import make_engine

KEPT = ("王芳", "13800000000", "wang@example.com")
GONE = (None, None, None)
# The factories' requests end on 2025-10-09 (China), 10:00 at the latest


def run(url: str, *args: str, locale: str | None = None, answer: str | None = None) -> Result:
    env = {"TIERFLOW_DATABASE_URL": url, "COLUMNS": "200"} | language_env(locale)
    return CliRunner().invoke(cli_app, ["privacy", "erase", *args], env=env, input=answer)


def chinese(result: Result, *names: str) -> str:
    """The output, checked to read as Chinese but for ids, codes, the database's URL and the
    prompt's answers ([y/N]: n)."""
    assert cli_english_words(result.output, [*names, "y", "n"]) == set(), result.output
    assert mixed_punctuation(result.output) == [], result.output
    return result.output


def engine_on(url: str) -> Engine:
    return make_engine(url)


def test_requests_ended_before_a_day_lose_their_contact_once_confirmed(db_url: str) -> None:
    engine = engine_on(db_url)
    try:
        persist(engine, closed("c-closed"), withdrawn_request("c-withdrawn"), running("c-open"))

        refused = run(db_url, "--ended-before", "2025-10-10", answer="n\n")
        assert refused.exit_code == 1, refused.output
        out = chinese(refused)
        assert "2025-10-10（中国时间）之前结束的所有工单的联系人？清除后无法恢复" in out
        assert "未做任何更改" in out and contacts(engine, "c-closed") == KEPT

        same_day = run(db_url, "--ended-before", "2025-10-09", "--yes")  # they ended that day
        assert same_day.exit_code == 0, same_day.output
        assert "已清除 0 个在 2025-10-09 之前结束的工单的联系人" in chinese(same_day)
        assert "？" not in same_day.output  # --yes: nothing asked

        done = run(db_url, "--ended-before", "2025-10-10", answer="y\n")
        assert done.exit_code == 0, done.output
        assert "已清除 2 个在 2025-10-10 之前结束的工单的联系人" in chinese(done)
        assert contacts(engine, "c-closed") == contacts(engine, "c-withdrawn") == GONE
        assert contacts(engine, "c-open") == KEPT
        by = {e.erased_by for e in erasures(engine).values()}
        assert len(by) == 1 and by.pop().startswith("cli")

        persist(engine, rejected("c-rejected"))
        english = run(db_url, "--retention-days", "30", locale="en", answer="y\n")
        assert english.exit_code == 0, english.output
        assert "Erase the contact person of every request that ended before" in english.output
        assert "contact erased from 1 request that ended before" in english.output
        assert contacts(engine, "c-rejected") == GONE and contacts(engine, "c-open") == KEPT
    finally:
        engine.dispose()


def test_an_enterprises_deletion_request_says_what_stays_until_it_ends(db_url: str) -> None:
    asking = enterprise_uscc("330106")
    engine = engine_on(db_url)
    try:
        persist(
            engine,
            closed("u-closed", uscc=asking),
            running("u-open", uscc=asking),
            closed("u-other", uscc=enterprise_uscc("330105")),
        )
        refused = run(db_url, "--uscc", asking, locale="en", answer="n\n")
        assert refused.exit_code == 1, refused.output
        assert f"every ended request of enterprise {asking} in the database" in refused.output
        assert "nothing changed" in refused.output

        done = run(db_url, "--uscc", asking.lower(), "--yes")
        assert done.exit_code == 0, done.output
        out = chinese(done)
        assert f"{asking}：已清除 1 个已结束工单的联系人" in out
        assert "1 个未结束的工单保留联系人，直至工单结束" in out
        assert contacts(engine, "u-closed") == GONE
        assert contacts(engine, "u-open") == contacts(engine, "u-other") == KEPT

        again = run(db_url, "--uscc", asking, "--yes", locale="en")
        assert "contact erased from 0 ended requests" in again.output
        assert "1 open request keeps its contact until it ends" in again.output
    finally:
        engine.dispose()


def test_a_wrong_command_line_changes_nothing(db_url: str) -> None:
    engine = engine_on(db_url)
    try:
        persist(engine, closed("w-closed"))
    finally:
        engine.dispose()
    neither = run(db_url, "--yes")
    assert neither.exit_code == 2
    assert "请给出 --ended-before、--retention-days 或 --uscc 中的一项" in chinese(neither)
    both = run(db_url, "--ended-before", "2026-01-01", "--uscc", "x", "--yes", locale="en")
    assert both.exit_code == 2
    assert "give one of --ended-before, --retention-days or --uscc" in both.output
    not_a_day = run(db_url, "--ended-before", "10/09/2025", "--yes")
    assert not_a_day.exit_code == 2
    assert "--ended-before：'10/09/2025' 不是日期（格式为 YYYY-MM-DD）" in chinese(not_a_day)
    bad_code = enterprise_uscc("330106")[:17] + "0"
    not_a_code = run(db_url, "--uscc", bad_code, "--yes")
    assert not_a_code.exit_code == 1
    assert "统一社会信用代码有误：第 18 位校验码为 '0'" in not_a_code.output
    engine = engine_on(db_url)
    try:
        assert contacts(engine, "w-closed") == KEPT and erasures(engine) == {}
    finally:
        engine.dispose()
