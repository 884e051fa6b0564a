"""Imports point one way: processes (``workers/``) are leaves, the library never reaches up,
and no process reaches into another.

Read from the source with ``ast`` (nothing is imported), so a violation names file and line.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = ("api", "tierflow", "schemas", "workflows", "activities")
COMMANDS = ROOT / "tierflow" / "cli"  # the console commands start the processes
# workers/ modules every process may import: they belong to no process (logging setup)
SHARED_BY_PROCESSES = {"runtime"}


def _modules(*packages: str) -> Iterator[Path]:
    for package in packages:
        for path in sorted((ROOT / package).rglob("*.py")):
            if COMMANDS not in path.parents and "migrations" not in path.parts:
                yield path


def _imports(path: Path) -> Iterator[tuple[int, str, bool]]:
    """Yield (line, imported module, whether the import is inside a function) per import."""
    tree = ast.parse(path.read_text("utf-8"), str(path))
    nested: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            nested |= {id(n) for n in ast.walk(node) if n is not node}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module == "workers":
            names = [f"workers.{alias.name}" for alias in node.names]  # from workers import x
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        for name in names:
            yield node.lineno, name, id(node) in nested


def _where(path: Path, line: int, name: str) -> str:
    return f"{path.relative_to(ROOT)}:{line} imports {name}"


def _top(name: str) -> str:
    return name.split(".")[0]


def test_nothing_outside_the_processes_imports_a_process_module() -> None:
    found = [
        _where(path, line, name)
        for path in _modules(*LIBRARY)
        for line, name, _ in _imports(path)
        if _top(name) == "workers"
    ]
    assert found == []


def _process(module: str) -> str | None:
    """The process a ``workers.*`` module belongs to: ``workers.ingress.consumer`` -> ingress."""
    parts = module.split(".")
    if parts[0] != "workers" or len(parts) < 2 or parts[1] in SHARED_BY_PROCESSES:
        return None
    return parts[1]


def test_a_process_imports_nothing_of_another_process() -> None:
    """What two processes share lives in the library (``tierflow/``), not in one of them."""
    found = []
    for path in _modules("workers"):
        own = path.relative_to(ROOT / "workers").parts[0].removesuffix(".py")
        for line, name, _ in _imports(path):
            other = _process(name)
            if other is not None and other != own:
                found.append(_where(path, line, name))
    assert found == []


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("schemas", {"tierflow", "workflows", "activities", "api", "workers"}),
        ("tierflow", {"workflows", "activities", "api", "workers"}),
    ],
)
def test_lower_layers_do_not_import_upper_ones(package: str, forbidden: set[str]) -> None:
    found = [
        _where(path, line, name)
        for path in _modules(package)
        for line, name, _ in _imports(path)
        if _top(name) in forbidden
    ]
    assert found == []


def test_no_function_level_imports_in_the_api_library_and_processes() -> None:
    paths = [*_modules("api", "tierflow", "schemas")]
    paths += [ROOT / "workers" / name for name in ("worker.py", "api_server.py", "runtime.py")]
    found = [
        _where(path, line, name)
        for path in paths
        for line, name, inside in _imports(path)
        if inside
    ]
    assert found == []
