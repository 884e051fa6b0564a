"""Where a what-if finds the policies, directory and grades it pins by, all read up front.

A run simulates thousands of requests a second, so nothing here queries per request: the
grade registry is read whole, policy versions once each.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from functools import cache

from sqlalchemy import Engine
from sqlmodel import Session, select

from schemas.domain import Grade
from tierflow.db.grade_models import EnterpriseGrade
from tierflow.db.models import SlaPolicyVersion
from tierflow.directory import Directory
from tierflow.directory_store import load_version, newest_version
from tierflow.grades import highest
from tierflow.policy import PolicyError, PolicyFile, load_policy_file, parse_policy


class Grades:
    """The grade registry in memory: the highest grade an enterprise held on a day."""

    def __init__(self, rows: list[EnterpriseGrade]) -> None:
        self._by_uscc: dict[str, list[EnterpriseGrade]] = defaultdict(list)
        for row in rows:
            self._by_uscc[row.uscc].append(row)

    @classmethod
    def read(cls, engine: Engine) -> Grades:
        with Session(engine) as session:
            return cls(list(session.exec(select(EnterpriseGrade))))

    def grade_on(self, uscc: str, day: date) -> Grade:
        held = [
            row
            for row in self._by_uscc.get(uscc.upper(), [])
            if row.granted_on <= day
            and (row.valid_until is None or row.valid_until >= day)
            and (row.withdrawn_on is None or row.withdrawn_on > day)
        ]
        return highest(held)


class PolicyVersions:
    """Every policy version a worker pinned requests by, as recorded in ``sla_policy_version``
    (the packaged file too, which needs no record)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.get = cache(self._read)

    def _read(self, version: str) -> PolicyFile:
        with Session(self.engine) as session:
            row = session.get(SlaPolicyVersion, version)
        if row is not None:
            return parse_policy(row.content, f"sla_policy_version {version}")
        packaged = load_policy_file()
        if packaged.version == version:
            return packaged
        raise PolicyError(f"policy version {version} is not recorded in sla_policy_version")


def directory_of(engine: Engine) -> Directory:
    """The newest directory version recorded, else the packaged directory."""
    version = newest_version(engine)
    found = load_version(engine, version) if version else None
    return found if found is not None else Directory.load()
