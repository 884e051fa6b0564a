"""How the dev tooling runs Kafka's JVM: its options, and an archive of the broker's classes.

Starting a broker is mostly the JVM loading and compiling Kafka's classes. Two things cut it
(one broker on 2 cores, CPU until it answers: 7.4 s with the server options alone, 3.5 s with
the short-lived ones, 2.1 s with the archive as well):

- A class-data archive (Java's CDS, the dynamic archive of Java 17): the first broker to stop
  cleanly on a machine writes the classes it loaded into ``classes-<java>.jsa`` next to the
  jars, and every later JVM on those jars maps them instead of parsing and verifying them
  again. A JVM that cannot use the archive (another Java, changed jars) says so in its log and
  starts without it; but one that maps a half-written archive crashes, so a written archive
  takes its place only once a JVM has opened it with sharing required (``-Xshare:on``).
- ``TIERFLOW_KAFKA_JVM_OPTIONS`` replaces the server options below. The test suite sets
  ``SHORT_LIVED_OPTIONS``: its brokers live minutes and carry little, so the quick compiler
  alone and the serial collector cost less than tuning for hours of traffic would save.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import subprocess
import time
import uuid
from pathlib import Path

OPTIONS_ENV = "TIERFLOW_KAFKA_JVM_OPTIONS"
SERVER_OPTIONS = "-XX:+UseG1GC"
SHORT_LIVED_OPTIONS = "-XX:TieredStopAtLevel=1 -XX:CICompilerCount=1 -XX:+UseSerialGC"
WRITTEN_SECONDS = 60  # a JVM writes its archive in seconds as it exits: older parts are done
STALE_PART_SECONDS = 600  # parts still there this long after an archive exists are left over


def options() -> list[str]:
    """The JVM options of a broker besides its heap: ``TIERFLOW_KAFKA_JVM_OPTIONS`` if set."""
    return shlex.split(os.environ.get(OPTIONS_ENV, SERVER_OPTIONS))


class ClassArchive:
    """The archive of the broker's classes for one Java on one folder of jars."""

    def __init__(self, jars: Path, java: str) -> None:
        self.jars = jars
        self.java = java
        real = Path(java).resolve()
        stat = real.stat()
        key = hashlib.sha256(f"{real}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()
        self.path = jars / f"classes-{key[:12]}.jsa"

    def options(self) -> tuple[list[str], Path | None]:
        """The options for a new JVM, and the file it writes at exit (None: it reads one)."""
        if not self.path.is_file():
            self._adopt_parts()  # written by JVMs another process stopped (``dev down``)
        if self.path.is_file():
            self._remove_stale_parts()
            return [f"-XX:SharedArchiveFile={self.path}"], None
        part = self.path.with_name(f"{self.path.name}.{uuid.uuid4().hex}.part")
        return [f"-XX:ArchiveClassesAtExit={part}"], part

    def reads(self) -> list[str]:
        """The options for a JVM that reads the archive if there is one, and writes none."""
        return [f"-XX:SharedArchiveFile={self.path}"] if self.path.is_file() else []

    def keep(self, part: Path) -> None:
        """After the JVM writing ``part`` has exited: make it the archive if a JVM can use it
        (one killed while writing leaves half a file), else remove it."""
        if part.is_file() and self._usable(part):
            os.replace(part, self.path)
        else:
            part.unlink(missing_ok=True)

    def _usable(self, part: Path) -> bool:
        # a bad archive crashes the JVM: its crash report goes nowhere, not into the cwd
        argv = [self.java, "-Xshare:on", f"-XX:SharedArchiveFile={part}", "-XX:ErrorFile=/dev/null"]
        argv += ["-XX:-CreateCoredumpOnCrash", "-cp", f"{self.jars}/*", "-version"]
        return subprocess.run(argv, capture_output=True, timeout=120).returncode == 0

    def _parts(self, older_than: float) -> list[Path]:
        now, found = time.time(), []
        for part in self.path.parent.glob(f"{self.path.name}.*.part"):
            try:
                if now - part.stat().st_mtime > older_than:
                    found.append(part)
            except FileNotFoundError:
                continue
        return found

    def _adopt_parts(self) -> None:
        for part in self._parts(WRITTEN_SECONDS):
            self.keep(part)
            if self.path.is_file():
                return

    def _remove_stale_parts(self) -> None:
        for part in self._parts(STALE_PART_SECONDS):
            part.unlink(missing_ok=True)
