"""A worker process for the key-rotation test: its payload keys come from its environment.

``python -m tests.utils.rotation_worker TASK_QUEUE`` connects like every tierflow process
(``connect_temporal`` with ``Settings()``: TIERFLOW_PAYLOAD_KEYS, ..._DECRYPT_ONLY_KEYS,
TIERFLOW_TEMPORAL_ADDRESS), runs ``NotesWorkflow`` on TASK_QUEUE, prints ``ready`` and runs
until SIGTERM.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from temporalio.worker import Worker

from tests.utils.rotation_notes import NotesWorkflow
from tierflow.settings import Settings
from tierflow.temporal_client import connect_temporal


async def main(task_queue: str) -> None:
    settings = Settings()
    client = await connect_temporal(
        settings.temporal_address, settings.temporal_namespace, settings=settings
    )
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with Worker(client, task_queue=task_queue, workflows=[NotesWorkflow]):
        print("ready", flush=True)
        await stop.wait()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    asyncio.run(main(sys.argv[1]))
