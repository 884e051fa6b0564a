"""The institution directory as CSV, for operators: export, and import with validation.

One row per institution: ``id,name,tier,division_code,categories,contact,generated``;
``categories`` is a ``;``-separated list (empty: every category). An import checks every row
and reports all problems at once, each with its line number; nothing is written unless the
whole file is valid. Generated rows (``generated`` true) are skipped on import: placeholders
are made afresh for whatever division the named institutions leave uncovered.

Each problem is a ``Problem`` (line, field, a ``kind`` code and its parameters) as well as
English text; ``DirectoryError.problems`` carries them, and ``worded`` says them in a reader's
language (FIELDS and MESSAGES: the one home of that wording, for the console's page and the CLI).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pydantic import ValidationError

from schemas.divisions import DIVISION_INFO, current_code
from schemas.domain import Category, Tier
from schemas.enterprise import division_tier
from schemas.messages import Catalog
from tierflow.csv_text import cell, uncell
from tierflow.directory import (
    BAD_ID,
    GENERATED_PREFIX,
    Directory,
    DirectoryEntry,
    DirectoryError,
    DirectoryFile,
    ImportRecord,
    is_institution_id,
)
from tierflow.i18n import N_, Said
from tierflow.i18n.labels import label

COLUMNS = ("id", "name", "tier", "division_code", "categories", "contact", "generated")
REQUIRED = ("id", "name", "tier", "division_code")
TRUE = {"1", "true", "yes", "是"}
TIERS = "county, municipal, provincial or national"

# A problem's column, as people read it.
FIELDS = {
    "id": N_("institution id"),
    "name": N_("name"),
    "tier": N_("tier"),
    "division_code": N_("division code"),
    "categories": N_("categories"),
    "contact": N_("contact"),
    "generated": N_("generated"),
    "row": N_("tier and division code"),
    "header": N_("header"),
    "file": N_("whole file"),
    "version": N_("version"),
}
# A directory version as an admin names it (CLI and console alike; the column holds 64)
VERSION_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}"
# What is wrong, by ``Problem.kind``; the values are the problem's params.
MESSAGES = {
    "missing_column": N_("the header lacks the column(s) %(columns)s"),
    "unknown_column": N_(
        "the header names column(s) %(columns)s, which the directory does not have (its "
        "columns: %(known)s); a misspelt one would be dropped"
    ),
    "generated_named": N_(
        "marked generated, but id %(id)s is not a generated placeholder's (%(prefix)s…): a "
        "generated row is skipped, so the institution would be removed"
    ),
    "missing": N_("missing: this column is required"),
    "missing_tier": N_("missing: county, municipal, provincial or national"),
    "unknown_category": N_("unknown category %(values)s (known: %(known)s)"),
    "unknown_tier": N_("“%(value)s” is not a tier: county, municipal, provincial or national"),
    "tier_mismatch": N_("the tier is %(tier)s but division %(code)s is a %(named)s division"),
    "bad_division_code": N_("“%(value)s” is not a GB/T 2260 division code (6 digits)"),
    "too_long": N_("longer than %(max)s characters"),
    "invalid": N_("not valid: %(detail)s"),
    "reserved_id": N_("id %(id)s starts with %(prefix)s, which is kept for generated entries"),
    "bad_id": BAD_ID,
    "duplicate_id": N_("id %(id)s appears more than once (first on line %(first)s)"),
    "duplicate_general": N_(
        "%(id)s is a second general institution at the %(tier)s tier for division %(code)s "
        "(the first: %(first)s, line %(first_line)s): new requests would go to whichever row "
        "comes first"
    ),
    "duplicate_category": N_(
        "%(id)s is a second institution serving %(category)s at the %(tier)s tier for "
        "division %(code)s (the first: %(first)s, line %(first_line)s): new requests would go "
        "to whichever row comes first"
    ),
    "removes_in_use": N_(
        "the import leaves out %(id)s, which still has work on %(requests)s request(s) (held "
        "and not ended, co-handled, or a rectification it owes) and %(users)s user "
        "account(s): keep it in the file, or import again allowing removals (--allow-removal, "
        "or the console's box for it) once its work and people have moved"
    ),
    "retired_division": N_("division %(code)s is retired; use its successor %(successor)s"),
    "unknown_division": N_("division %(code)s is not in the GB/T 2260 division data"),
    "no_national": N_(
        "no general national institution (tier national, division 000000, no categories): "
        "the top of every route would be a generated placeholder"
    ),
    "version_exists": N_("version %(version)s was imported before; choose a new version"),
}


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an import: where (CSV line, column) and what (``kind``, params).

    ``line`` is None for the file as a whole; ``field`` is a column name, ``header``, ``row``
    (tier and division code disagree), ``file`` or ``version``. ``text`` is the English
    wording the CLI prints.
    """

    line: int | None
    field: str
    kind: str
    text: str
    params: dict[str, str] = dataclasses.field(default_factory=dict)

    def __str__(self) -> str:
        return f"line {self.line}: {self.text}" if self.line is not None else self.text


