"""What the benchmarks read of processes: CPU seconds (of a process tree) and memory.

``CpuMeter`` names the bench process, the servers a run started and the tierflow processes
a scenario started, so a missed ratio says which process the extra time went to.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import TYPE_CHECKING

import psutil

if TYPE_CHECKING:
    from tierflow_dev.bench.common import BenchStack


def rss_mb(pid: int) -> tuple[float, float]:
    """Return (RSS, peak RSS) of a process in MB.

    psutil gives the current RSS; the peak (Linux's VmHWM, which catches spikes between the
    scale bench's samples) has no psutil counterpart, so it is read where Linux has it.
    """
    rss = psutil.Process(pid).memory_info().rss / 2**20
    return rss, max(rss, _peak_rss_mb(pid))


def _peak_rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU seconds a process has used so far (0 if unknown)."""
    if pid is None:
        return 0.0
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def tree_cpu_seconds(pid: int | None) -> float:
    """CPU seconds of a process and its live descendants, with the children they reaped.

    PostgreSQL works in one process per connection, and a server may run under a wrapper
    (``runuser``): the top process alone would show almost nothing. A descendant that has
    exited counts through its parent's "children" times once reaped.
    """
    if pid is None:
        return 0.0
    try:
        top = psutil.Process(pid)
        tree = [top, *top.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0.0
    for proc in tree:
        try:
            times = proc.cpu_times()
        except psutil.NoSuchProcess:
            continue  # exited meanwhile: its parent counts it once it is reaped
        total += times.user + times.system + times.children_user + times.children_system
    return total


def _sum_tree_cpu(pids: tuple[int | None, ...]) -> float:
    return sum(tree_cpu_seconds(pid) for pid in pids)


class CpuMeter:
    """CPU seconds each process spends between ``start`` and ``stop``.

    Names the bench process (worker and client threads), the Temporal server, Kafka
    broker(s) and PostgreSQL server (with its per-connection processes) when this run started
    them, and the worker processes it started (``stack.processes``). Where a ratio is
    missed, this says which process the extra time went to.
    """

    def __init__(self, stack: BenchStack) -> None:
        # the bench process's own threads only: its reaped children are not this run's work
        self.readers: dict[str, Callable[[], float]] = {
            "bench_process": functools.partial(cpu_seconds, os.getpid())
        }
        for name, pids in (stack.server_pids() | stack.process_pids()).items():
            self.readers[name] = functools.partial(_sum_tree_cpu, tuple(pids))
        self.began: dict[str, float] = {}

    def start(self) -> None:
        self.began = {name: read() for name, read in self.readers.items()}

    def stop(self, per: int) -> dict[str, float]:
        """Return the CPU milliseconds per unit of work (``per`` units) for each process."""
        return {
            name: 1000 * (read() - self.began[name]) / max(per, 1)
            for name, read in self.readers.items()
        }
