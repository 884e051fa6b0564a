"""The Kafka command ingress against the real broker, dev server and worker of the stack.

Each test runs its own Ingress (a task on the session loop, next to the stack's worker) with
a fresh consumer group and fresh command/DLQ topics, so tests never see each other's messages.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from sqlmodel import Session
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from schemas.dlq import (
    DLQ_MESSAGE,
    DLQ_OFFSET,
    DLQ_PARTITION,
    DLQ_REASON,
    DLQ_TOPIC,
    DLQ_WORDING,
)
from schemas.domain import Role, State
from schemas.events import SUBMIT, command_event
from schemas.lifecycle import ActionKind, Wording
from tests.utils.eventually import eventually, eventually_sync
from tests.utils.factories import ENTERPRISE, make_request
from tests.utils.ingress_helpers import command_topics, make_ingress, running
from tests.utils.stack_helpers import act, forget_workflow, read_events, sample, start_request
from tests.utils.stuck_join import revoked_until_replaced
from tierflow.constants import workflow_id
from tierflow.db import repository
from tierflow.i18n import translations
from tierflow.i18n.refusals import refusal_text
from tierflow.kafka_io import header, make_consumer, make_producer
from tierflow.submission import submit_request
from tierflow.system_clients import SystemClient, SystemClients
from workers.ingress import Backoff, Ingress
from workflows.service_request import ServiceRequestWorkflow

SOURCE = "/tests/ingress"
FAST = Backoff(initial=0.1, maximum=1.0, not_found_seconds=3.0)


def _ingress(stack: Any, commands: str, dlq: str, group: str | None = None, **kw: Any) -> Ingress:
    kw.setdefault("backoff", FAST)
    return make_ingress(stack, commands, dlq, source=SOURCE, group=group, **kw)


def _value(command: str, data: dict, event_id: str | None = None, subject: str | None = None):
    return command_event(command, data, source=SOURCE, subject=subject, event_id=event_id)


def _send(producer: Any, topic: str, value: bytes, key: str | None, **kw: Any) -> Any:
    """Publish one message and return its RecordMetadata (partition, offset)."""
    future = producer.send(topic, value=value, key=key.encode() if key else None, **kw)
    return future.get(timeout=30)


def _read_topic(bootstrap: str, topic: str, expect: int, timeout: float = 60.0) -> list:
    """Return every message of a (fresh) topic, waiting until ``expect`` arrived (it returns
    as soon as they are there; the timeout is for a host loaded by other suites)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        consumer.topics()
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        found: list[ConsumerRecord] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(found) < expect:
            for batch in consumer.poll(timeout_ms=300).values():
                found += batch
        return sorted(found, key=lambda m: (m.partition, m.offset))
    finally:
        consumer.close()


async def _committed(ingress: Ingress, n: int, timeout: float = 40.0) -> None:
    await eventually(
        lambda: ingress.stats.committed >= n, timeout=timeout, what=f"{n} commands committed"
    )


def _lags(ingress: Ingress) -> dict[str, float]:
    """The ingress's consumer-lag gauge, per partition label."""
    return {
        sample.labels["partition"]: sample.value
        for metric in ingress.registry.collect()
        if metric.name == "tierflow_ingress_consumer_lag"
        for sample in metric.samples
    }


async def test_a_submit_replayed_after_temporals_retention_starts_no_second_request(
    stack, unique_topic
) -> None:
    """A submit read again long after its request closed (offsets reset, a client's replay):
    Temporal has forgotten the workflow, the read model has not. The command is answered as
    the duplicate it is, and no workflow is started under the id."""
    req = make_request()
    await start_request(stack, req)
    await eventually(
        lambda: _in_read_model(stack, req.request_id), what=f"{req.request_id} projected"
    )
    await forget_workflow(stack, req.request_id)
    commands, dlq = command_topics(unique_topic, "forgotten")
    producer = make_producer(stack.bootstrap)
    try:
        submit = _value(SUBMIT, req.model_dump(mode="json"), subject=req.request_id)
        _send(producer, commands, submit.to_json_bytes(), req.request_id)
    finally:
        producer.close(timeout=5)

    ingress = _ingress(stack, commands, dlq)
    async with running(ingress):
        await _committed(ingress, 1)
    assert (ingress.stats.applied, ingress.stats.dead_lettered) == (0, 0)
    assert ingress.stats.duplicate >= 1  # more only if a rebalance redelivered it
    with pytest.raises(RPCError) as err:
        await stack.client.get_workflow_handle(workflow_id(req.request_id)).describe()
    assert err.value.status is RPCStatusCode.NOT_FOUND


