"""The Kafka JVM's options and class archive (``tierflow_dev.devstack.jvm``), on files."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from tierflow_dev.devstack import jvm


def test_options_come_from_the_environment_else_the_server_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(jvm.OPTIONS_ENV, raising=False)
    assert jvm.options() == ["-XX:+UseG1GC"]
    monkeypatch.setenv(jvm.OPTIONS_ENV, "-XX:+UseSerialGC  -Xss512k")
    assert jvm.options() == ["-XX:+UseSerialGC", "-Xss512k"]


def java() -> str:
    found = shutil.which("java")
    assert found is not None
    return found


def test_a_new_jvm_writes_a_part_and_a_clean_exit_makes_it_the_archive(tmp_path: Path) -> None:
    archive = jvm.ClassArchive(tmp_path, java())
    writes, part = archive.options()
    assert part is not None and part.parent == tmp_path and part.name.endswith(".part")
    assert writes == [f"-XX:ArchiveClassesAtExit={part}"]
    part.write_bytes(b"classes")
    archive.keep(part, clean_exit=True)
    assert archive.path.read_bytes() == b"classes" and not part.exists()
    assert archive.options() == ([f"-XX:SharedArchiveFile={archive.path}"], None)


def test_a_killed_jvm_part_or_an_empty_one_is_removed(tmp_path: Path) -> None:
    archive = jvm.ClassArchive(tmp_path, java())
    for content, clean in ((b"half", False), (b"", True)):
        _, part = archive.options()
        assert part is not None
        part.write_bytes(content)
        archive.keep(part, clean_exit=clean)
        assert not part.exists() and not archive.path.exists()


def test_another_java_gets_an_archive_of_its_own(tmp_path: Path) -> None:
    other = tmp_path / "java"
    other.write_text("#!/bin/sh\n")
    assert jvm.ClassArchive(tmp_path, java()).path != jvm.ClassArchive(tmp_path, str(other)).path


def test_parts_left_behind_are_removed_once_stale(tmp_path: Path) -> None:
    archive = jvm.ClassArchive(tmp_path, java())
    archive.path.write_bytes(b"classes")
    stale = tmp_path / f"{archive.path.name}.old.part"
    fresh = tmp_path / f"{archive.path.name}.new.part"
    for part in (stale, fresh):
        part.write_bytes(b"x")
    long_ago = time.time() - jvm.STALE_PART_SECONDS - 60
    os.utime(stale, (long_ago, long_ago))
    archive.options()
    assert not stale.exists() and fresh.exists()