def problems_of(exc: DirectoryError) -> list[Problem]:
    """What a refused import or an unreadable directory found: the CSV's problems, else the
    error itself as one problem of the whole file (kind ``""``: worded by its message)."""
    return list(exc.problems) or [Problem(None, "file", "", exc.args[0] if exc.args else "")]


def worded(problem: Problem, catalog: Catalog) -> tuple[str, str]:
    """The problem's column and what is wrong, in ``catalog``'s language (tiers by name)."""
    params = dict(problem.params)
    for name in ("tier", "named"):
        if params.get(name) in {tier.value for tier in Tier}:
            params[name] = label(Tier(params[name]), catalog)  # type: ignore[arg-type]
    if params.get("category") in {category.value for category in Category}:
        params["category"] = label(Category(params["category"]), catalog)  # type: ignore[arg-type]
    if problem.kind in MESSAGES:
        message = str(catalog.gettext(MESSAGES[problem.kind])) % params
    else:  # not a CSV problem: the error's own message
        text = problem.text
        message = text.text(catalog) if isinstance(text, Said) else str(text)
    field = problem.field
    return (str(catalog.gettext(FIELDS[field])) if field in FIELDS else field), message


def problem_line(problem: Problem, catalog: Catalog) -> str:
    """One problem on one line, as the CLI prints it: where, which column and what."""
    field, message = worded(problem, catalog)
    said = {"line": problem.line, "field": field, "message": message}
    if problem.line is None:
        return str(catalog.gettext(N_("%(field)s: %(message)s"))) % said
    return str(catalog.gettext(N_("line %(line)d, %(field)s: %(message)s"))) % said


def export_csv(entries: Iterable[DirectoryEntry]) -> str:
    """Return the entries as CSV text (header first)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for e in entries:
        cats = ";".join(c.value for c in e.categories)
        # a name or contact a spreadsheet would run (=, +, -, @) is quoted with ', and read
        # back without it on import
        name, contact = cell(e.name), cell(e.contact)
        writer.writerow(
            [e.id, name, e.tier.value, e.division_code, cats, contact, int(e.generated)]
        )
    return out.getvalue()


def _pydantic_problem(line: int, error: dict, row: dict[str, str]) -> Problem:
    name = ".".join(str(p) for p in error["loc"]) or "row"
    msg = str(error["msg"]).removeprefix("Value error, ")
    text = f"{name}: {msg}"
    if name == "row":  # the model's check: tier and division code disagree
        code = row["division_code"].strip()
        params = {"tier": row["tier"].strip(), "code": code, "named": division_tier(code).value}
        return Problem(line, name, "tier_mismatch", text, params)
    if name == "division_code":
        return Problem(line, name, "bad_division_code", text, {"value": str(error["input"])})
    if error["type"] == "string_too_long":
        return Problem(line, name, "too_long", text, {"max": str(error["ctx"]["max_length"])})
    return Problem(line, name, "invalid", text, {"detail": msg})


def _row_entry(row: dict[str, str], line: int) -> tuple[DirectoryEntry | None, list[Problem]]:
    problems = [
        Problem(line, name, "missing_tier", f"tier: missing ({TIERS})")
        if name == "tier"
        else Problem(line, name, "missing", f"{name}: missing")
        for name in REQUIRED
        if not (row.get(name) or "").strip()
    ]
    if problems:
        return None, problems
    cats = [c.strip() for c in (row.get("categories") or "").split(";") if c.strip()]
    known = {c.value for c in Category}
    bad = [c for c in cats if c not in known]
    if bad:
        text = f"categories: unknown {', '.join(bad)} (known: {sorted(known)})"
        params = {"values": ", ".join(bad), "known": ", ".join(sorted(known))}
        return None, [Problem(line, "categories", "unknown_category", text, params)]
    tier = row["tier"].strip()
    if tier not in {t.value for t in Tier}:
        text = f"tier: {tier!r} is not {TIERS}"
        return None, [Problem(line, "tier", "unknown_tier", text, {"value": tier})]
    try:
        entry = DirectoryEntry(
            id=row["id"].strip(),
            name=uncell(row["name"].strip()),
            tier=Tier(tier),
            division_code=row["division_code"].strip(),
            categories=tuple(Category(c) for c in cats),
            contact=uncell((row.get("contact") or "").strip()) or None,
            generated=(row.get("generated") or "").strip().lower() in TRUE,
        )
    except ValidationError as exc:
        return None, [_pydantic_problem(line, dict(e), row) for e in exc.errors()]
    return entry, []


def _division_problem(entry: DirectoryEntry, line: int) -> Problem | None:
    """Why an entry's division is not one of the current division data, or None."""
    code = entry.division_code
    if code in DIVISION_INFO:
        return None
    successor = current_code(code)
    if successor != code:
        text = f"division_code {code} is retired; use its successor {successor}"
        params = {"code": code, "successor": successor}
        return Problem(line, "division_code", "retired_division", text, params)
    text = f"division_code {code} is not a division of the GB/T 2260 data"
    return Problem(line, "division_code", "unknown_division", text, {"code": code})


