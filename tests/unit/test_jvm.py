"""The Kafka JVM's options and class archive (``tierflow_dev.devstack.jvm``), with real JVMs
that write and read small archives."""

from __future__ import annotations

import os
import shutil
import subprocess
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


def write(archive: jvm.ClassArchive) -> Path:
    """Run a JVM on the archive's jars with the options for a first JVM; return its part."""
    options, part = archive.options()
    assert part is not None and part.parent == archive.jars and part.name.endswith(".part")
    assert options == [f"-XX:ArchiveClassesAtExit={part}"]
    argv = [archive.java, *options, "-cp", f"{archive.jars}/*", "-version"]
    subprocess.run(argv, check=True, capture_output=True, timeout=120)
    assert part.is_file()
    return part


def test_a_written_archive_is_kept_and_read_by_the_next_jvm(tmp_path: Path) -> None:
    archive = jvm.ClassArchive(tmp_path, java())
    archive.keep(write(archive))
    assert archive.path.is_file() and not list(tmp_path.glob("*.part"))
    reads = [f"-XX:SharedArchiveFile={archive.path}"]
    assert archive.options() == (reads, None)
    assert archive.reads() == reads
    argv = [archive.java, "-Xshare:on", *reads, "-cp", f"{tmp_path}/*", "-version"]
    assert subprocess.run(argv, capture_output=True, timeout=120).returncode == 0


def test_a_half_written_archive_is_removed_not_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A JVM mapping a truncated archive crashes: such a part never becomes the archive, and
    the check's crash leaves no report in the working folder."""
    monkeypatch.chdir(tmp_path)
    archive = jvm.ClassArchive(tmp_path, java())
    part = write(archive)
    whole = part.read_bytes()
    part.write_bytes(whole[: len(whole) // 2])
    archive.keep(part)
    assert not part.exists() and not archive.path.exists()
    assert archive.reads() == []
    assert not list(tmp_path.glob("hs_err_pid*")) and not list(tmp_path.glob("core*"))


def test_a_part_another_process_left_is_adopted_by_the_next_start(tmp_path: Path) -> None:
    archive = jvm.ClassArchive(tmp_path, java())
    part = write(archive)  # its JVM was stopped by another process: nobody called keep
    written = time.time() - jvm.WRITTEN_SECONDS - 5
    os.utime(part, (written, written))
    assert archive.options() == ([f"-XX:SharedArchiveFile={archive.path}"], None)
    assert archive.path.is_file() and not part.exists()


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
