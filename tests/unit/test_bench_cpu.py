"""The bench's CPU meter counts a server's whole process tree, as PostgreSQL needs."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from tests.utils.eventually import eventually_sync
from tierflow_dev.bench.cpu import cpu_seconds, tree_cpu_seconds

# Burns 0.4 s of CPU, then says so and sleeps until killed.
BURN = textwrap.dedent(
    """
    import time
    began = time.process_time()
    while time.process_time() - began < 0.4:
        pass
    print("burnt", flush=True)
    time.sleep(60)
    """
)


def test_a_wrappers_grandchild_counts_in_its_tree() -> None:
    # sh -> python: like runuser -> postgres -> backends, the work is in a descendant
    wrapper = subprocess.Popen(
        ["sh", "-c", f'{sys.executable} -c "$0"; :', BURN],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert wrapper.stdout is not None
        assert wrapper.stdout.readline().strip() == "burnt"
        assert cpu_seconds(wrapper.pid) < 0.1  # the wrapper itself did nothing
        assert tree_cpu_seconds(wrapper.pid) >= 0.35
    finally:
        subprocess.run(["pkill", "-P", str(wrapper.pid)], check=False)
        wrapper.wait(timeout=10)


def test_a_reaped_child_still_counts_through_its_parent() -> None:
    # the parent reaps a short-lived child, as the postmaster reaps a closed connection
    script = (
        f"import subprocess, sys, time\n"
        f"subprocess.run([sys.executable, '-c', {BURN.replace('time.sleep(60)', '')!r}])\n"
        f"print('reaped', flush=True)\n"
        f"time.sleep(60)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        assert parent.stdout.readline().strip() == "burnt"
        assert parent.stdout.readline().strip() == "reaped"
        # the parent may still be on its way to its sleep, its own CPU still moving
        eventually_sync(
            lambda: tree_cpu_seconds(parent.pid) >= 0.35 + cpu_seconds(parent.pid) - 0.05,
            10,
            "the reaped child's CPU counted in its parent's tree",
            detail=lambda: (tree_cpu_seconds(parent.pid), cpu_seconds(parent.pid)),
        )
    finally:
        parent.kill()
        parent.wait(timeout=10)


def test_an_unknown_pid_counts_nothing() -> None:
    assert tree_cpu_seconds(None) == 0.0
