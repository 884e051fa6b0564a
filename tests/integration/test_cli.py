"""The caseworker CLI drives a whole lifecycle over real HTTP against a uvicorn server."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Awaitable, Iterator
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from api.app import create_app
from schemas.domain import Tier
from schemas.lifecycle import ActionKind
from tests.utils.api_helpers import request_body, serve_in_thread
from tests.utils.factories import SIGNED_WORKED_AND_RESOLVED, make_request, supervisor
from tests.utils.language import language_env
from tests.utils.stack_helpers import act, eventually, forget_workflow, start_request
from tierflow.cli import app as cli_app
from tierflow.cli.client import countdown, credentials_path, table_deadline
from tierflow.i18n import translations
from tierflow.i18n.formats import when

REPORT = "https://files.example.gov.cn/zj/report.pdf"  # a document sent with the resolve


@pytest.fixture(scope="module")
def api_url(stack) -> Iterator[str]:
    # client=None: the server connects to Temporal in its own thread's event loop
    with serve_in_thread(create_app(stack.settings, None, stack.engine)) as url:
        yield url


@pytest.fixture
def cli_env(stack, tmp_path: Path) -> dict[str, str]:
    return {
        "TIERFLOW_HOME": str(tmp_path / "home"),
        "TIERFLOW_DATABASE_URL": stack.settings.resolved_database_url,
        "COLUMNS": "200",
        "TIERFLOW_LANG": "en",  # the English words below; test_cli_speaks_chinese has zh-CN
    }


async def run(env: dict[str, str], *args: str) -> Result:
    """Invoke the CLI in a thread so the session loop (and the stack's worker) keeps running."""
    runner = CliRunner()
    return await asyncio.to_thread(runner.invoke, cli_app, list(args), env=env)


def ok(result: Result) -> str:
    assert result.exit_code == 0, result.output
    return result.output


async def sign_in_caseworker(env: dict[str, str], api_url: str, prefix: str) -> None:
    """Add a caseworker of zj-330106-sme (the default request's county) and log the CLI in."""
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    ok(
        await run(
            env, "users", "add", name, "--role", "caseworker", "--institution", "zj-330106-sme"
        )
    )
    token = ok(await run(env, "tokens", "issue", name)).strip().splitlines()[-1]
    ok(await run(env, "login", "--url", api_url, "--token", token))


async def test_cli_full_lifecycle(
    api_url: str, cli_env: dict[str, str], tmp_path: Path, stack
) -> None:
    name = f"cli-cw-{uuid.uuid4().hex[:6]}"
    chinese_env = cli_env | language_env()  # the admin commands' default language
    out = ok(
        await run(
            chinese_env,
            "users",
            "add",
            name,
            "--role",
            "caseworker",
            "--institution",
            "zj-330106-sme",
        )
    )
    assert f"已创建用户 {name}（经办人），所属机构 zj-330106-sme（县级，330106）" in out
    token = ok(await run(cli_env, "tokens", "issue", name)).strip().splitlines()[-1]
    assert token.startswith("tf_")
    bad = await run(
        chinese_env, "users", "add", "x-" + name, "--role", "supervisor", "--institution", "nowhere"
    )
    assert bad.exit_code == 1 and "机构 'nowhere' 不在机构名录中" in bad.output
    bad = await run(
        cli_env, "users", "add", "x-" + name, "--role", "supervisor", "--institution", "nowhere"
    )
    assert bad.exit_code == 1 and "institution: 'nowhere' is not in the directory" in bad.output
    hotline = f"hotline-{name}"
    args = ("users", "add", hotline, "--role", "system", "--grant", "comment")
    out = ok(await run(chinese_env, *args, "--region", "330100"))
    assert f"已创建用户 {hotline}（系统），办理辖区 330100" in out
    assert f"{hotline}\tsystem\t- grants=comment region=330100" in ok(
        await run(cli_env, "users", "list")
    )
    bad = await run(chinese_env, *args[:2], "x-" + hotline, *args[3:], "--region", "339999")
    assert bad.exit_code == 1 and "--region：行政区划代码 '339999'" in bad.output, bad.output

    ok(await run(cli_env, "login", "--url", api_url, "--token", token))
    stored = json.loads((Path(cli_env["TIERFLOW_HOME"]) / "credentials.json").read_text())
    assert stored == {"url": api_url, "token": token}

    req = make_request()
    file = tmp_path / "req.json"
    file.write_text(json.dumps(request_body(req)))
    submitted = json.loads(ok(await run(cli_env, "submit", "--file", str(file), "--json")))
    rid = submitted["request_id"]
    assert rid == req.request_id

    async def queued() -> bool:
        page = json.loads(ok(await run(cli_env, "queue", "--json", "--limit", "500")))
        return rid in [i["request_id"] for i in page["items"]]

    await eventually(queued, what=f"{rid} in the caseworker's queue")
    table = ok(await run(cli_env, "queue"))
    assert rid in table and "On track" in table
    chinese = ok(await run(cli_env | {"TIERFLOW_LANG": "zh-CN"}, "queue"))
    assert rid in chinese and "正常" in chinese and "县级" in chinese
    assert re.search(r"│ (\d{4}年)?\d+月\d+日 \d\d:\d\d +│", chinese), chinese  # 截止时间
    assert "杭州市西湖区中小企业服务中心" in chinese  # the unit by its name (GET /institutions)
    narrow = cli_env | {"TIERFLOW_LANG": "zh-CN", "COLUMNS": "80"}  # a usual terminal
    for shown in (ok(await run(narrow, "queue")), ok(await run(narrow, "show", rid))):
        assert rid in shown and "…" not in shown  # the id whole; long words folded, not cut
    queue_80 = ok(await run(narrow, "queue"))
    assert "终端较窄，未显示层级和服务类别" in queue_80 and "服务类别" not in queue_80.split("┡")[0]
    assert re.search(r"│ (\d{4}年)?\d+月\d+日 \d\d:\d\d +│", queue_80), queue_80  # one line
    assert "层级" in chinese and "终端较窄" not in chinese  # 200 columns: every column
    show_80 = ok(await run(narrow, "show", rid))
    submitted_at = json.loads(ok(await run(cli_env, "show", rid, "--json")))["timeline"][0]
    at = datetime.fromisoformat(submitted_at["occurred_at"])
    short = when(at, translations("zh-CN"), now=at)  # this year's: 12月5日 15:41
    assert re.search(rf"│ 1 +│ {re.escape(short)} +│", show_80), show_80  # whole, on one line

    for kind, extra, state in [
        ("sign_for", [], "assigned"),
        ("acknowledge", [], "acknowledged"),
        ("start", [], "in_progress"),
        ("request_extension", ["--text", "waiting for the bank", "-f", "days=3"], "in_progress"),
        ("comment", ["--text", "called the CFO"], "in_progress"),
        ("resolve", ["--text", "loan approved", "--attach", f"办结报告.pdf={REPORT}"], "resolved"),
    ]:
        result = json.loads(ok(await run(cli_env, "act", rid, kind, *extra, "--json")))
        assert result["state"] == state
        if kind == "request_extension":  # the work order's open matter, until decided
            shown = ok(await run(cli_env | {"TIERFLOW_LANG": "zh-CN"}, "show", rid))
            # who asks and how to reach them, as the case page's 企业与诉求 card has it
            uscc = req.enterprise.uscc
            assert f"  企业：杭州启明智能科技有限公司（{uscc}、杭州市西湖区 330106）" in shown
            assert "  联系人：王芳、13800000000、wang@example.com" in shown
            assert (
                f"服务类别：投融资服务；紧急程度：一般；来源渠道：网上服务平台；承办人：{name}"
                in shown
            )
            assert "  诉求内容：需要500万元流动资金贷款" in shown
            assert f"待审批：申请延期（{name}）：waiting for the bank" in shown, shown
            assert "3 个工作日" in shown  # the days asked for, on its timeline entry

            async def waiting(*lists: str) -> list[str]:
                flags = [f for worklist in lists for f in ("--awaiting", worklist)]
                page = json.loads(ok(await run(cli_env, "queue", *flags, "--json")))
                return [item["request_id"] for item in page["items"]]

            # several worklists at once (the dispatch desk's two), one alone
            assert rid in await waiting("return_decision", "extension_decision")
            assert rid not in await waiting("return_decision")
    concluded = ok(await run(cli_env | {"TIERFLOW_LANG": "zh-CN"}, "queue", "--search", rid))
    # no unit clock runs: the follow-up's deadline (待回访)
    assert re.search(r"回访 (\d{4}年)?\d+月\d+日", concluded), concluded
    refused = await run(cli_env, "act", rid, "start")
    assert refused.exit_code == 1 and "HTTP 409" in refused.output
    assert "cannot start a request in state resolved (allowed in: " in refused.output
    chinese = await run(cli_env | {"TIERFLOW_LANG": "zh-CN"}, "act", rid, "start")
    assert chinese.exit_code == 1
    assert "HTTP 409: 工单当前状态为「已办结」，不能执行「" in chinese.output
    unseen = await run(cli_env | {"TIERFLOW_LANG": "zh-CN"}, "show", "no-such-request")
    assert unseen.exit_code == 1
    assert "HTTP 404: 找不到工单 'no-such-request'（或不在您的办理范围内）" in unseen.output
    missing = await run(cli_env, "act", rid, "reopen")
    assert missing.exit_code == 1
    assert "HTTP 422: text: required for reopen: the reason for reopening" in missing.output
    missing = await run(cli_env | {"TIERFLOW_LANG": "zh-CN"}, "act", rid, "reopen")
    assert "HTTP 422: text：重新办理须填写重新办理的理由" in missing.output
    bad = await run(cli_env | {"TIERFLOW_LANG": "zh-CN"}, "act", rid, "resume_all")
    assert "HTTP 422: kind：须为以下之一：sign_for、acknowledge、start、" in bad.output
    not_json = tmp_path / "not.json"
    not_json.write_text("{request_id: 1}")
    bad = await run(cli_env | {"TIERFLOW_LANG": "zh-CN"}, "submit", "--file", str(not_json))
    assert bad.exit_code == 1 and "--file：不是 UTF-8 编码的 JSON 文件（" in bad.output
    assert "Traceback" not in bad.output
    unknown = await run(cli_env, "act", rid, "comment", "--text", "x", "-f", "nope=1")
    assert unknown.exit_code == 2 and "return_reason" in unknown.output  # names the fields
    no_url = await run(cli_env, "act", rid, "comment", "--text", "x", "--attach", "a.pdf")
    assert no_url.exit_code == 2 and "give NAME=URL" in no_url.output

    detail = json.loads(ok(await run(cli_env, "show", rid, "--json")))
    events = [e["event_type"] for e in detail["view"]["timeline"]]
    extended = [*SIGNED_WORKED_AND_RESOLVED[:5], "extension_requested"]
    assert events == [*extended, *SIGNED_WORKED_AND_RESOLVED[5:]]
    assert detail["view"]["timeline"][2]["actor_id"] == name
    shown = ok(await run(cli_env, "show", rid))
    assert "Concluded" in shown and "called the CFO" in shown and "allowed: " in shown
    shown = ok(await run(cli_env | {"TIERFLOW_LANG": "zh-CN"}, "show", rid))
    assert "已办结" in shown and "签收" in shown and "可办理：" in shown
    assert "县级（杭州市西湖区中小企业服务中心）" in shown
    assert "  回访：截止 " in shown  # 待回访: when the follow-up desk is due to call
    assert f"  后续提交的材料：办结报告.pdf（{REPORT}）" in shown  # sent with the resolve
    assert "  县级响应时限：已停止（" in shown  # a stopped clock says so, and since when

    # the installed console script works the same way (a real process)
    proc = await asyncio.to_thread(
        subprocess.run,
        [str(Path(sys.executable).parent / "tierflow"), "queue", "--json", "--state", "resolved"],
        env={**os.environ, **cli_env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert rid in [i["request_id"] for i in json.loads(proc.stdout)["items"]]

    await forget_workflow(stack, rid)  # as Temporal does once the namespace's retention passes
    gone = ok(await run(cli_env | {"TIERFLOW_LANG": "zh-CN"}, "show", rid))
    assert "此工单的流程已不再保存" in gone and "可办理：-" in gone, gone
    assert "签收" in gone and "called the CFO" in gone  # the audit trail, from the read model


async def _has(found: Awaitable[list[str]], item: str) -> bool:
    return item in await found


async def test_cli_submit_by_flags_names_its_channel(api_url: str, cli_env: dict[str, str]) -> None:
    """A caseworker registers what came to the window (by default) or on the phone; the
    request does not claim to come from the enterprise's online portal."""
    env = cli_env
    await sign_in_caseworker(env, api_url, "cli-walk-in")
    req = make_request()
    flags = [
        "submit",
        "--uscc",
        req.enterprise.uscc,
        "--name",
        req.enterprise.name,
        "--division",
        req.enterprise.division_code,
        "--category",
        "financing",
        "--subject",
        req.subject,
    ]
    for extra, channel in (([], "walk-in"), (["--channel", "hotline"], "hotline")):
        rid = json.loads(ok(await run(env, *flags, *extra, "--json")))["request_id"]

        async def recorded(rid: str = rid) -> dict | None:
            shown = await run(env, "show", rid, "--json")
            return json.loads(shown.output)["request"] if shown.exit_code == 0 else None

        row = await eventually(recorded, what=f"{rid} in the read model")
        assert row["channel"] == channel
    # 待签收 until someone signs for it, who then handles it (承办): --unsigned, --mine

    async def listed(*flags: str) -> list[str]:
        page = json.loads(ok(await run(env, "queue", *flags, "--json")))
        return [item["request_id"] for item in page["items"]]

    assert rid in await listed("--unsigned") and rid not in await listed("--mine")
    ok(await run(env, "act", rid, "sign_for"))
    mine = await eventually(lambda: _has(listed("--mine"), rid), what=f"{rid} is mine")
    assert mine and rid not in await listed("--unsigned")
    assert rid not in await listed("--awaiting", "follow_up")
    assert rid not in await listed("--escalated") and rid in await listed()  # never escalated
    # a walk-in for an enterprise 拱墅区 serves: where it went, since it is not theirs to read;
    # without --division, the one its USCC was registered in (characters 3-8: 330105)
    there = make_request(division_code="330105")
    flags = [
        "submit",
        "--uscc",
        there.enterprise.uscc,
        "--name",
        there.enterprise.name,
        "--subject",
        there.subject,
    ]
    said = ok(await run(env | {"TIERFLOW_LANG": "zh-CN"}, *flags))
    assert "：已转由 杭州市拱墅区中小企业服务中心 办理，不在您的待办中" in said, said


async def test_cli_show_says_until_when_a_request_waits(
    api_url: str, cli_env: dict[str, str], stack
) -> None:
    """挂起 and 待企业补充 pause the clocks: `show` says when the suspension ends and by when the
    enterprise replies, not only that the clocks are paused."""
    await sign_in_caseworker(cli_env, api_url, "cli-wait")
    env = cli_env | {"TIERFLOW_LANG": "zh-CN"}
    req = make_request()
    rid = req.request_id
    handle = await start_request(stack, req)
    ok(await run(env, "act", rid, "acknowledge"))
    ok(
        await run(
            env, "act", rid, "suspend", "--text", "等待检测报告",
            "-f", "suspend_reason=third_party", "-f", "days=2",
        )
    )  # fmt: skip
    city = supervisor(Tier.MUNICIPAL, "330100", "zj-330100-sme")
    await act(handle, ActionKind.APPROVE_SUSPENSION, city, text="同意")
    suspended = ok(await run(env, "show", rid))
    assert re.search(r"  挂起至 \d{4}年\d+月\d+日 \d\d:\d\d，届时恢复计时", suspended), suspended
    ok(await run(env, "act", rid, "resume"))
    ok(await run(env, "act", rid, "request_info", "--text", "请补充近三年财务报表"))
    waiting = ok(await run(env, "show", rid))
    assert re.search(r"  企业补充：截止 \d{4}年\d+月\d+日 \d\d:\d\d", waiting), waiting
    assert "届时恢复计时" not in waiting  # resumed: no longer suspended


async def test_cli_without_login_or_with_a_bad_token(api_url: str, cli_env: dict[str, str]) -> None:
    result = await run(cli_env, "queue")
    assert result.exit_code == 1 and "not logged in" in result.output
    result = await run(cli_env, "login", "--url", api_url, "--token", "tf_not-a-token")
    assert result.exit_code == 1 and "refused the token" in result.output
    assert "unknown" in result.output  # the API's own reason, not a guess
    # in the reader's language, the reason too
    chinese = {**cli_env, "TIERFLOW_LANG": "zh-CN"}
    result = await run(chinese, "login", "--url", api_url, "--token", "tf_not-a-token")
    assert result.exit_code == 1
    assert "API 拒绝了该令牌：令牌无效：没有签发过这个令牌" in result.output, result.output


async def test_cli_login_keeps_only_a_token_the_api_took(
    api_url: str, cli_env: dict[str, str]
) -> None:
    """A URL that is not the API (another path, a page) saves nothing and says so; a token
    pasted with a line break is taken without it; the credentials are the user's alone; an id
    that would call another address is refused before any call."""
    await sign_in_caseworker(cli_env, api_url, "cw-login")
    saved = Path(cli_env["TIERFLOW_HOME"]) / "credentials.json"
    before = saved.read_text()
    token = json.loads(before)["token"]
    wrong = await run(cli_env, "login", "--url", api_url + "/not-the-api", "--token", token)
    assert wrong.exit_code == 1 and "answered HTTP 404" in wrong.output, wrong.output
    assert "Nothing was saved" in wrong.output and saved.read_text() == before
    pasted = await run(cli_env, "login", "--url", api_url, "--token", token + "\r\n")
    ok(pasted)
    assert json.loads(saved.read_text())["token"] == token
    assert (saved.stat().st_mode & 0o777, saved.parent.stat().st_mode & 0o777) == (0o600, 0o700)
    other = await run(cli_env, "show", "r1/../r2")
    assert other.exit_code == 2 and "is not a request id" in other.output
    # a token sent in clear to another host: refused before any call, unless asked for
    clear = await run(cli_env, "login", "--url", "http://tierflow.example.cn", "--token", token)
    assert clear.exit_code == 1 and "plain HTTP to another host" in clear.output
    assert saved.read_text() == json.dumps({"url": api_url, "token": token})


def test_credentials_path_follows_tierflow_home(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIERFLOW_HOME", "/srv/tf")
    assert credentials_path() == Path("/srv/tf/credentials.json")
    monkeypatch.delenv("TIERFLOW_HOME")
    assert credentials_path() == Path.home() / ".config" / "tierflow" / "credentials.json"


def test_countdown_formats(monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import UTC, datetime

    now = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)
    monkeypatch.setenv("TIERFLOW_LANG", "zh-CN")
    assert countdown("2026-12-01T06:06:00+00:00", now) == "截止 2026年12月1日 14:06"
    assert countdown("2026-12-01T05:00:00+00:00", now) == "已超时（截止 2026年12月1日 13:00）"
    monkeypatch.setenv("TIERFLOW_LANG", "en")
    assert countdown("2026-12-01T06:06:00+00:00", now) == "due 2026-12-01 14:06"
    assert countdown("2025-10-08T10:00:00+00:00", now) == "overdue (due 2025-10-08 18:00)"
    assert countdown(None, now) == "-"


def test_a_queue_rows_deadline_is_short_enough_for_its_column(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The queue's 截止时间 column: the day and time (the year only when it is not this
    year's), 已超时 once passed; the follow-up's (待回访) when no unit clock runs."""
    from datetime import UTC, datetime

    now = datetime(2026, 12, 30, 6, 0, tzinfo=UTC)
    monkeypatch.setenv("TIERFLOW_LANG", "zh-CN")

    def row(
        due: str | None, follow_up: str | None = None, paused: str | None = None
    ) -> dict[str, str | None]:
        return {"next_due_at": due, "follow_up_due_at": follow_up, "paused_until": paused}

    assert table_deadline(row("2026-12-31T01:30:00+00:00"), now) == "12月31日 09:30"
    assert table_deadline(row("2027-01-04T01:30:00+00:00"), now) == "2027年1月4日 09:30"
    assert table_deadline(row("2026-12-29T01:30:00+00:00"), now) == "已超时 12月29日 09:30"
    assert table_deadline(row(None, "2026-12-31T01:30:00+00:00"), now) == "回访 12月31日 09:30"
    assert table_deadline(row(None), now) == "-"
    assert table_deadline(row(None, None, "2027-01-04T09:30:00+00:00"), now) == (
        "暂停至 2027年1月4日 17:30"  # 挂起 or 待企业补充: when the pause ends
    )
    monkeypatch.setenv("TIERFLOW_LANG", "en")
    assert table_deadline(row("2026-12-31T01:30:00+00:00"), now) == "12-31 09:30"
    assert table_deadline(row("2026-12-29T01:30:00+00:00"), now) == "overdue 12-29 09:30"
