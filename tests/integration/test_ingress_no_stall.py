"""The ingress cannot be stalled: poison records and waiting commands, on the real broker.

Records any producer may legally write (no key and no value, a header without a value, a
value too large for the dead-letter topic) are parked with a reason and passed; commands
waiting for requests that do not exist yet hold no Temporal-call slot, so other requests'
commands keep applying.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from schemas import dlq
from schemas.domain import State
from schemas.events import SUBMIT, command_event
from tests.utils.eventually import eventually
from tests.utils.factories import make_request
from tests.utils.ingress_helpers import make_ingress, read_partition, running
from tests.utils.raw_producer import RawRecord, create_topic, produce_raw
from tests.utils.stack_helpers import sample
from tierflow.constants import workflow_id
from tierflow.kafka_io import header, make_producer
from workers.ingress import Backoff, Ingress
from workflows.service_request import ServiceRequestWorkflow

SOURCE = "/tests/ingress-no-stall"


def _ingress(stack: Any, commands: str, dlq_topic: str, **kw: Any) -> Ingress:
    kw.setdefault("shutdown_grace", 5.0)
    return make_ingress(stack, commands, dlq_topic, source=SOURCE, **kw)


def _submit(req: Any) -> bytes:
    rid = req.request_id
    return command_event(SUBMIT, req.model_dump(mode="json"), SOURCE, subject=rid).to_json_bytes()


def _committed(bootstrap: str, group: str, topic: str) -> tuple[int | None, int]:
    """The group's committed offset of partition 0, and the partition's end offset."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group)
    try:
        tp = TopicPartition(topic, 0)
        return consumer.committed(tp), consumer.end_offsets([tp])[tp]
    finally:
        consumer.close()


async def test_poison_records_are_parked_and_the_partition_moves_on(stack, unique_topic) -> None:
    # the commands topic takes records the dead-letter topic (1 MiB default) cannot
    commands = create_topic(
        stack.bootstrap, f"poison-{uuid.uuid4().hex[:8]}", **{"max.message.bytes": "4194304"}
    )
    dlq_topic = unique_topic("poison-dlq")
    first, second = make_request(), make_request()
    valid_with_null_header = RawRecord(
        first.request_id.encode(), _submit(first), headers=[("trace", None)]
    )
    poison = [
        ("not_json", RawRecord(None, None)),  # no key, no value
        ("not_json", RawRecord(None, b"{broken", headers=[("x-empty", None), ("x-ok", b"1")])),
        ("not_cloudevent", RawRecord(b"k", b'{"a": 1}', headers=[("ce_specversion", None)])),
        ("oversize", RawRecord(None, None, big_value=1_500_000)),
    ]
    records = [r for _, r in poison] + [
        valid_with_null_header,
        RawRecord(second.request_id.encode(), _submit(second)),
    ]
    written = await asyncio.to_thread(produce_raw, stack.bootstrap, commands, records)
    assert [p for p, _ in written] == [0] * len(records)

    ingress = _ingress(stack, commands, dlq_topic)
    async with running(ingress):
        await eventually(lambda: ingress.stats.committed >= len(records), what="all handled")
        end = written[-1][1] + 1
        await eventually(
            lambda: _committed(stack.bootstrap, ingress.group_id, commands) == (end, end),
            what="the group's commit at the end of the partition",
        )
    for req in (first, second):
        handle = stack.client.get_workflow_handle(workflow_id(req.request_id))
        view = await handle.query(ServiceRequestWorkflow.view)
        assert view.summary.state is not State.SUBMITTED

    # At least once: a consumer replaced before its commit went through (a group join left
    # unfinished on a busy host) hands its records to the next, which parks such a record
    # again. Each poison record is parked, once or more; each valid one applied once.
    copies = await asyncio.to_thread(read_partition, stack.bootstrap, dlq_topic)
    assert (ingress.stats.applied, ingress.stats.dead_lettered) == (2, len(copies))
    firsts: dict[int, Any] = {}
    for copy in copies:
        firsts.setdefault(int(header(copy, dlq.DLQ_OFFSET) or -1), copy)
    parked = [firsts[offset] for offset in sorted(firsts)]
    assert [header(m, dlq.DLQ_REASON) for m in parked] == [reason for reason, _ in poison]
    assert [int(header(m, dlq.DLQ_OFFSET) or -1) for m in parked] == [o for _, o in written[:4]]
    tombstone, null_header, null_ce, big = parked
    assert tombstone.key is None and tombstone.value == b""
    assert header(tombstone, dlq.DLQ_VALUE_NULL) == "1"
    assert null_header.value == b"{broken"  # original bytes kept where they fit
    assert dict(null_header.headers)["x-empty"] == b"" and dict(null_header.headers)["x-ok"] == b"1"
    assert header(null_header, dlq.DLQ_NULL_HEADERS) == "x-empty"
    assert header(null_ce, dlq.DLQ_NULL_HEADERS) == "ce_specversion"
    assert big.value == b""  # too large to copy: its size and digest instead
    assert header(big, dlq.DLQ_VALUE_SIZE) == "1500000"
    assert header(big, dlq.DLQ_VALUE_SHA256) == hashlib.sha256(b"x" * 1_500_000).hexdigest()
    not_json = sum(header(m, dlq.DLQ_REASON) == "not_json" for m in copies)
    assert sample(ingress.registry, "tierflow_ingress_dead_letters_total", reason="not_json") == (
        not_json
    )