async def test_a_submit_reusing_the_id_of_an_ended_request_with_other_content_is_a_conflict(
    stack, unique_topic
) -> None:
    """A request that ended keeps its id: the same submit again is its redelivery (nothing
    happens), another request under it is dead-lettered ``conflict``, not dropped as a
    duplicate, whether the read model has the request yet or not."""
    req = make_request()
    await submit_request(stack.client, req, stack.task_queue, recorded=_not_recorded)
    handle = stack.client.get_workflow_handle(workflow_id(req.request_id))
    await eventually(lambda: _in_read_model(stack, req.request_id), what="projected")
    await act(handle, ActionKind.WITHDRAW, ENTERPRISE)
    await eventually(lambda: _status_is(handle, WorkflowExecutionStatus.COMPLETED), what="ended")
    other = req.model_copy(update={"subject": "另一件事，同一个编号"})
    commands, dlq = command_topics(unique_topic, "ended-conflict")
    sent = [_value(SUBMIT, r.model_dump(mode="json"), subject=req.request_id) for r in (req, other)]
    producer = make_producer(stack.bootstrap)
    try:
        for event in sent:
            _send(producer, commands, event.to_json_bytes(), req.request_id)
    finally:
        producer.close(timeout=5)
    ingress = _ingress(stack, commands, dlq)
    async with running(ingress):
        await _committed(ingress, 2)
    assert (ingress.stats.applied, ingress.stats.duplicate, ingress.stats.dead_lettered) == (
        0,
        1,
        1,
    )
    [parked] = _read_topic(stack.bootstrap, dlq, expect=1)
    assert header(parked, DLQ_REASON) == "conflict"
    assert json.loads(parked.value)["id"] == sent[1].id
    assert header(parked, DLQ_MESSAGE) == (
        f"request_id: {req.request_id!r} was submitted before with different content"
    )


async def test_a_command_delivered_again_after_its_request_ended_is_a_duplicate(
    stack, unique_topic
) -> None:
    """Kafka delivers at least once: a comment applied, then the request ended, then the same
    comment again (a rebalance, an offset reset). The audit trail holds it, so it is the
    duplicate it is, not a dead letter an integrator would take for a failure; a new comment
    on the ended request is dead-lettered ``workflow_closed``, and another comment under the
    first one's id ``conflict`` (its text was never recorded: nothing is lost in silence)."""
    req = make_request()
    handle = await start_request(stack, req)
    rid = req.request_id
    comment = _value("comment", {"request_id": rid, "text": "材料已补齐"}, subject=rid)
    late = _value("comment", {"request_id": rid, "text": "还有一件事"}, subject=rid)
    reused = _value("comment", {"request_id": rid, "text": "另一条留言"}, comment.id, rid)
    commands, dlq = command_topics(unique_topic, "after-end")
    producer = make_producer(stack.bootstrap)
    try:
        _send(producer, commands, comment.to_json_bytes(), rid)
        ingress = _ingress(stack, commands, dlq)
        async with running(ingress):
            await _committed(ingress, 1)
        assert ingress.stats.applied == 1
        await act(handle, ActionKind.WITHDRAW, ENTERPRISE)
        await eventually(
            lambda: _status_is(handle, WorkflowExecutionStatus.COMPLETED), what="ended"
        )
        _send(producer, commands, comment.to_json_bytes(), rid)  # the same command again
        _send(producer, commands, late.to_json_bytes(), rid)
        _send(producer, commands, reused.to_json_bytes(), rid)
    finally:
        producer.close(timeout=5)
    again = _ingress(stack, commands, dlq)  # a new group: the topic read from its start
    async with running(again):
        await _committed(again, 4)
    assert (again.stats.applied, again.stats.duplicate, again.stats.dead_lettered) == (0, 2, 2)
    closed, conflict = _read_topic(stack.bootstrap, dlq, expect=2)
    assert header(closed, DLQ_REASON) == "workflow_closed"
    assert json.loads(closed.value)["id"] == late.id
    assert header(conflict, DLQ_REASON) == "conflict"
    assert json.loads(conflict.value)["data"]["text"] == "另一条留言"
    assert header(conflict, DLQ_MESSAGE) == (
        f"action id {comment.id!r} was used on this request for another action; give this "
        "one an id of its own"
    )


