"""Processes that need the Temporal server binary at once build it once (the suite's workers).

The ``go`` here is a stand-in script (``TIERFLOW_GO``) that records each call and blocks on a
FIFO until the test lets it finish, so the test decides when the first build ends. The second
process is seen waiting on the build lock in ``/proc/locks`` before the first one finishes.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.utils.eventually import eventually_sync

GO_STAND_IN = """#!/bin/sh
echo "$$" >> "{calls}"
cat "{release}" > /dev/null
while [ "$#" -gt 0 ]; do
  if [ "$1" = "-o" ]; then printf 'built' > "$2"; fi
  shift
done
"""

BUILD = (
    "import sys; from pathlib import Path;"
    "from tierflow_dev.devstack.temporal_server import build_binary;"
    "print(build_binary(Path(sys.argv[1])))"
)


def _waits_on_a_flock(pid: int) -> bool:
    """Whether ``pid`` is blocked waiting for a flock (a ``->`` line of /proc/locks)."""
    for line in Path("/proc/locks").read_text().splitlines():
        fields = line.split()
        if len(fields) > 5 and fields[1] == "->" and fields[2] == "FLOCK" and fields[5] == str(pid):
            return True
    return False


def test_two_processes_needing_the_binary_at_once_build_it_once(tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    for name in ("go.mod", "go.sum", "main.go"):
        (source / name).write_text("")
    calls, release = tmp_path / "calls", tmp_path / "release"
    os.mkfifo(release)
    go = tmp_path / "go"
    go.write_text(GO_STAND_IN.format(calls=calls, release=release))
    go.chmod(0o755)
    env = {**os.environ, "TIERFLOW_GO": str(go), "XDG_CACHE_HOME": str(tmp_path / "cache")}

    def build() -> subprocess.Popen[str]:
        argv = [sys.executable, "-c", BUILD, str(source)]
        return subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, text=True)

    first = build()
    eventually_sync(lambda: calls.exists(), timeout=30, what="the first build started")
    second = build()
    try:
        eventually_sync(
            lambda: _waits_on_a_flock(second.pid), timeout=30, what="the second waits on the lock"
        )
    finally:
        with release.open("w"):  # the first build's go returns
            pass
    try:
        first_out, _ = first.communicate(timeout=30)
        second_out, _ = second.communicate(timeout=30)
    finally:
        for process in (first, second):
            process.kill()

    assert first.returncode == second.returncode == 0
    assert first_out == second_out and Path(first_out.strip()).read_text() == "built"
    assert len(calls.read_text().split()) == 1  # go ran once
