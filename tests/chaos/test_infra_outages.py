"""Infrastructure outages: Kafka broker down, Temporal restarted, the database locked.

Normal-priority requests have long targets and a three-second reopen window (so their
lifecycles end closed with exactly known events); urgent requests get a response target a
little longer than the Temporal restarts take, so their SLA timers are due only after them.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import pytest

from schemas.domain import Priority
from tests.chaos.audit import check_audit, record_figures
from tests.chaos.commands import interleave, lifecycle, new_request, submit
from tests.chaos.harness import ChaosStack, Message
from tests.chaos.scale import Sizes, sizes
from tests.utils.chaos_lifecycles import assert_whole_lifecycles
from tests.utils.eventually import eventually_sync
from tests.utils.fast_policy import Targets

SIZES = sizes()
RESTART_BUDGET = 12  # seconds one Temporal restart may take on a busy CI box
URGENT_RESPONSE = 20 + RESTART_BUDGET * SIZES.temporal_restarts
TARGETS = Targets(
    response=4 * 3600,
    resolution=8 * 3600,
    by_priority={Priority.URGENT: (URGENT_RESPONSE, 8 * 3600)},
    reopen_window=3,
)
pytestmark = pytest.mark.timeout(SIZES.test_timeout)


def _lifecycles(prefix: str, n: int) -> tuple[set[str], list[list[Message]], list[str]]:
    requests = [new_request(prefix) for _ in range(n)]
    per_request = [lifecycle(r) for r in requests]
    actions = [m.event_id for msgs in per_request for m in msgs[1:] if m.event_id]
    return {r.request_id for r in requests}, per_request, actions


def test_kafka_broker_down_loses_no_command_or_event(
    chaos_stack: ChaosStack, chaos_sizes: Sizes
) -> None:
    stack = chaos_stack
    ids, per_request, actions = _lifecycles("kd", chaos_sizes.kafka_lifecycles)
    messages = interleave(per_request)
    half = len(messages) // 2
    counted_before = stack.ingress_metrics()["commands.total"]
    first = stack.publish(messages[:half])
    # the broker goes away while the ingress is working through the first half
    eventually_sync(
        lambda: stack.ingress_metrics()["commands.total"] > counted_before,
        60,
        "ingress consuming the first half",
    )

    stopped_at = time.monotonic()
    stack.local.kafka.stop()
    late: dict[str, object] = {}

    def publish_rest() -> None:  # a client that keeps trying while the broker is away
        deadline = time.monotonic() + chaos_sizes.kafka_outage + 180
        late["sent"], late["failures"] = stack.publish_retrying(messages[half:], deadline)

    publisher = threading.Thread(target=publish_rest, name="chaos-late-publisher")
    publisher.start()
    time.sleep(chaos_sizes.kafka_outage)  # the outage itself: the broker stays down this long
    down_for = time.monotonic() - stopped_at
    stack.local.kafka.start(timeout=180)
    publisher.join(timeout=240)
    assert not publisher.is_alive(), "the publisher never got its commands acknowledged"

    stack.wait_states(
        ids, lambda r: r.state == "closed", chaos_sizes.settle_timeout, "lifecycles closed"
    )
    report = check_audit(stack, ids, applied_actions=actions)
    assert_whole_lifecycles(stack, ids)
    assert stack.worker.healthy() and stack.ingress.healthy(), "a process died with the broker"
    record_figures(
        "kafka_down",
        {
            "scale": chaos_sizes.scale,
            "lifecycles": len(ids),
            "commands_sent_before": len(first),
            "commands_sent_during_or_after": len(late["sent"]),  # type: ignore[arg-type]
            "publish_attempts_refused": late["failures"],
            "broker_down_seconds": round(down_for, 1),
            "audit": report,
        },
    )


def test_temporal_restarts_resume_requests_and_fire_sla_timers(
    chaos_stack: ChaosStack, chaos_sizes: Sizes
) -> None:
    stack = chaos_stack
    urgent = [new_request("tu", Priority.URGENT) for _ in range(chaos_sizes.temporal_urgent)]
    urgent_ids = {r.request_id for r in urgent}
    stack.publish([submit(r) for r in urgent])
    stack.wait_states(urgent_ids, lambda r: r.state == "assigned", 120, "urgent assigned")
    ids, per_request, actions = _lifecycles("tr", chaos_sizes.temporal_lifecycles)
    stack.publish(interleave(per_request))

    restarts = []
    for k in range(chaos_sizes.temporal_restarts):
        time.sleep(1.0)  # pacing: the stack runs a second between restarts (awaits nothing)
        began = time.monotonic()
        stack.restart_temporal(kill=k % 2 == 1)
        restarts.append(round(time.monotonic() - began, 1))
    last_restart = datetime.now(UTC)
    assert sum(restarts) < URGENT_RESPONSE, f"restarts {restarts} outlasted the response target"

    stack.wait_states(
        ids, lambda r: r.state == "closed", chaos_sizes.settle_timeout, "lifecycles closed"
    )
    report = check_audit(stack, ids, applied_actions=actions)
    assert_whole_lifecycles(stack, ids)

    # every unacknowledged urgent request breached and escalated, after the restarts
    stack.wait_states(
        urgent_ids,
        lambda r: r.escalation_count >= 1,
        URGENT_RESPONSE + chaos_sizes.settle_timeout,
        "urgent requests escalated",
    )
    rows = [r for r in stack.transitions(urgent_ids) if str(r.event_type) == "escalated"]
    first = {}
    for row in sorted(rows, key=lambda r: r.sequence):
        first.setdefault(row.request_id, row)
    assert set(first) == urgent_ids
    early = [r.request_id for r in first.values() if _utc(r.occurred_at) < last_restart]
    assert not early, f"escalated before the last restart (targets too short?): {early[:3]}"
    reasons = {r.reason for r in first.values()}
    assert reasons == {"sla_breach:response"}, reasons
    assert {r.to_tier for r in first.values()} == {"municipal"}
    urgent_report = check_audit(stack, urgent_ids)
    record_figures(
        "temporal_restarts",
        {
            "scale": chaos_sizes.scale,
            "restarts": len(restarts),
            "restart_seconds": restarts,
            "lifecycles": len(ids),
            "urgent_escalated": len(first),
            "audit": report,
            "urgent_audit": urgent_report,
        },
    )


def test_database_locked_transitions_retry_and_nothing_is_lost(
    chaos_stack: ChaosStack, chaos_sizes: Sizes
) -> None:
    stack = chaos_stack
    ids, per_request, actions = _lifecycles("db", chaos_sizes.db_lifecycles)
    locked_before = stack.log_lines("worker", "database is locked")
    messages = interleave(per_request)
    with stack.database_locked(chaos_sizes.db_lock_seconds):
        locked_at = time.monotonic()
        stack.publish(messages)
        frozen = stack.states(ids)  # readers still work in WAL mode; nothing new is written
    held = time.monotonic() - locked_at
    assert held >= chaos_sizes.db_lock_seconds - 0.5
    assert not frozen, f"{len(frozen)} requests written while the database was locked"
    failures = stack.log_lines("worker", "database is locked") - locked_before
    assert failures > 0, "record_transitions never failed: the lock did not bite"

    stack.wait_states(
        ids, lambda r: r.state == "closed", chaos_sizes.settle_timeout, "lifecycles closed"
    )
    report = check_audit(stack, ids, applied_actions=actions)
    assert_whole_lifecycles(stack, ids)
    record_figures(
        "database_locked",
        {
            "scale": chaos_sizes.scale,
            "lifecycles": len(ids),
            "commands_sent": len(messages),
            "lock_seconds": round(held, 1),
            "persist_failures_logged": failures,
            "audit": report,
        },
    )


def _utc(value: object) -> datetime:
    """SQLite hands back the stored text; parse it to an aware datetime."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
