"""The ingress bench's bare baselines as processes of their own: poll, start, commit, count.

``bench ingress`` runs them like the ingress itself, so no consumer shares the bench's
interpreter lock with the producer. Each writes how many messages it has committed to
``count_file`` (0 once its consumer is subscribed) and stops on SIGTERM. With
``--received-file`` it only takes Kafka's hop: it writes each record's key and the wall clock
when its poll returned it, and starts nothing.

Both read through the product's group consumer with its kafka-python workarounds
(``tierflow.kafka_fixes``): a bare loop stuck in a group join that never completes would
stall the bench, not measure anything.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tierflow.constants import REJOIN_SECONDS


class GroupMember:
    """One loop's consumer of ``topic`` in a group of its own, replaced when stuck in a join."""

    def __init__(
        self,
        bootstrap: str,
        group: str,
        topic: str,
        max_records: int,
        rejoin_after: float = REJOIN_SECONDS,
    ) -> None:
        self.bootstrap, self.group, self.topics = bootstrap, group, [topic]
        self.max_records = max_records
        self.rejoin_after = rejoin_after
        self.replaced = 0
        self.consumer, self.watch = self._subscribe()

    def _subscribe(self) -> tuple[Any, Any]:
        from tierflow.kafka_consumer import group_consumer
        from tierflow.kafka_fixes import JoinWatch

        consumer = group_consumer(
            self.bootstrap, self.group, self.topics, max_records=self.max_records
        )
        watch = JoinWatch()
        consumer.subscribe(self.topics, listener=watch)
        return consumer, watch

    def poll(self, timeout: float) -> dict[Any, list[Any]]:
        """Poll once as the product does (a consumer stuck in a join replaced first, as the
        ingress does); return the records by partition."""
        from tierflow.kafka_consumer import poll

        if self.watch.stuck_for() > self.rejoin_after:
            print(f"group join unfinished for {self.rejoin_after:.0f} s: replacing the consumer")
            self.consumer.close()
            self.consumer, self.watch = self._subscribe()
            self.replaced += 1
        return poll(self.consumer, timeout).records

    def commit(self, batch: dict[Any, list[Any]]) -> bool:
        from tierflow.kafka_consumer import commit

        return commit(self.consumer, next_offsets(batch))

    def close(self) -> None:
        self.consumer.close()


def next_offsets(batch: dict[Any, list[Any]]) -> dict[Any, int]:
    """The offsets to commit after a polled batch: one past each partition's last record."""
    return {tp: records[-1].offset + 1 for tp, records in batch.items() if records}


def write_count(path: Path, count: int) -> None:
    """Replace the count file in one step, so a reader never sees half a number."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(str(count))
    os.replace(tmp, path)


async def bare_loop(
    client: Any,
    bootstrap: str,
    topic: str,
    task_queue: str,
    stop: asyncio.Event,
    report: Callable[[int], None],
) -> None:
    """Poll a batch, start one request workflow per record concurrently, commit; repeat.

    ``report`` gets the committed count once subscribed and after every commit.
    """
    from temporalio.exceptions import WorkflowAlreadyStartedError

    from schemas.request import RequestInput
    from tierflow_dev.bench.common import start_request

    member = await asyncio.to_thread(
        GroupMember, bootstrap, f"bench-bare-{uuid.uuid4().hex[:6]}", topic, 500
    )
    committed = 0
    report(committed)
    try:
        while not stop.is_set():
            batch = await asyncio.to_thread(member.poll, 0.2)
            records = [m for msgs in batch.values() for m in msgs]
            if not records:
                continue

            async def start(msg: Any) -> None:
                event = json.loads(msg.value)
                req = RequestInput.model_validate(event["data"])
                try:
                    await start_request(client, req, task_queue, f"bare-{event['subject']}")
                except WorkflowAlreadyStartedError:
                    pass  # a redelivery after a failed commit: started before

            await asyncio.gather(*(start(m) for m in records))
            if not await asyncio.to_thread(member.commit, batch):
                continue  # the group rebalanced meanwhile: the batch comes again
            committed += len(records)
            report(committed)
    finally:
        await asyncio.to_thread(member.close)


async def hop_loop(
    bootstrap: str,
    topic: str,
    stop: asyncio.Event,
    report: Callable[[int], None],
    received: Path,
) -> None:
    """Poll, note when each record arrived (``key<TAB>epoch seconds`` lines), commit; repeat."""
    member = await asyncio.to_thread(
        GroupMember, bootstrap, f"bench-hop-{uuid.uuid4().hex[:6]}", topic, 500
    )
    count = 0
    report(count)
    try:
        with received.open("a", encoding="utf-8") as out:
            while not stop.is_set():
                batch = await asyncio.to_thread(member.poll, 0.2)
                now = time.time()
                records = [m for msgs in batch.values() for m in msgs]
                if not records:
                    continue
                out.writelines(f"{m.key.decode()}\t{now}\n" for m in records)
                out.flush()
                if not await asyncio.to_thread(member.commit, batch):
                    continue  # redelivered: the bench takes each record's first arrival
                count += len(records)
                report(count)
    finally:
        await asyncio.to_thread(member.close)


async def serve(args: argparse.Namespace) -> None:
    from tierflow.temporal_client import connect_temporal

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    path = Path(args.count_file)

    def report(count: int) -> None:
        write_count(path, count)

    if args.received_file:
        await hop_loop(args.bootstrap, args.topic, stop, report, Path(args.received_file))
        return
    client = await connect_temporal(args.temporal_address, "default", wait=30)
    await bare_loop(
        client,
        args.bootstrap,
        args.topic,
        args.task_queue,
        stop,
        report=report,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--temporal-address")
    parser.add_argument("--task-queue")
    parser.add_argument("--count-file", required=True)
    parser.add_argument("--received-file", help="only take Kafka's hop: arrival times here")
    asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
