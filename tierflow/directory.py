"""The institution directory: which institution serves (tier, division, category).

Routing up the tiers is computed from the enterprise's division code (county -> city ->
province -> national); at each tier an institution specialised in the category wins over a
general one (``categories`` empty). The packaged ``tierflow/data/directory.json`` holds the
named institutions (national and provincial centres, Zhejiang and Jiangsu); ``covering`` adds one
``generated`` general institution for every other division of ``schemas.divisions``, so every
county routes at all four tiers. ``tierflow db seed`` copies the result into the ``institution``
table.
"""

from __future__ import annotations

import functools
import json
import logging
import os
from collections import defaultdict
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from sqlmodel import Session, select

from schemas.divisions import DIVISION_INFO, current_code
from schemas.domain import Category, Tier
from schemas.edge import INSTITUTION_ID_PATTERN, full_match
from schemas.enterprise import DivisionCode, division_for_tier, division_tier
from schemas.lifecycle import Institution, TargetAnswer, TargetCheck, Wording
from tierflow.db.models import InstitutionRow
from tierflow.i18n import N_, Said, os_reason

log = logging.getLogger(__name__)

PACKAGED_DIRECTORY = "directory.json"
GENERATED_PREFIX = "gen-"  # ids of generated entries; reserved, so the DB keeps the flag
GENERATED_SUFFIX = "中小企业服务机构（系统生成）"
# A new entry's id must be one the API's filters, a reassignment and the console's links take
# (``INSTITUTION_ID_PATTERN``). Versions recorded before the rule keep loading as they are.
BAD_ID = N_("id %(id)s must be 1-64 letters, digits or _ . : -, starting with a letter or digit")


def is_institution_id(value: str) -> bool:
    """Whether ``value`` may be a new entry's id (``INSTITUTION_ID_PATTERN``)."""
    return full_match(INSTITUTION_ID_PATTERN, value)


class DirectoryError(ValueError):
    """A directory that cannot be read or does not validate; the message names the entry.

    ``problems`` lists what a CSV import found, one per row and field (empty otherwise), for
    callers that show them in another language (the console).
    """

    def __init__(self, message: str, problems: Sequence[Any] = ()) -> None:
        super().__init__(message)
        self.problems = list(problems)


def unreadable(path: Path, exc: OSError) -> DirectoryError:
    """The directory file at ``path`` cannot be read (``exc`` says why)."""
    cannot = N_("%(path)s: cannot read directory: %(reason)s")
    return DirectoryError(Said(cannot, path=str(path), reason=os_reason(exc)))


class DirectoryEntry(BaseModel):
    """One institution with the categories it serves (empty: every category)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=200)
    tier: Tier
    division_code: DivisionCode
    categories: tuple[Category, ...] = ()
    contact: str | None = Field(default=None, max_length=200)
    generated: bool = False  # a placeholder per division until real data is imported

    @model_validator(mode="after")
    def _tier_matches_division(self) -> DirectoryEntry:
        named = division_tier(self.division_code)
        if named is not self.tier:
            raise ValueError(
                f"tier is {self.tier.value} but division_code {self.division_code} "
                f"names a {named.value} division"
            )
        return self

    @property
    def is_general(self) -> bool:
        return not self.categories

    def serves(self, category: Category) -> bool:
        return self.is_general or category in self.categories

    def institution(self) -> Institution:
        return Institution(
            id=self.id, name=self.name, tier=self.tier, division_code=self.division_code
        )


class Division(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    code: DivisionCode
    name: str = Field(min_length=1)


class ImportRecord(BaseModel):
    """One ``tierflow directory import``: which version, when, from which file."""

    model_config = ConfigDict(extra="forbid")

    version: str
    at: str
    source: str
    institutions: int


class DirectoryFile(BaseModel):
    """The JSON document: a version, the institutions and the imports that made it."""

    model_config = ConfigDict(extra="forbid")

    version: str = Field(min_length=1)
    note: str = ""
    divisions: list[Division] = Field(default_factory=list)  # unused: see schemas.divisions
    institutions: list[DirectoryEntry]
    imports: list[ImportRecord] = Field(default_factory=list)


@functools.cache  # divisions are frozen: every directory shares them
def national_divisions() -> tuple[Division, ...]:
    """Return every division of the GB/T 2260 data (schemas.divisions), national first."""
    return tuple(Division(code=i.code, name=i.name) for i in DIVISION_INFO.values())


def division_place(code: str) -> str | None:
    """Return where a division is, by name (杭州市拱墅区), for people who read it next to its
    code; None for a code the data lacks (a retired one)."""
    return full_name(code) if code in DIVISION_INFO else None


def full_name(code: str) -> str:
    """Return a division's name with its city (and province where the city is not a real one)."""
    info = DIVISION_INFO[code]
    if info.level != Tier.COUNTY.value or info.parent is None:
        if info.code[2:] != "0000" and info.name == DIVISION_INFO[code[:2] + "0000"].name:
            return f"{info.name}市级"  # 110100 北京市 under 110000 北京市
        return info.name
    city = DIVISION_INFO[info.parent]
    outer = DIVISION_INFO[code[:2] + "0000"] if city.kind == "省直辖" else city
    return outer.name.removesuffix("直辖县级行政区划") + info.name


