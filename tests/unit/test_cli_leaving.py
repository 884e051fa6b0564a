"""A ``tierflow`` process with the Temporal SDK's native bridge loaded leaves without the
interpreter's teardown (where the SDK's threads can abort it), yet ends as finalizing would
have ended it: its non-daemon threads finished, its exit handlers run, its output written and
its exit status kept."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SCRIPT = """
import atexit, sys, threading, time
from pathlib import Path
if {bridge}:
    import temporalio.bridge.temporal_sdk_bridge
from tierflow.cli.leaving import leave
out = Path(sys.argv[1])
atexit.register(lambda: (out / "atexit").write_text("ran"))
def late() -> None:
    time.sleep(0.2)  # still running when leave() is called
    (out / "thread").write_text("done")
threading.Thread(target=late).start()
from concurrent.futures import ThreadPoolExecutor
idle = ThreadPoolExecutor(2)  # left open: its threads wait for work until told to stop
idle.submit(lambda: None).result()
print("said before leaving", end="")  # unflushed: a pipe buffers it
leave({code!r})
"""


@pytest.mark.parametrize("bridge", [True, False])
@pytest.mark.parametrize(("code", "status"), [(None, 0), (3, 3), ("bad input", 1)])
def test_leaving_ends_as_finalizing_would(
    tmp_path: Path, bridge: bool, code: object, status: int
) -> None:
    script = textwrap.dedent(SCRIPT).format(bridge=bridge, code=code)
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == status, done.stderr
    assert done.stdout == "said before leaving"
    assert (tmp_path / "thread").read_text() == "done"
    assert (tmp_path / "atexit").read_text() == "ran"
    if isinstance(code, str):
        assert code in done.stderr


def test_the_console_script_and_the_module_end_through_leave() -> None:
    """Both ways in (``tierflow`` and ``python -m tierflow.cli``) run ``main``."""
    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    assert 'tierflow = "tierflow.cli:main"' in pyproject.read_text()
    done = subprocess.run(
        [sys.executable, "-m", "tierflow.cli", "no-such-command"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2  # a usage error keeps its status through leave()