def _fail(source: str, problems: list[Problem]) -> DirectoryError:
    lead = f"{source}: " if source else ""
    return DirectoryError("\n".join(f"{lead}{p}" for p in problems), problems)


def parse_csv(text: str, source: str = "directory.csv") -> tuple[list[DirectoryEntry], int]:
    """Return (named entries, generated rows skipped); raise DirectoryError naming each problem."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = reader.fieldnames or []
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        columns = ", ".join(missing)
        text_ = f"header: missing column(s) {columns}"
        problem = Problem(None, "header", "missing_column", text_, {"columns": columns})
        raise _fail(source, [problem])
    unknown = [c for c in header if c not in COLUMNS]
    if unknown:
        columns, known = ", ".join(unknown), ", ".join(COLUMNS)
        text_ = f"header: unknown column(s) {columns} (the columns: {known})"
        params = {"columns": columns, "known": known}
        raise _fail(source, [Problem(None, "header", "unknown_column", text_, params)])
    problems: list[Problem] = []
    entries: list[DirectoryEntry] = []
    first_line: dict[str, int] = {}
    serving: dict[tuple[str, ...], tuple[str, int]] = {}  # who serves what where, first
    skipped = 0
    for row in reader:
        line = reader.line_num
        entry, found = _row_entry(row, line)
        problems += found
        if entry is None:
            continue
        if entry.generated and not entry.id.startswith(GENERATED_PREFIX):
            text = f"id {entry.id!r} is marked generated but is not a placeholder's id"
            params = {"id": entry.id, "prefix": GENERATED_PREFIX}
            problems.append(Problem(line, "generated", "generated_named", text, params))
            continue
        if entry.generated:
            skipped += 1
            continue
        if not is_institution_id(entry.id):
            text = BAD_ID % {"id": entry.id}
            problems.append(Problem(line, "id", "bad_id", text, {"id": entry.id}))
            continue
        if entry.id.startswith(GENERATED_PREFIX):
            problems.append(
                Problem(
                    line,
                    "id",
                    "reserved_id",
                    f"id {entry.id!r}: ids starting {GENERATED_PREFIX!r} "
                    "are reserved for generated entries",
                    {"id": entry.id, "prefix": GENERATED_PREFIX},
                )
            )
            continue
        if entry.id in first_line:
            first = first_line[entry.id]
            problems.append(
                Problem(
                    line,
                    "id",
                    "duplicate_id",
                    f"id {entry.id!r} appears more than once (first on line {first})",
                    {"id": entry.id, "first": str(first)},
                )
            )
            continue
        first_line[entry.id] = line
        why = _division_problem(entry, line) or _second_for_the_same(entry, line, serving)
        if why:
            problems.append(why)
            continue
        entries.append(entry)
    if problems:
        raise _fail(source, problems)
    if not any(e.tier is Tier.NATIONAL and e.is_general for e in entries):
        text_ = (
            "no general national institution (tier national, division 000000, "
            "no categories): the top of every route would be a generated placeholder"
        )
        raise _fail(source, [Problem(None, "file", "no_national", text_)])
    return entries, skipped


def _second_for_the_same(
    entry: DirectoryEntry, line: int, serving: dict[tuple[str, ...], tuple[str, int]]
) -> Problem | None:
    """A second general institution for a tier and division, or a second one serving a
    category there: routing takes the first row, so sorting the sheet would move requests."""
    where = (entry.tier.value, entry.division_code)
    keys: list[tuple[str, ...]] = (
        [where] if entry.is_general else [(*where, c.value) for c in entry.categories]
    )
    for key in keys:
        if key not in serving:
            continue
        first, first_line = serving[key]
        params = {
            "id": entry.id,
            "tier": entry.tier.value,
            "code": entry.division_code,
            "first": first,
            "first_line": str(first_line),
        }
        if entry.is_general:
            kind = "duplicate_general"
        else:
            kind, params["category"] = "duplicate_category", key[2]
        return Problem(line, "division_code", kind, MESSAGES[kind] % params, params)
    for key in keys:
        serving[key] = (entry.id, line)
    return None


@dataclass(frozen=True)
class PlannedImport:
    """A validated import, not written yet: the file's new text and what it holds."""

    target: Path | None  # None: recorded in the database only
    version: str
    source: str
    at: datetime
    entries: list[DirectoryEntry]
    skipped: int
    body: str  # the DirectoryFile JSON to write
    previous: str | None  # the file's text before (None: there was no file)

    def directory(self) -> Directory:
        return Directory.covering(self.entries, self.version)