@functools.cache  # entries are frozen: every directory shares the same placeholders
def generated_entry(code: str) -> DirectoryEntry:
    """Return the placeholder general institution of one division."""
    # built without validation: ~3,200 of them at every load, from already-checked data
    return DirectoryEntry.model_construct(
        id=f"{GENERATED_PREFIX}{code}",
        name=f"{full_name(code)}{GENERATED_SUFFIX}",
        tier=division_tier(code),
        division_code=code,
        categories=(),
        contact=None,
        generated=True,
    )


def unknown_division(entry: DirectoryEntry) -> Said | None:
    """Say why an entry's division is not one of the current division data, or None."""
    code = entry.division_code
    if code in DIVISION_INFO:
        return None
    if current_code(code) != code:
        retired = N_("division_code %(code)s is retired; use its successor %(successor)s")
        return Said(retired, code=code, successor=current_code(code))
    return Said(N_("division_code %(code)s is not a division of the GB/T 2260 data"), code=code)


class Directory:
    """An in-memory index of the directory by (tier, division code)."""

    def __init__(
        self,
        entries: list[DirectoryEntry],
        divisions: Sequence[Division] | None = None,
        version: str = "",
    ) -> None:
        seen: set[str] = set()
        for entry in entries:
            if entry.id in seen:
                twice = N_("institution id %(id)r appears more than once")
                raise DirectoryError(Said(twice, id=entry.id))
            seen.add(entry.id)
        self.entries = list(entries)
        self.divisions = list(divisions or [])
        self.version = version
        self._imports: list[ImportRecord] = []
        self._by_id = {e.id: e for e in entries}
        self._at: dict[tuple[Tier, str], list[DirectoryEntry]] = defaultdict(list)
        for entry in entries:
            self._at[(entry.tier, entry.division_code)].append(entry)

    # ------------------------------------------------------------------ loading
    @classmethod
    def parse(cls, text: str, source: str = PACKAGED_DIRECTORY) -> Directory:
        """Parse directory JSON; raise DirectoryError naming each bad field. A division code
        retired since the file was written is read as its successor: newer division data must
        not lock out the versions recorded before it (a CSV import still refuses one)."""
        try:
            data: Any = json.loads(text)
        except json.JSONDecodeError as exc:
            invalid = N_("%(source)s: invalid JSON: %(error)s")  # the error: json's (English)
            raise DirectoryError(Said(invalid, source=source, error=str(exc))) from None
        try:
            doc = DirectoryFile.model_validate(data)
        except ValidationError as exc:
            lines = [
                f"{source}: {'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
                for err in exc.errors()
            ]
            raise DirectoryError("\n".join(lines)) from None
        for i, entry in enumerate(doc.institutions):
            successor = current_code(entry.division_code)
            if entry.division_code not in DIVISION_INFO and successor != entry.division_code:
                # retired since it was written (a merger in newer division data): the unit
                # serves its successor, so a recorded version still loads (imports refuse it)
                log.warning(
                    "%s: %s's division %s is retired; read as its successor %s",
                    source,
                    entry.id,
                    entry.division_code,
                    successor,
                )
                entry = doc.institutions[i] = entry.model_copy(update={"division_code": successor})
            problem = unknown_division(entry)
            if problem is None and entry.id.startswith(GENERATED_PREFIX):
                reserved = N_("id %(id)r: ids starting %(prefix)r are reserved")
                problem = Said(reserved, id=entry.id, prefix=GENERATED_PREFIX)
            if problem:
                where = N_("%(source)s: institutions.%(index)d (%(id)s): %(problem)s")
                raise DirectoryError(
                    Said(where, source=source, index=i, id=entry.id, problem=problem)
                )
        found = cls.covering(doc.institutions, doc.version)
        found._imports = list(doc.imports)
        return found

    @classmethod
    def covering(cls, entries: list[DirectoryEntry], version: str = "") -> Directory:
        """Return a directory of ``entries`` plus a generated entry for every uncovered division.

        A division is covered when it has a general institution (one serving every category).
        """
        named = [e for e in entries if not e.generated]  # generated ones are made afresh
        general = {(e.tier, e.division_code) for e in named if e.is_general}
        filled = [
            generated_entry(code)
            for code, info in DIVISION_INFO.items()
            if (Tier(info.level), code) not in general
        ]
        return cls(named + filled, national_divisions(), version)

    @classmethod
    def load(cls, path: Path | None = None) -> Directory:
        """Load ``path``, or the packaged demo directory when ``path`` is None."""
        if path is None:
            text = resources.files("tierflow.data").joinpath(PACKAGED_DIRECTORY).read_text("utf-8")
            return cls.parse(text, PACKAGED_DIRECTORY)
        try:
            text = Path(path).read_text("utf-8")
        except OSError as exc:
            raise unreadable(path, exc) from None
        return cls.parse(text, Path(path).name)

    @classmethod
    def from_db(cls, engine: Any) -> Directory:
        """Load the directory from the ``institution`` table (as ``tierflow db seed`` left it)."""
        with Session(engine) as session:
            rows = session.exec(select(InstitutionRow).order_by(InstitutionRow.id)).all()
            entries = [
                DirectoryEntry.model_validate(
                    {**row.model_dump(), "generated": row.id.startswith(GENERATED_PREFIX)}
                )
                for row in rows
            ]
        return cls.covering(entries, version="db")

    # ------------------------------------------------------------------ queries
    def current(self) -> Directory:
        """A fixed directory is its own source (``DirectorySource``): it never changes."""
        return self

    def route(self, division_code: str, category: Category, tier: Tier) -> Institution | None:
        """Return who serves ``category`` for ``division_code`` at ``tier``, or None."""
        code = current_code(division_code)  # a retired code routes as its successor
        entries = self.entries_at(tier, division_for_tier(code, tier))
        specialised = [e for e in entries if not e.is_general and category in e.categories]
        general = [e for e in entries if e.is_general]
        chosen = specialised or general
        return chosen[0].institution() if chosen else None

    def entries_at(self, tier: Tier, division_code: str) -> list[DirectoryEntry]:
        return list(self._at.get((tier, division_code), []))

    def institutions_at(self, tier: Tier, division_code: str) -> list[Institution]:
        """Return every institution at ``tier`` for the division (not mapped up the tiers)."""
        return [e.institution() for e in self.entries_at(tier, division_code)]

    def get(self, institution_id: str) -> DirectoryEntry | None:
        return self._by_id.get(institution_id)

    def check_target(self, check: TargetCheck) -> TargetAnswer:
        """Whether a request may be handed to ``check.institution_id`` (a reassignment)."""
        entry = self.get(check.institution_id)
        said: Said | None = None
        if entry is None:
            said = Said(
                N_("institution_id: %(id)s is not in the directory"), id=check.institution_id
            )
        elif entry.tier is not check.tier:
            said = Said(
                N_("institution_id: %(id)s is a %(its_tier)s institution; the request is at the "
                   "%(tier)s tier"),
                id=check.institution_id,
                its_tier=entry.tier.value,
                tier=check.tier.value,
            )  # fmt: skip
        elif (category := check.category) is not None and not entry.serves(category):
            said = Said(
                N_("institution_id: %(id)s does not serve %(category)s"),
                id=check.institution_id,
                category=category.value,
            )
        elif not entry.division_code.startswith(check.region_prefix):
            said = Said(
                N_("institution_id: %(id)s (%(division)s) lies outside your region %(region)s"),
                id=check.institution_id,
                division=entry.division_code,
                region=check.region_prefix or "national",
            )
        if entry is None or said is not None:
            return TargetAnswer(refusal=said, wording=Wording.of(said))
        return TargetAnswer(institution=entry.institution())

    def division_name(self, code: str) -> str | None:
        info = DIVISION_INFO.get(code)
        return info.name if info is not None else None

    def imports_log(self) -> list[ImportRecord]:
        """Return the imports recorded in the file this directory was loaded from."""
        return list(self._imports)

    def generated(self) -> list[DirectoryEntry]:
        """Return the placeholder entries (divisions that still need a real institution)."""
        return [e for e in self.entries if e.generated]

    def counties(self) -> list[Division]:
        """Return the county divisions the directory covers (where requests come from)."""
        return [d for d in self.divisions if division_tier(d.code) is Tier.COUNTY]


