"""The ingress bench's bare baseline as a process of its own: poll, start, commit, count.

``bench ingress`` runs it like the ingress itself, so neither consumer shares the bench's
interpreter lock with the producer. It writes how many messages it has committed to
``count_file`` (0 once its consumer is subscribed) and stops on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
from pathlib import Path


def write_count(path: Path, count: int) -> None:
    """Replace the count file in one step, so a reader never sees half a number."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(str(count))
    os.replace(tmp, path)


async def serve(args: argparse.Namespace) -> None:
    from tierflow.bench.ingress import bare_loop
    from workers.runtime import connect_temporal

    client = await connect_temporal(args.temporal_address, "default", wait=30)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    path = Path(args.count_file)
    await bare_loop(
        client,
        args.bootstrap,
        args.topic,
        args.task_queue,
        stop,
        [0],
        report=lambda n: write_count(path, n),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--temporal-address", required=True)
    parser.add_argument("--task-queue", required=True)
    parser.add_argument("--count-file", required=True)
    asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