async def test_a_submit_reusing_the_id_of_a_request_past_retention_is_dead_lettered(
    stack, unique_topic
) -> None:
    """Temporal forgot the request's workflow (its retention passed); the read model keeps
    the request and its submission's digest. Another request under its id (a portal reusing
    ids) starts nothing and is dead-lettered ``conflict``, as the API answers 409: it is not
    counted as a duplicate and dropped (the same submit again is, above)."""
    req = make_request()
    await start_request(stack, req)
    rid = req.request_id
    await eventually(lambda: _in_read_model(stack, rid), what="the request in the read model")
    await forget_workflow(stack, rid)
    other = make_request(rid).model_copy(update={"subject": "另一家企业的新申请"})
    commands, dlq = command_topics(unique_topic, "past-retention")
    producer = make_producer(stack.bootstrap)
    try:
        data = other.model_dump(mode="json")
        _send(producer, commands, _value(SUBMIT, data, subject=rid).to_json_bytes(), rid)
    finally:
        producer.close(timeout=5)
    ingress = _ingress(stack, commands, dlq)
    async with running(ingress):
        await _committed(ingress, 1)
    assert (ingress.stats.applied, ingress.stats.duplicate, ingress.stats.dead_lettered) == (
        0,
        0,
        1,
    )
    [parked] = _read_topic(stack.bootstrap, dlq, expect=1)
    assert header(parked, DLQ_REASON) == "conflict"
    assert header(parked, DLQ_MESSAGE) == (
        f"request_id: {rid!r} was submitted before with different content"
    )
    with pytest.raises(RPCError) as err:  # nothing was started under the id
        await stack.client.get_workflow_handle(workflow_id(rid)).describe()
    assert err.value.status is RPCStatusCode.NOT_FOUND


async def _not_recorded(request_id: str) -> None:
    return None


def _in_read_model(stack: Any, request_id: str) -> bool:
    with Session(stack.engine) as session:
        return repository.get_request(session, request_id) is not None


async def test_duplicates_and_redelivery_have_no_second_effect(stack, unique_topic) -> None:
    commands, dlq = command_topics(unique_topic, "dup", partitions=3)
    req = make_request()
    rid = req.request_id
    producer = make_producer(stack.bootstrap)
    try:
        data = req.model_dump(mode="json")
        ack = _value("acknowledge", {"request_id": rid}, subject=rid).to_json_bytes()
        _send(producer, commands, _value(SUBMIT, data, subject=rid).to_json_bytes(), rid)
        _send(producer, commands, _value(SUBMIT, data, subject=rid).to_json_bytes(), rid)
        _send(producer, commands, ack, rid)
        _send(producer, commands, ack, rid)  # the same CloudEvent id again
    finally:
        producer.close(timeout=5)

    first = _ingress(stack, commands, dlq)
    async with running(first):
        await _committed(first, 4)
        # the lag gauge (end offset minus committed offset) shows the partition caught up
        await eventually(
            lambda: list(_lags(first).values()) == [0], detail=lambda: _lags(first), what="lag 0"
        )
    # at-least-once: a rebalance (a busy host misses a heartbeat) can refuse a commit and read
    # a record again, one more duplicate; what must never happen is a second effect
    assert (first.stats.applied, first.stats.dead_lettered) == (2, 0)
    assert first.stats.duplicate >= 2
    assert (
        sample(first.registry, "tierflow_ingress_commands_total", type=SUBMIT, outcome="duplicate")
        >= 1
    )
    handle = stack.client.get_workflow_handle(workflow_id(rid))
    run_id = (await handle.describe()).run_id

    # every message redelivered (a new group reads the topic from the start): all no-ops
    again = _ingress(stack, commands, dlq)
    async with running(again):
        await _committed(again, 4)
    assert (again.stats.applied, again.stats.dead_lettered) == (0, 0)
    assert again.stats.duplicate >= 4

    assert (await handle.describe()).run_id == run_id
    view = await handle.query(ServiceRequestWorkflow.view)
    assert view.summary.state is State.ACKNOWLEDGED
    with Session(stack.engine) as session:
        audit = [t.event_id for t in repository.transitions(session, rid)]
    # submitted, assigned, then signed_for and acknowledged (acknowledging signs for it)
    assert audit == [f"{rid}:{n}" for n in (1, 2, 3, 4)]
    events = await asyncio.to_thread(read_events, stack.bootstrap, rid, timeout=3.0, expect=10)
    assert sorted({e["id"] for e in events}) == [f"{rid}:{n}" for n in (1, 2, 3, 4)]