def version_taken(version: str, source: str = "") -> DirectoryError:
    text = f"version {version!r} was imported before; choose a new version"
    return _fail(source, [Problem(None, "version", "version_exists", text, {"version": version})])


def plan_import(
    text: str,
    target: Path | None,
    version: str,
    source: str = "directory.csv",
    at: datetime | None = None,
    earlier: Sequence[ImportRecord] = (),
) -> PlannedImport:
    """Validate CSV text against the directory file at ``target``; return what to write.

    The new version's import log continues the file's, or ``earlier`` when there is no file
    (the log of the newest recorded version). Raise DirectoryError (with ``problems``) when a
    row is invalid or ``version`` is in that log already.
    """
    entries, skipped = parse_csv(text, source)
    previous: str | None = None
    imports: list[ImportRecord] = list(earlier)
    if target is not None and target.exists():
        previous = target.read_text("utf-8")
        try:
            imports = DirectoryFile.model_validate_json(previous).imports
        except ValidationError:
            imports = []
    if any(r.version == version for r in imports):
        raise version_taken(version)
    at = (at or datetime.now(UTC)).replace(microsecond=0)
    stamp = at.isoformat(timespec="seconds")
    imports.append(
        ImportRecord(version=version, at=stamp, source=source, institutions=len(entries))
    )
    doc = DirectoryFile(version=version, institutions=entries, imports=imports)
    body = doc.model_dump(mode="json", exclude_defaults=True)
    body["imports"] = [r.model_dump() for r in imports]
    content = json.dumps(body, ensure_ascii=False, indent=2) + "\n"
    return PlannedImport(target, version, source, at, entries, skipped, content, previous)


def replace_file(target: Path, content: str | None) -> None:
    """Replace ``target`` atomically with ``content`` (None: remove it), so a worker that
    reloads it sees the old or the new one."""
    if content is None:
        target.unlink(missing_ok=True)
        return
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text(content, encoding="utf-8")
    os.replace(tmp, target)


def import_csv(
    text: str, target: Path, version: str, source: str = "directory.csv"
) -> tuple[Directory, int]:
    """Validate CSV text and write it as the directory JSON at ``target``; return it and skips.

    The file only: ``tierflow.directory_store.import_directory`` also records the version in
    the database and refreshes the institution table.
    """
    plan = plan_import(text, target, version, source)
    replace_file(target, plan.body)
    return plan.directory(), plan.skipped
