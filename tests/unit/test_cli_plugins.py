"""The core `tierflow` command finds the dev tooling's groups through entry points, and runs
without them: the production image has no `tierflow_dev`."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Mapping
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from tierflow.cli import app, plugins

ROOT = Path(__file__).resolve().parents[2]
RUNTIME_PACKAGES = ("tierflow", "schemas", "workflows", "activities", "workers", "api")


def register_hello(root: typer.Typer, groups: Mapping[str, typer.Typer]) -> None:
    """A plugin adding a command to a core group and a group of its own."""

    def hello() -> None:
        typer.echo("hello from a plugin")

    groups["db"].command("hello")(hello)
    extra = typer.Typer()
    extra.command("ping")(lambda: typer.echo("pong"))
    root.add_typer(extra, name="extra")


def _entry(name: str, value: str) -> EntryPoint:
    return EntryPoint(name=name, value=value, group=plugins.ENTRY_POINT_GROUP)


def test_a_plugin_adds_to_core_groups_and_a_broken_one_is_skipped(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TIERFLOW_LANG", "en")  # the default, Chinese: test_cli_language
    root, db = typer.Typer(), typer.Typer()
    root.add_typer(db, name="db")
    root.command("noop")(lambda: None)
    found = [
        _entry("hello", f"{__name__}:register_hello"),
        _entry("broken", "tierflow_no_such_module.cli:register"),
    ]

    assert plugins.load(root, {"db": db}, found) == ["hello"]

    assert "command plugin 'broken'" in capsys.readouterr().err
    runner = CliRunner()
    assert runner.invoke(root, ["db", "hello"]).output == "hello from a plugin\n"
    assert runner.invoke(root, ["extra", "ping"]).output == "pong\n"


@pytest.mark.parametrize(
    "args",
    [
        ["dev", "--help"],
        ["bench", "--help"],
        ["db", "demo", "--help"],
        ["events", "schemas", "--help"],
    ],
)
def test_installed_dev_tooling_contributes_its_commands(args: list[str]) -> None:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output


def test_db_demo_prints_reproducible_requests() -> None:
    first = CliRunner().invoke(app, ["db", "demo", "2", "--seed", "3"])
    again = CliRunner().invoke(app, ["db", "demo", "2", "--seed", "3"])
    assert first.exit_code == 0, first.output
    assert first.output == again.output
    assert len(first.output.splitlines()) == 2


def test_tierflow_runs_without_the_dev_tooling() -> None:
    # sys.modules[name] = None makes every import of tierflow_dev fail, as if not installed
    script = (
        "import sys; sys.modules['tierflow_dev'] = None\n"
        "from tierflow.cli import app\n"
        "app(['--help'], prog_name='tierflow')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    for command in ("worker", "ingress", "api", "db", "events", "queue"):
        assert f" {command} " in done.stdout
    assert " dev " not in done.stdout and " bench " not in done.stdout


def test_the_runtime_never_imports_the_dev_tooling() -> None:
    offenders = []
    for package in RUNTIME_PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text("utf-8"))):
                names = (
                    [a.name for a in node.names]
                    if isinstance(node, ast.Import)
                    else [node.module or ""]
                    if isinstance(node, ast.ImportFrom)
                    else []
                )
                if any(n.split(".")[0] == "tierflow_dev" for n in names):
                    offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def test_the_image_installs_only_the_runtime() -> None:
    dockerfile = (ROOT / "deploy" / "docker" / "Dockerfile").read_text().splitlines()
    ignored = (ROOT / "deploy" / "docker" / "Dockerfile.dockerignore").read_text().split()
    steps = [line for line in dockerfile if line.lstrip().startswith(("COPY", "RUN", "&&"))]
    assert steps and not [line for line in steps if "devtools" in line]
    assert "devtools" in ignored