async def test_poison_messages_go_to_the_dlq_and_the_consumer_continues(
    stack, unique_topic
) -> None:
    commands, dlq = command_topics(unique_topic, "poison")
    live = make_request()
    handle = await start_request(stack, live)
    closed = make_request()
    closed_handle = await start_request(stack, closed)
    await act(closed_handle, ActionKind.WITHDRAW, ENTERPRISE)
    await eventually(
        lambda: _status_is(closed_handle, WorkflowExecutionStatus.COMPLETED), what="closed"
    )

    bad_uscc = make_request().model_dump(mode="json")
    bad_uscc["enterprise"]["uscc"] = "91330106MA2XXXXXX0"
    incomplete = make_request().model_dump(mode="json")
    del incomplete["category"]
    ghost = f"ghost-{uuid.uuid4().hex[:8]}"
    enterprise = {"id": live.enterprise.uscc, "role": Role.ENTERPRISE.value}
    cases: list[tuple[str, bytes, str | None]] = [
        ("not_json", b"{not json", None),
        ("not_cloudevent", b'{"hello": "world"}', None),
        (
            "unknown_type",
            _value(SUBMIT, {})
            .model_copy(update={"type": "org.tierflow.request.fly.v1"})
            .to_json_bytes(),
            None,
        ),
        (
            "schema_invalid",
            _value(SUBMIT, incomplete).to_json_bytes(),
            incomplete["request_id"],
        ),
        ("invalid_uscc", _value(SUBMIT, bad_uscc).to_json_bytes(), bad_uscc["request_id"]),
        ("oversize", b"{" + b" " * (300 * 1024) + b"}", None),
        (
            "rejected",
            _value("start", {"request_id": live.request_id}).to_json_bytes(),
            live.request_id,
        ),
        (
            "forbidden",  # the workflow's permission check: enterprises may not acknowledge
            _value(
                "acknowledge", {"request_id": live.request_id, "actor": enterprise}
            ).to_json_bytes(),
            live.request_id,
        ),
        (
            "workflow_closed",
            _value("comment", {"request_id": closed.request_id, "text": "hello?"}).to_json_bytes(),
            closed.request_id,
        ),
        ("unknown_request", _value("acknowledge", {"request_id": ghost}).to_json_bytes(), ghost),
    ]
    good = _value("comment", {"request_id": live.request_id, "text": "still here"})
    producer = make_producer(stack.bootstrap, max_request_size=2 * 1024 * 1024)
    try:
        sent = [_send(producer, commands, value, key) for _, value, key in cases]
        _send(producer, commands, good.to_json_bytes(), live.request_id)
    finally:
        producer.close(timeout=5)

    ingress = _ingress(stack, commands, dlq)
    async with running(ingress):
        await _committed(ingress, len(cases) + 1)
    assert ingress.stats.dead_lettered == len(cases)
    assert ingress.stats.applied == 1  # the good message after all the poison

    parked = await asyncio.to_thread(_read_topic, stack.bootstrap, dlq, len(cases))
    # requests are worked on concurrently: match each parked message by its original offset
    parked.sort(key=lambda m: int(header(m, DLQ_OFFSET) or -1))
    assert [header(m, DLQ_REASON) for m in parked] == [reason for reason, _, _ in cases]
    for msg, meta, (_, value, _) in zip(parked, sent, cases, strict=True):
        assert msg.value == value  # byte for byte
        assert header(msg, DLQ_TOPIC) == commands
        assert header(msg, DLQ_PARTITION) == str(meta.partition)
        assert header(msg, DLQ_OFFSET) == str(meta.offset)
    messages = [header(m, DLQ_MESSAGE) or "" for m in parked]
    assert "InvalidTransition" in messages[6] and "cannot start" in messages[6]
    assert "Forbidden" in messages[7] and "enterprise may not acknowledge" in messages[7]
    assert "uscc" in messages[4]
    # a dead letter the ingress (or the workflow) worded also says it in the reader's language
    worded = [Wording.model_validate_json(header(m, DLQ_WORDING) or "null") for m in parked[3:7]]
    zh = translations("zh-CN")
    said = [refusal_text(w.as_said(), zh) for w in worded]
    assert said[0] == "data.category：此项为必填项"  # schema_invalid
    assert said[3].startswith("工单当前状态为「已派单」，不能执行「开始办理」")  # rejected
    assert header(parked[0], DLQ_WORDING) is None  # not JSON: no catalog message to give
    ghostly = Wording.model_validate_json(header(parked[-1], DLQ_WORDING) or "")
    assert refusal_text(ghostly.as_said(), zh).startswith(f"工单 {ghost} 不存在（")
    for reason in {r for r, _, _ in cases}:
        expected = sum(1 for r, _, _ in cases if r == reason)
        got = sample(ingress.registry, "tierflow_ingress_dead_letters_total", reason=reason)
        assert got == expected, reason
    view = await handle.query(ServiceRequestWorkflow.view)
    assert view.summary.state is State.ASSIGNED  # refused actions changed nothing
    assert [t.event_type.value for t in view.timeline][-1] == "commented"


async def _status_is(handle: Any, status: WorkflowExecutionStatus) -> bool:
    return (await handle.describe()).status == status