class DirectorySource(Protocol):
    """Where the directory to route new requests with comes from: a fixed ``Directory``, a
    ``DirectoryWatch`` on a file, or the newest version recorded in the database
    (``tierflow.directory_source.RecordedDirectory``). ``current`` is called on the worker's
    event loop, so it never waits for a database."""

    def current(self) -> Directory: ...


class DirectoryWatch:
    """A directory file, reloaded when the file changes: what a worker routes with while the
    database holds no directory version (``tierflow.directory_source.RecordedDirectory``).

    An import replaces the file atomically; the next call sees the new version, so new
    requests and later escalations use it without a restart. Routing already
    done stays in each workflow's history and state. A file that no longer validates is
    reported and the previous directory is kept.
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._stamp = self._stat()
        self._directory = Directory.load(path)
        self.error: str | None = None

    def _stat(self) -> tuple[int, int] | None:
        if self.path is None:
            return None
        st = os.stat(self.path)
        return (st.st_mtime_ns, st.st_size)

    def current(self) -> Directory:
        """Return the directory, reloading it first if the file changed since the last call."""
        try:
            stamp = self._stat()
        except OSError as exc:
            self.error = f"{self.path}: {exc.strerror or exc}"
            return self._directory
        if stamp != self._stamp:
            self._stamp = stamp
            try:
                self._directory = Directory.load(self.path)
                self.error = None
                log.info("directory %s reloaded: version %s", self.path, self._directory.version)
            except DirectoryError as exc:
                self.error = str(exc)
                log.error(
                    "directory %s not reloaded, keeping %s: %s",
                    self.path,
                    self._directory.version,
                    exc,
                )
        return self._directory