async def test_waiting_commands_hold_no_slot_while_other_requests_apply(
    stack, unique_topic
) -> None:
    """600 actions wait for requests that do not exist; other requests go ahead meanwhile.

    With 16 Temporal calls at most, a waiting command that held its slot while it sleeps
    would stop every other request (and 600 could not all have retried within the minute);
    here each holds one only for its call, and retries leave a quarter of the slots to
    first attempts, so the other requests never queue behind the crowd.
    """
    commands, dlq_topic = unique_topic("waiting-commands"), unique_topic("waiting-dlq")
    patient = Backoff(initial=5.0, maximum=30.0, not_found_seconds=600, not_found_attempts=100)
    ingress = _ingress(
        stack,
        commands,
        dlq_topic,
        backoff=patient,
        max_in_flight=16,
        stall_seconds=1.0,
        shutdown_grace=0.5,
    )
    producer = make_producer(stack.bootstrap)
    ghosts = [f"ghost-{uuid.uuid4().hex[:12]}" for _ in range(600)]
    movers = [make_request() for _ in range(3)]
    try:
        futures = [
            producer.send(
                commands,
                key=rid.encode(),
                value=command_event(
                    "acknowledge", {"request_id": rid}, SOURCE, subject=rid
                ).to_json_bytes(),
            )
            for rid in ghosts
        ]
        for future in futures:
            await asyncio.to_thread(future.get, 30)
        async with running(ingress):
            # every ghost has had its first attempt (first attempts queue in arrival order)
            await eventually(
                lambda: ingress.stats.retrying == len(ghosts),
                timeout=120,
                what="all 600 waiting",
                detail=lambda: ingress.stats,
            )
            assert sample(ingress.registry, "tierflow_ingress_commands_retrying") == len(ghosts)
            for req in movers:
                producer.send(commands, key=req.request_id.encode(), value=_submit(req))
            await asyncio.to_thread(producer.flush, 30)
            # a loaded host can let the member's 15 s session lapse: the consumer then rejoins
            # (or is replaced after its rejoin timeout) and the movers still go ahead
            await eventually(
                lambda: ingress.stats.applied >= len(movers),
                timeout=90,
                what="the other requests applied while 600 wait",
                detail=lambda: ingress.stats,
            )
            # the waiting commands hold the partition's commit: lag shows it, /healthz too
            health = await eventually(
                lambda: (h := ingress.health()).status == "degraded" and h,
                what="health degraded",
            )
            assert health.partitions[f"{commands}-0"]["lag"] == len(ghosts) + len(movers)
            lag = sample(
                ingress.registry, "tierflow_ingress_consumer_lag", topic=commands, partition="0"
            )
            assert lag == len(ghosts) + len(movers)
    finally:
        producer.close(timeout=5)
    assert (ingress.stats.applied, ingress.stats.dead_lettered) == (len(movers), 0)
    # still waiting at shutdown (and at each lost ownership, if a loaded host made the group
    # rebalance): abandoned, never committed past, so the next owner gets every ghost again
    assert ingress.stats.abandoned >= len(ghosts)
    committed, end = await asyncio.to_thread(
        _committed, stack.bootstrap, ingress.group_id, commands
    )
    assert (committed or 0, end) == (0, len(ghosts) + len(movers))
    assert ingress.stats.retrying == 0
    assert sample(ingress.registry, "tierflow_ingress_commands_retrying") == 0
