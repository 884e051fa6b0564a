"""The institution directory as CSV, for operators: export, and import with validation.

One row per institution: ``id,name,tier,division_code,categories,contact,generated``;
``categories`` is a ``;``-separated list (empty: every category). An import checks every row
and reports all problems at once, each with its line number; nothing is written unless the
whole file is valid. Generated rows (``generated`` true) are skipped on import: placeholders
are made afresh for whatever division the named institutions leave uncovered.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from pydantic import ValidationError

from schemas.domain import Category, Tier
from tierflow.directory import (
    GENERATED_PREFIX,
    Directory,
    DirectoryEntry,
    DirectoryError,
    DirectoryFile,
    ImportRecord,
    unknown_division,
)

COLUMNS = ("id", "name", "tier", "division_code", "categories", "contact", "generated")
REQUIRED = ("id", "name", "tier", "division_code")
TRUE = {"1", "true", "yes", "是"}


def export_csv(entries: Iterable[DirectoryEntry]) -> str:
    """Return the entries as CSV text (header first)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for e in entries:
        cats = ";".join(c.value for c in e.categories)
        writer.writerow(
            [e.id, e.name, e.tier.value, e.division_code, cats, e.contact or "", int(e.generated)]
        )
    return out.getvalue()


def _row_entry(row: dict[str, str], line: int) -> tuple[DirectoryEntry | None, list[str]]:
    problems = [
        f"line {line}: {name}: missing"
        + (" (county, municipal, provincial or national)" if name == "tier" else "")
        for name in REQUIRED
        if not (row.get(name) or "").strip()
    ]
    if problems:
        return None, problems
    cats = [c.strip() for c in (row.get("categories") or "").split(";") if c.strip()]
    known = {c.value for c in Category}
    bad = [c for c in cats if c not in known]
    if bad:
        return None, [f"line {line}: categories: unknown {', '.join(bad)} (known: {sorted(known)})"]
    tier = row["tier"].strip()
    if tier not in {t.value for t in Tier}:
        return None, [
            f"line {line}: tier: {tier!r} is not county, municipal, provincial or national"
        ]
    try:
        entry = DirectoryEntry(
            id=row["id"].strip(),
            name=row["name"].strip(),
            tier=Tier(tier),
            division_code=row["division_code"].strip(),
            categories=tuple(Category(c) for c in cats),
            contact=(row.get("contact") or "").strip() or None,
            generated=(row.get("generated") or "").strip().lower() in TRUE,
        )
    except ValidationError as exc:
        msgs = [
            f"line {line}: {'.'.join(str(p) for p in e['loc']) or 'row'}: "
            f"{e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors()
        ]
        return None, msgs
    return entry, []


def parse_csv(text: str, source: str = "directory.csv") -> tuple[list[DirectoryEntry], int]:
    """Return (named entries, generated rows skipped); raise DirectoryError naming each problem."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = reader.fieldnames or []
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise DirectoryError(f"{source}: header: missing column(s) {', '.join(missing)}")
    problems: list[str] = []
    entries: list[DirectoryEntry] = []
    first_line: dict[str, int] = {}
    skipped = 0
    for row in reader:
        line = reader.line_num
        entry, found = _row_entry(row, line)
        problems += found
        if entry is None:
            continue
        if entry.generated:
            skipped += 1
            continue
        if entry.id.startswith(GENERATED_PREFIX):
            problems.append(
                f"line {line}: id {entry.id!r}: ids starting {GENERATED_PREFIX!r} "
                "are reserved for generated entries"
            )
            continue
        if entry.id in first_line:
            problems.append(
                f"line {line}: id {entry.id!r} appears more than once (first on line "
                f"{first_line[entry.id]})"
            )
            continue
        first_line[entry.id] = line
        why = unknown_division(entry)
        if why:
            problems.append(f"line {line}: {why}")
            continue
        entries.append(entry)
    if problems:
        raise DirectoryError("\n".join(f"{source}: {p}" for p in problems))
    if not any(e.tier is Tier.NATIONAL and e.is_general for e in entries):
        raise DirectoryError(
            f"{source}: no general national institution (tier national, division 000000, "
            "no categories): the top of every route would be a generated placeholder"
        )
    return entries, skipped


def import_csv(
    text: str, target: Path, version: str, source: str = "directory.csv"
) -> tuple[Directory, int]:
    """Validate CSV text and write it as the directory JSON at ``target``; return it and skips.

    The file is replaced atomically, so a worker that reloads it sees the old or the new one.
    """
    entries, skipped = parse_csv(text, source)
    imports: list[ImportRecord] = []
    if target.exists():
        try:
            imports = DirectoryFile.model_validate_json(target.read_text("utf-8")).imports
        except ValidationError:
            imports = []
    if any(r.version == version for r in imports):
        raise DirectoryError(f"version {version!r} was imported before; choose a new version")
    at = datetime.now(UTC).isoformat(timespec="seconds")
    imports.append(ImportRecord(version=version, at=at, source=source, institutions=len(entries)))
    doc = DirectoryFile(version=version, institutions=entries, imports=imports)
    body = doc.model_dump(mode="json", exclude_defaults=True)
    body["imports"] = [r.model_dump() for r in imports]
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text(json.dumps(body, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, target)
    return Directory.covering(entries, version), skipped
