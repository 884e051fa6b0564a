"""The cache of parsed versions behind the policy and directory stores: a version is read once
per database, a missing one is asked again (it may be recorded later), the least recently used
goes first."""

from __future__ import annotations

from sqlalchemy import Engine, create_engine

from tierflow.version_cache import VersionCache


def test_a_version_is_read_once_per_database(sqlite_engine: Engine) -> None:
    reads: list[str] = []

    def load(engine: Engine, version: str) -> str | None:
        reads.append(version)
        return None if version == "missing" else f"parsed {version}"

    cache: VersionCache[str] = VersionCache(2)
    other = create_engine("sqlite://")
    assert cache.get_or_load(sqlite_engine, "v1", load) == "parsed v1"
    assert cache.get_or_load(sqlite_engine, "v1", load) == "parsed v1"
    assert cache.get_or_load(other, "v1", load) == "parsed v1"
    assert cache.get_or_load(sqlite_engine, "missing", load) is None
    assert cache.get_or_load(sqlite_engine, "missing", load) is None
    assert reads == ["v1", "v1", "missing", "missing"]


def test_the_least_recently_used_goes_first(sqlite_engine: Engine) -> None:
    reads: list[str] = []

    def load(engine: Engine, version: str) -> str:
        reads.append(version)
        return version

    cache: VersionCache[str] = VersionCache(2)
    for version in ["a", "b", "a", "c", "a", "b"]:
        cache.get_or_load(sqlite_engine, version, load)
    assert reads == ["a", "b", "c", "b"]  # c pushed b out, a stayed in use
