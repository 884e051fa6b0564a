"""The GB/T 2260 division codes tierflow knows, and whether a code is one of them.

Every province-, prefecture- and county-level division of the mainland, and 000000 for the
national tier, read once at import from ``tierflow/data/divisions.json`` (generated from a
maintained package by ``tierflow directory update-divisions``; its ``source`` header says which
package, version and date). Retired codes (``division_successors.json``, hand-kept) are still
accepted, because older USCCs carry them, and route as their successor. The workflow imports
this module passed through the sandbox, so the file is read outside any workflow.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any, NamedTuple

from schemas.messages import N_, TranslatableError

DATA_PACKAGE = "tierflow.data"
DIVISIONS_FILE = "divisions.json"
SUCCESSORS_FILE = "division_successors.json"


class DivisionInfo(NamedTuple):
    code: str
    name: str
    level: str  # a Tier value: national, provincial, municipal, county
    parent: str | None
    kind: str  # the source's type: 市辖区, 县, 县级市, 地级市, 自治州, ...


def _read(name: str) -> Any:
    return json.loads(resources.files(DATA_PACKAGE).joinpath(name).read_text("utf-8"))


_DOC = _read(DIVISIONS_FILE)
SOURCE: dict[str, str] = dict(_DOC["source"])
DIVISION_INFO: dict[str, DivisionInfo] = {
    r["code"]: DivisionInfo(r["code"], r["name"], r["level"], r["parent"], r.get("type", ""))
    for r in _DOC["divisions"]
}
# code -> name (GB/T 2260), current codes only
DIVISIONS: dict[str, str] = {code: info.name for code, info in DIVISION_INFO.items()}
# retired code -> current code; only successors that are themselves current are kept
SUCCESSORS: dict[str, str] = {
    s["code"]: s["successor"]
    for s in _read(SUCCESSORS_FILE)["successors"]
    if s["successor"] in DIVISIONS and s["code"] not in DIVISIONS
}
RETIRED_NAMES: dict[str, str] = {
    s["code"]: s["name"] for s in _read(SUCCESSORS_FILE)["successors"] if s["code"] in SUCCESSORS
}
del _DOC


def current_code(code: str) -> str:
    """Return the code that routes for ``code``: its successor if it was retired, else itself."""
    return SUCCESSORS.get(code, code)


def check_known_division(code: str) -> str:
    """Return ``code`` if it is a current or retired division; raise ValueError otherwise."""
    if code not in DIVISIONS and code not in SUCCESSORS:
        raise TranslatableError(
            N_(
                "division code %(code)r is not in the division data (GB/T 2260, mainland, "
                "%(package)s %(version)s; and 000000)"
            ),
            code=code,
            package=SOURCE.get("package", "?"),
            version=SOURCE.get("version", "?"),
        )
    return code