async def test_action_before_its_workflow_exists_is_retried_then_applied(
    stack, unique_topic
) -> None:
    """The submit reaches Temporal by another path (API, another ingress) a second later."""
    commands, dlq = command_topics(unique_topic, "early")
    req = make_request()
    rid = req.request_id
    other = _ingress(stack, unique_topic("early-submits"), dlq)  # e.g. another region's feed
    ingress = _ingress(stack, commands, dlq, backoff=Backoff(initial=0.2, maximum=1.0))
    producer = make_producer(stack.bootstrap)
    try:
        async with running(ingress), running(other):
            ack = _value("acknowledge", {"request_id": rid}, subject=rid)
            _send(producer, commands, ack.to_json_bytes(), rid)
            await eventually(lambda: ingress.stats.retries >= 2, what="the action retried")
            submit = _value(SUBMIT, req.model_dump(mode="json"), subject=rid)
            _send(producer, other.commands_topic, submit.to_json_bytes(), rid)
            await _committed(ingress, 1)
            await _committed(other, 1)
    finally:
        producer.close(timeout=5)
    assert (ingress.stats.applied, ingress.stats.dead_lettered) == (1, 0)
    assert other.stats.applied == 1
    assert sample(ingress.registry, "tierflow_ingress_retries_total") >= 2
    view = await stack.client.get_workflow_handle(workflow_id(rid)).query(
        ServiceRequestWorkflow.view
    )
    assert view.summary.state is State.ACKNOWLEDGED


async def test_restart_mid_stream_processes_every_command_once(stack, unique_topic) -> None:
    commands, dlq = command_topics(unique_topic, "restart", partitions=3)
    requests = [make_request() for _ in range(5)]
    values: list[tuple[bytes, str | None]] = []
    for req in requests:
        rid = req.request_id
        values.append(
            (_value(SUBMIT, req.model_dump(mode="json"), subject=rid).to_json_bytes(), rid)
        )
        values.append((_value("acknowledge", {"request_id": rid}).to_json_bytes(), rid))
        values.append(
            (_value("comment", {"request_id": rid, "text": "noted"}).to_json_bytes(), rid)
        )
        values.append((b"garbage " + rid.encode(), rid))
    producer = make_producer(stack.bootstrap)
    try:
        for value, key in values:
            _send(producer, commands, value, key)
    finally:
        producer.close(timeout=5)

    group = f"restart-{uuid.uuid4().hex[:8]}"
    # a small window, so the first instance stops with most of the stream unread
    first = _ingress(stack, commands, dlq, group=group, max_records=2, max_pending=2)
    async with running(first):
        await _committed(first, 4)
    second = _ingress(stack, commands, dlq, group=group)
    actions = 3 * len(requests)  # submit, acknowledge, comment each

    def applied() -> int:
        return first.stats.applied + second.stats.applied

    def dead() -> int:
        return first.stats.dead_lettered + second.stats.dead_lettered

    async with running(second):
        await eventually(
            lambda: applied() >= actions and dead() >= len(requests),
            timeout=40,
            what="every command handled",
        )
    handled = first.stats.committed + second.stats.committed
    assert first.stats.committed < len(values) and second.stats.committed > 0
    # At least once: a command in flight when the group rebalanced may come again, but it is
    # answered as a duplicate (no second effect) and a parked copy names the same offset.
    assert handled >= len(values)
    assert applied() == actions
    parked = await asyncio.to_thread(_read_topic, stack.bootstrap, dlq, dead())
    assert len(parked) == dead()
    origins = {(header(m, DLQ_PARTITION), header(m, DLQ_OFFSET)) for m in parked}
    assert len(origins) == len(requests)  # the garbage, nothing else
    for req in requests:
        view = await stack.client.get_workflow_handle(workflow_id(req.request_id)).query(
            ServiceRequestWorkflow.view
        )
        assert view.summary.state is State.ACKNOWLEDGED
        assert [t.event_type.value for t in view.timeline].count("commented") == 1


# --------------------------------------------------------------------- property, real broker
_garbage = st.one_of(
    st.binary(max_size=200),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
        max_leaves=10,
    ).map(lambda v: json.dumps(v).encode()),
    st.builds(
        lambda t, d: json.dumps(
            {"specversion": "1.0", "id": "x", "source": "/fuzz", "type": t, "data": d}
        ).encode(),
        st.sampled_from(["org.tierflow.request.submit.v1", "org.tierflow.request.rate.v1", "x"]),
        st.dictionaries(st.text(max_size=8), st.integers() | st.text(max_size=8), max_size=3),
    ),
)


