"""Recorded versions parsed once per process (behind the policy and directory stores): a
version is read once per database, a missing one is asked again (it may be recorded later),
the least recently used goes first."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine
from sqlmodel import Session

from tierflow.db.models import SlaPolicyVersion
from tierflow.recorded_versions import RecordedVersions


def recorded(engine: Engine, *versions: str) -> None:
    with Session(engine) as session:
        for version in versions:
            session.add(
                SlaPolicyVersion(
                    version=version, loaded_at=datetime.now(UTC), content=f"text of {version}"
                )
            )
        session.commit()


def test_a_version_is_parsed_once_and_a_missing_one_asked_again(sqlite_engine: Engine) -> None:
    parsed: list[str] = []

    def parse(content: str, source: str) -> str:
        parsed.append(source)
        return content.upper()

    versions = RecordedVersions(SlaPolicyVersion, parse, 2)
    recorded(sqlite_engine, "v1")
    assert versions.load(sqlite_engine, "v1") == "TEXT OF V1"
    assert versions.load(sqlite_engine, "v1") == "TEXT OF V1"
    assert versions.load(sqlite_engine, "v2") is None
    recorded(sqlite_engine, "v2")  # recorded later: found now
    assert versions.load(sqlite_engine, "v2") == "TEXT OF V2"
    assert parsed == ["sla_policy_version v1", "sla_policy_version v2"]


def test_the_least_recently_used_goes_first(sqlite_engine: Engine) -> None:
    parsed: list[str] = []

    def parse(content: str, source: str) -> str:
        parsed.append(source.split()[-1])
        return content

    versions = RecordedVersions(SlaPolicyVersion, parse, 2)
    recorded(sqlite_engine, "a", "b", "c")
    for version in ["a", "b", "a", "c", "a", "b"]:
        versions.load(sqlite_engine, version)
    assert parsed == ["a", "b", "c", "b"]  # c pushed b out, a stayed in use
