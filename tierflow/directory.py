"""The institution directory: which institution serves (tier, division, category).

Routing up the tiers is computed from the enterprise's division code (county -> city ->
province -> national); at each tier an institution specialised in the category wins over a
general one (``categories`` empty). The packaged ``tierflow/data/directory.json`` is the demo
network; ``tierflow db seed`` copies it into the ``institution`` table.
"""

from __future__ import annotations

import json
from collections import defaultdict
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from sqlmodel import Session, select

from schemas.domain import Category, Tier
from schemas.enterprise import DivisionCode, division_for_tier, division_tier
from schemas.lifecycle import Institution, TargetAnswer, TargetCheck
from tierflow.db.models import InstitutionRow

PACKAGED_DIRECTORY = "directory.json"


class DirectoryError(ValueError):
    """A directory that cannot be read or does not validate; the message names the entry."""


class DirectoryEntry(BaseModel):
    """One institution with the categories it serves (empty: every category)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=200)
    tier: Tier
    division_code: DivisionCode
    categories: tuple[Category, ...] = ()
    contact: str | None = Field(default=None, max_length=200)

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


class DirectoryFile(BaseModel):
    """The JSON document: a version, the divisions it covers and the institutions."""

    model_config = ConfigDict(extra="forbid")

    version: str = Field(min_length=1)
    note: str = ""
    divisions: list[Division] = Field(default_factory=list)
    institutions: list[DirectoryEntry]


class Directory:
    """An in-memory index of the directory by (tier, division code)."""

    def __init__(
        self,
        entries: list[DirectoryEntry],
        divisions: list[Division] | None = None,
        version: str = "",
    ) -> None:
        seen: set[str] = set()
        for entry in entries:
            if entry.id in seen:
                raise DirectoryError(f"institution id {entry.id!r} appears more than once")
            seen.add(entry.id)
        self.entries = list(entries)
        self.divisions = list(divisions or [])
        self.version = version
        self._by_id = {e.id: e for e in entries}
        self._at: dict[tuple[Tier, str], list[DirectoryEntry]] = defaultdict(list)
        for entry in entries:
            self._at[(entry.tier, entry.division_code)].append(entry)

    # ------------------------------------------------------------------ loading
    @classmethod
    def parse(cls, text: str, source: str = PACKAGED_DIRECTORY) -> Directory:
        """Parse directory JSON; raise DirectoryError naming each bad field."""
        try:
            data: Any = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DirectoryError(f"{source}: invalid JSON: {exc}") from None
        try:
            doc = DirectoryFile.model_validate(data)
        except ValidationError as exc:
            lines = [
                f"{source}: {'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
                for err in exc.errors()
            ]
            raise DirectoryError("\n".join(lines)) from None
        return cls(doc.institutions, doc.divisions, doc.version)

    @classmethod
    def load(cls, path: Path | None = None) -> Directory:
        """Load ``path``, or the packaged demo directory when ``path`` is None."""
        if path is None:
            text = resources.files("tierflow.data").joinpath(PACKAGED_DIRECTORY).read_text("utf-8")
            return cls.parse(text, PACKAGED_DIRECTORY)
        try:
            text = Path(path).read_text("utf-8")
        except OSError as exc:
            raise DirectoryError(f"{path}: cannot read directory: {exc.strerror or exc}") from None
        return cls.parse(text, Path(path).name)

    @classmethod
    def from_db(cls, engine: Any) -> Directory:
        """Load the directory from the ``institution`` table (as ``tierflow db seed`` left it)."""
        with Session(engine) as session:
            rows = session.exec(select(InstitutionRow).order_by(InstitutionRow.id)).all()
            entries = [
                DirectoryEntry.model_validate(row.model_dump(), from_attributes=True)
                for row in rows
            ]
        return cls(entries, version="db")

    # ------------------------------------------------------------------ queries
    def route(self, division_code: str, category: Category, tier: Tier) -> Institution | None:
        """Return who serves ``category`` for ``division_code`` at ``tier``, or None."""
        entries = self.entries_at(tier, division_for_tier(division_code, tier))
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
        name = f"institution_id: {check.institution_id}"
        if entry is None:
            return TargetAnswer(refusal=f"{name} is not in the directory")
        if entry.tier is not check.tier:
            return TargetAnswer(
                refusal=f"{name} is a {entry.tier.value} institution; the request is at the "
                f"{check.tier.value} tier"
            )
        if not entry.is_general and check.category not in entry.categories:
            return TargetAnswer(refusal=f"{name} does not serve {check.category.value}")
        if not entry.division_code.startswith(check.region_prefix):
            return TargetAnswer(
                refusal=f"{name} ({entry.division_code}) lies outside your region "
                f"{check.region_prefix or 'national'}"
            )
        return TargetAnswer(institution=entry.institution())

    def division_name(self, code: str) -> str | None:
        return next((d.name for d in self.divisions if d.code == code), None)

    def counties(self) -> list[Division]:
        """Return the county divisions the directory covers (where requests come from)."""
        return [d for d in self.divisions if division_tier(d.code) is Tier.COUNTY]