async def test_random_garbage_and_good_commands_all_accounted_for(stack, unique_topic) -> None:
    commands, dlq = command_topics(unique_topic, "fuzz", partitions=2)
    live = make_request()
    await start_request(stack, live)
    ingress = _ingress(stack, commands, dlq)
    loop = asyncio.get_running_loop()
    producer = make_producer(stack.bootstrap)
    sent_total = {"n": 0, "good": 0}

    @settings(
        max_examples=4,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    @given(
        st.lists(
            st.one_of(_garbage.map(lambda v: ("bad", v)), st.just(("good", b""))),
            min_size=1,
            max_size=12,
        )
    )
    def check(batch: list[tuple[str, bytes]]) -> None:
        before = (ingress.stats.committed, ingress.stats.dead_lettered)
        good = 0
        for kind, value in batch:
            if kind == "good":
                good += 1
                text = f"note {uuid.uuid4().hex}"
                value = _value("comment", {"request_id": live.request_id, "text": text})
                _send(producer, commands, value.to_json_bytes(), live.request_id)
            else:  # keyless, on a partition of its own choosing: the producer's own pick
                # would draw on the global random state, which Hypothesis warns of
                _send(producer, commands, value, None, partition=len(value) % 2)
        sent_total["n"] += len(batch)
        sent_total["good"] += good
        eventually_sync(
            lambda: ingress.stats.committed - before[0] >= len(batch), what="batch handled"
        )
        processed = ingress.stats.committed - before[0]
        dead = ingress.stats.dead_lettered - before[1]
        assert processed == len(batch)
        assert processed - dead == good  # every good one applied, every bad one parked

    try:
        async with running(ingress):
            await asyncio.to_thread(check)
    finally:
        producer.close(timeout=5)
    assert loop.is_running()
    parked = await asyncio.to_thread(
        _read_topic, stack.bootstrap, dlq, ingress.stats.dead_lettered, 10.0
    )
    assert len(parked) == ingress.stats.dead_lettered == sent_total["n"] - sent_total["good"]
    assert ingress.stats.applied == sent_total["good"]


async def _ack_waiting_for_its_workflow(ingress: Ingress, producer: Any, rid: str) -> None:
    """Send an acknowledge for a request not started yet; return once the ingress retries it."""
    ack = _value("acknowledge", {"request_id": rid}, subject=rid)
    _send(producer, ingress.commands_topic, ack.to_json_bytes(), rid)
    await eventually(lambda: ingress.stats.retries >= 1, what="the ack waiting")


async def test_a_waiting_request_does_not_hold_up_others_in_its_partition(
    stack, unique_topic
) -> None:
    """One partition: request A's action waits for its workflow; B and C go ahead, in order.

    B's and C's commands are sent only once A is already waiting, so they arrive in later
    polls: polling goes on while a message is in flight.
    """
    commands, dlq = command_topics(unique_topic, "lane")
    waiting, *others = [make_request() for _ in range(3)]
    ingress = _ingress(stack, commands, dlq, backoff=Backoff(initial=0.2, maximum=0.5))
    producer = make_producer(stack.bootstrap)
    rid = waiting.request_id
    try:
        async with running(ingress):
            await _ack_waiting_for_its_workflow(ingress, producer, rid)
            for req in others:  # submit, acknowledge, comment: order matters per request
                r = req.request_id
                for value in (
                    _value(SUBMIT, req.model_dump(mode="json"), subject=r),
                    _value("acknowledge", {"request_id": r}, subject=r),
                    _value("comment", {"request_id": r, "text": "lane check"}, subject=r),
                ):
                    _send(producer, commands, value.to_json_bytes(), r)
            await eventually(lambda: ingress.stats.applied >= 6, timeout=40, what="B and C applied")
            assert ingress.stats.applied == 6 and ingress.stats.retries >= 1  # A still waits
            await start_request(stack, waiting)  # A's workflow appears (e.g. via the API)
            await _committed(ingress, 7)
    finally:
        producer.close(timeout=5)
    assert (ingress.stats.applied, ingress.stats.dead_lettered) == (7, 0)
    for req in others:
        view = await stack.client.get_workflow_handle(workflow_id(req.request_id)).query(
            ServiceRequestWorkflow.view
        )
        kinds = [entry.event_type.value for entry in view.timeline]
        assert kinds.index("acknowledged") < kinds.index("commented"), kinds
    view = await stack.client.get_workflow_handle(workflow_id(rid)).query(
        ServiceRequestWorkflow.view
    )
    assert view.summary.state is State.ACKNOWLEDGED


async def test_a_rebalance_mid_flight_redelivers_the_unfinished_work(stack, unique_topic) -> None:
    """A rebalance revokes a partition while a command waits, then hands it straight back.

    The waiting command goes on (kafka-python keeps the position of a partition it keeps),
    the commit stays behind it, and nothing is skipped or applied twice.
    """
    commands, dlq = command_topics(unique_topic, "rebalance")
    group = f"rebalance-{uuid.uuid4().hex[:8]}"
    waiting, later = make_request(), make_request()
    ingress = _ingress(stack, commands, dlq, group=group, backoff=Backoff(initial=0.2, maximum=0.5))
    producer = make_producer(stack.bootstrap)
    rid = waiting.request_id
    try:
        async with running(ingress):
            await _ack_waiting_for_its_workflow(ingress, producer, rid)
            # another member joins the group (for another topic): the group rebalances and
            # the ingress gets its partition straight back
            other = await asyncio.to_thread(
                make_consumer, stack.bootstrap, group, [unique_topic("rebalance-other")]
            )
            polling = threading.Event()
            polling.set()

            def keep_polling() -> None:  # a live member takes part in every rebalance
                while polling.is_set():
                    other.poll(200)

            member = threading.Thread(target=keep_polling, daemon=True)
            member.start()
            try:
                await eventually(
                    lambda: bool(other.assignment()), timeout=30, what="rebalance done"
                )
                r = later.request_id
                for value in (
                    _value(SUBMIT, later.model_dump(mode="json"), subject=r),
                    _value("acknowledge", {"request_id": r}, subject=r),
                ):
                    _send(producer, commands, value.to_json_bytes(), r)
                await eventually(lambda: ingress.stats.applied >= 2, timeout=40, what="later")
                await start_request(stack, waiting)
                await eventually(
                    lambda: ingress.stats.applied >= 3, timeout=40, what="the ack applied"
                )
            finally:
                polling.clear()
                await asyncio.to_thread(member.join, 5)
                await asyncio.to_thread(other.close)
    finally:
        producer.close(timeout=5)
    assert ingress.stats.dead_lettered == 0
    view = await stack.client.get_workflow_handle(workflow_id(rid)).query(
        ServiceRequestWorkflow.view
    )
    assert view.summary.state is State.ACKNOWLEDGED


async def _submit_applied(ingress: Ingress, producer: Any, commands: str) -> None:
    """Submit a new request on ``commands`` and wait until the ingress has committed it."""
    req = make_request()
    rid = req.request_id
    value = _value(SUBMIT, req.model_dump(mode="json"), subject=rid).to_json_bytes()
    _send(producer, commands, value, rid)
    await _committed(ingress, 1)


async def test_a_consumer_stuck_after_a_revocation_is_rebuilt(stack, unique_topic) -> None:
    """A join that never finishes (kafka-python can stall so): a new consumer takes over."""
    commands, dlq = command_topics(unique_topic, "rebuild")
    ingress = _ingress(stack, commands, dlq, rejoin_timeout=1.0)
    producer = make_producer(stack.bootstrap)
    try:
        async with running(ingress):
            await eventually(lambda: ingress.ready, what="subscribed")
            await eventually(revoked_until_replaced(ingress), timeout=20, what="rebuilt")
            await _submit_applied(ingress, producer, commands)
    finally:
        producer.close(timeout=5)
    assert (ingress.stats.applied, ingress.stats.rebuilds) == (1, 1)


async def test_a_consumer_that_stops_fetching_is_rebuilt(stack, unique_topic) -> None:
    """A member that stays in its group but fetches nothing more (tierflow.kafka_fixes,
    item 4; the client's fault is simulated by emptying its fetcher's list of partitions to
    fetch): once a command has waited ``fetch_stall_seconds`` unfetched, a new consumer takes
    over and applies it."""
    commands, dlq = command_topics(unique_topic, "starved")
    ingress = _ingress(stack, commands, dlq, fetch_stall_seconds=2.0)
    new_consumer = ingress._new_consumer

    def first_one_fetches_nothing() -> KafkaConsumer:
        consumer = new_consumer()
        if ingress.stats.rebuilds == 0:
            consumer._fetcher._fetchable_partitions = list
        return consumer

    ingress._new_consumer = first_one_fetches_nothing  # type: ignore[method-assign]
    producer = make_producer(stack.bootstrap)
    try:
        async with running(ingress):
            await _submit_applied(ingress, producer, commands)
    finally:
        producer.close(timeout=5)
    assert (ingress.stats.applied, ingress.stats.rebuilds) == (1, 1)


async def test_a_full_ingress_keeps_polling_so_its_group_can_rebalance(stack, unique_topic) -> None:
    """With its share of ``max_pending`` commands unfinished on every partition, the ingress
    fetches nothing more but still polls: a second instance joining the group gets its
    partitions, instead of the whole group waiting for the full one to finish (or for
    ``max_poll_interval_ms``)."""
    commands, dlq = command_topics(unique_topic, "full", partitions=2)
    group = f"full-{uuid.uuid4().hex[:8]}"
    waiting = [make_request(), make_request()]  # one on each partition
    patient = Backoff(initial=0.2, maximum=0.5, not_found_seconds=120.0)
    first = _ingress(stack, commands, dlq, group=group, max_pending=2, backoff=patient)
    second = _ingress(stack, commands, dlq, group=group)
    producer = make_producer(stack.bootstrap)
    submits = [make_request() for _ in range(4)]
    try:
        async with running(first):
            for partition, req in enumerate(waiting):
                rid = req.request_id
                ack = _value("acknowledge", {"request_id": rid}, subject=rid)
                _send(producer, commands, ack.to_json_bytes(), rid, partition=partition)
            both = [TopicPartition(commands, p) for p in (0, 1)]
            await eventually(
                lambda: all(first.partitions.unfinished(tp) for tp in both),
                what="an ack waiting on each partition",
            )
            async with running(second):
                for i, req in enumerate(submits):  # two for each partition
                    rid = req.request_id
                    value = _value(SUBMIT, req.model_dump(mode="json"), subject=rid)
                    _send(producer, commands, value.to_json_bytes(), rid, partition=i % 2)
                # the second instance owns a partition and applies its submits meanwhile
                await eventually(
                    lambda: second.stats.applied >= 2, timeout=40, what="second instance working"
                )
                for req in waiting:  # the acks can apply now; the rest follows
                    await start_request(stack, req)
                await eventually(
                    lambda: first.stats.applied + second.stats.applied >= len(submits) + 2,
                    timeout=40,
                    what="every command applied",
                )
    finally:
        producer.close(timeout=5)
    assert first.stats.dead_lettered + second.stats.dead_lettered == 0
    for req in [*waiting, *submits]:
        desc = await stack.client.get_workflow_handle(workflow_id(req.request_id)).describe()
        assert desc.status == WorkflowExecutionStatus.RUNNING


async def test_a_client_filling_its_topic_holds_back_its_own_partitions_only(
    stack, unique_topic
) -> None:
    """A client that sends commands that wait (for requests no one started) fills its own
    topic's share of ``max_pending``: its partition pauses, another client's commands go on.
    It used to pause every partition of the ingress."""
    commands, dlq = command_topics(unique_topic, "shares")
    flood, good = unique_topic("flooding-client"), unique_topic("good-client")
    clients = SystemClients(
        [
            SystemClient(id="flood", name="flood", topic=flood, grants=["comment"]),
            SystemClient(id="good", name="good", topic=good, grants=["submit"]),
        ]
    )
    patient = Backoff(initial=0.2, maximum=0.5, not_found_seconds=120.0)
    ingress = make_ingress(stack, commands, dlq, clients=clients, max_pending=6, backoff=patient)
    producer = make_producer(stack.bootstrap)
    try:
        async with running(ingress):
            for n in range(8):  # comments on requests no one submitted: each waits for it
                rid = make_request().request_id
                value = command_event("comment", {"request_id": rid, "text": f"#{n}"}, "/x")
                _send(producer, flood, value.to_json_bytes(), rid)
            flooded = TopicPartition(flood, 0)  # read afresh: a replaced consumer begins anew
            await eventually(
                lambda: ingress.partitions.unfinished(flooded) >= 2, what="the flood taken on"
            )
            req = make_request()
            value = command_event(SUBMIT, req.model_dump(mode="json"), "/y", req.request_id)
            _send(producer, good, value.to_json_bytes(), req.request_id)
            await eventually(lambda: ingress.stats.applied >= 1, timeout=30, what="the submit")
            assert ingress.partitions.unfinished(flooded) >= 2  # still waiting
            assert ingress.stats.dead_lettered == 0
    finally:
        producer.close(timeout=5)
    desc = await stack.client.get_workflow_handle(workflow_id(req.request_id)).describe()
    assert desc.status == WorkflowExecutionStatus.RUNNING


def _group_offsets(bootstrap: str, group: str) -> dict[TopicPartition, int]:
    """The offsets the group has committed, as the brokers hold them."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        found = admin.list_group_offsets({group: None}).get(group, {})
    finally:
        admin.close()
    return {tp: meta.offset for tp, meta in found.items() if meta.offset >= 0}


async def test_offsets_are_committed_at_most_every_interval_and_at_stop(
    stack, unique_topic
) -> None:
    """A commit is a round trip on the polling thread, so the ingress commits finished work at
    most every ``commit_interval``; what it finished since is committed when it stops. The
    loop is turned by hand, one poll-and-commit round at a time."""
    commands, dlq = command_topics(unique_topic, "cadence")
    group = f"ingress-test-{uuid.uuid4().hex[:8]}"
    producer = make_producer(stack.bootstrap)
    ingress = _ingress(stack, commands, dlq, group=group, commit_interval=3600.0)
    partition = TopicPartition(commands, 0)

    async def rounds_until(done: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + 60
        while not done():
            assert time.monotonic() < deadline, f"no {what} within 60 s"
            await ingress.run_once()

    def offsets() -> dict[TopicPartition, int]:
        return _group_offsets(stack.bootstrap, group)

    try:
        for n in (1, 2):
            req = make_request()
            submit = _value(SUBMIT, req.model_dump(mode="json"), subject=req.request_id)
            _send(producer, commands, submit.to_json_bytes(), req.request_id)
            await rounds_until(lambda n=n: ingress.stats.applied == n, f"command {n} applied")
            if n == 1:  # the first commit goes at once
                await rounds_until(lambda: offsets() == {partition: 1}, "first commit")
        for _ in range(3):  # rounds that would commit the second without the interval
            await ingress.run_once()
        assert offsets() == {partition: 1}
        stop = asyncio.Event()
        stop.set()
        await ingress.run(stop)  # stops at once: finishes, commits what is done, closes
        assert offsets() == {partition: 2}
    finally:
        producer.close(timeout=5)
