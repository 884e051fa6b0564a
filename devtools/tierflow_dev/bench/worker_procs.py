"""Worker processes for ``tierflow bench lifecycle --workers N``.

N ``tierflow worker`` processes, as deployed, poll the run's task queue, and N bare worker
processes (``python -m tierflow_dev.bench.worker_procs``: the bare baseline's workflows, its
no-op activities and, given the calibration's slots, the project's real activities on the
same servers) poll the bare queue, so both sides get the same number of interpreters
and the bench process only drives the load. Each process is kept in ``stack.processes``,
whose CPU ``CpuMeter`` reads, and stopped with the stack.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path
from typing import Any

PROJECT = "worker_processes"
BARE = "bare_worker_processes"


def start_bare_process(stack: Any, task_queue: str, name: str, same: Path | None) -> Any:
    """Start one bare worker process on ``task_queue``; return it once it polls.

    ``same``: the calibration's slots (``same_activities.save``), run with the stack's
    settings as ``tierflow worker`` gets them."""
    from tierflow_dev.bench.common import worker_env
    from tierflow_dev.devstack.procs import ManagedProcess, wait_until

    ready = stack.home / f"{name}.ready"
    extra = ["--same", str(same)] if same is not None else []
    proc = ManagedProcess(
        name=name,
        argv=[
            sys.executable,
            "-m",
            "tierflow_dev.bench.worker_procs",
            "--temporal-address",
            stack.temporal_address,
            "--task-queue",
            task_queue,
            "--ready-file",
            str(ready),
            *extra,
        ],
        home=stack.home,
        env=worker_env(stack, stack.settings()),
        cwd=stack.home,
    )
    proc.start()
    wait_until(ready.exists, 120, f"{name} polling", log=proc.log_path, alive=proc.is_running)
    return proc


async def start_workers(stack: Any, count: int, bare_queue: str, slots: list[Any]) -> None:
    """Start ``count`` project and ``count`` bare worker processes, all at once; the bare
    ones repeat ``slots`` (the calibration's local activities) when there are any."""
    from tierflow_dev.bench.common import start_worker_process
    from tierflow_dev.bench.same_activities import save

    same = None
    if slots:
        same = stack.home / f"same-activities-{bare_queue}.json"
        save(slots, same)

    project = [
        asyncio.to_thread(start_worker_process, stack, f"bench-worker-{i}")
        for i in range(1, count + 1)
    ]
    bare = [
        asyncio.to_thread(start_bare_process, stack, bare_queue, f"bench-bare-worker-{i}", same)
        for i in range(1, count + 1)
    ]
    started = await asyncio.gather(*project, *bare, return_exceptions=True)
    failed = [p for p in started if isinstance(p, BaseException)]
    if failed:  # stop the ones that came up, then say why the others did not
        for proc in started:
            if not isinstance(proc, BaseException):
                proc.stop(timeout=20)
        raise failed[0]
    stack.processes[PROJECT], stack.processes[BARE] = started[:count], started[count:]


def stop_workers(stack: Any) -> None:
    """Stop the worker processes ``start_workers`` started."""
    for role in (PROJECT, BARE):
        for proc in stack.processes.pop(role, []):
            proc.stop(timeout=20)


async def serve(temporal_address: str, task_queue: str, ready: Path, same: Path | None) -> None:
    """Run the bare worker until SIGTERM; create ``ready`` once it polls."""
    from tierflow.settings import get_settings
    from tierflow.temporal_client import connect_temporal
    from tierflow_dev.bench.common import bare_worker
    from tierflow_dev.bench.same_activities import load

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    client = await connect_temporal(temporal_address, "default", wait=30)
    slots = load(same) if same is not None else []
    async with bare_worker(client, task_queue, slots, get_settings() if slots else None):
        ready.touch()
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--temporal-address", required=True)
    parser.add_argument("--task-queue", required=True)
    parser.add_argument("--ready-file", type=Path, required=True)
    parser.add_argument("--same", type=Path, help="the calibration's slots to repeat")
    args = parser.parse_args()
    asyncio.run(serve(args.temporal_address, args.task_queue, args.ready_file, args.same))


if __name__ == "__main__":
    main()
