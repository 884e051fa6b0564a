"""Kill -9 the worker and the ingress processes mid-run: nothing lost, nothing doubled.

Lifecycles arrive as Kafka commands (submit, acknowledge, start, resolve); the policy's
reopen window is three seconds, so every request ends closed. Targets are long: no SLA timer
fires, so each request's events are exactly known.
"""

from __future__ import annotations

import time

import pytest

from schemas.lifecycle import ActionKind
from tests.chaos.audit import check_audit, record_figures
from tests.chaos.commands import action, interleave, lifecycle, new_request, submit
from tests.chaos.harness import ChaosStack
from tests.chaos.scale import Sizes, sizes
from tests.utils.chaos_lifecycles import assert_whole_lifecycles
from tests.utils.eventually import eventually_sync
from tests.utils.fast_policy import Targets

TARGETS = Targets(response=4 * 3600, resolution=8 * 3600, reopen_window=3)
pytestmark = pytest.mark.timeout(sizes().test_timeout)

EVENT_OF = {
    "acknowledge": "acknowledged",
    "start": "started",
    "comment": "commented",
    "resolve": "resolved",
}


BACKLOG = 150  # commands waiting in one partition: more than the ingress polls at once (50)


def test_ingress_drains_a_backlog_in_one_partition(chaos_stack: ChaosStack) -> None:
    """A backlog in one partition must drain completely, while other partitions stay busy.

    The ingress pauses a partition while it works on the records polled from it. When the
    fetched batch holds more records than one poll returns, the client parks the rest; if
    they are never handed out again the partition stalls silently (no error, no retry).
    """
    stack = chaos_stack
    busy = new_request("bl")
    others = [new_request("blo") for _ in range(6)]
    stack.publish([submit(busy)] + [submit(r) for r in others])
    ids = {busy.request_id} | {r.request_id for r in others}
    stack.wait_states(ids, lambda r: r.state == "assigned", 120, "backlog requests assigned")
    rid = busy.request_id
    comments = [action(rid, ActionKind.COMMENT, f"{rid}/c{i}") for i in range(BACKLOG)]
    chatter = [
        action(r.request_id, ActionKind.COMMENT, f"{r.request_id}/c{i}")
        for i in range(10)
        for r in others
    ]
    stack.publish(comments + chatter)
    wanted = {m.event_id for m in comments + chatter}
    seen: set[str] = set()

    def all_applied() -> bool:
        seen.update(r.action_id for r in stack.transitions(ids) if r.action_id)
        return wanted <= seen

    def stuck() -> str:
        missing = sorted(wanted - seen)
        return (
            f"{len(missing)} of {len(wanted)} commands never applied, e.g. {missing[:3]}; "
            f"ingress lag per partition: {stack.ingress_lag()}"
        )

    try:
        eventually_sync(all_applied, 90, "backlog applied", detail=stuck)
        check_audit(stack, ids, applied_actions=wanted)
    finally:
        if not wanted <= seen:  # unstick the partition for the next tests
            stack.kill_app("ingress")
            stack.start_app("ingress")


def test_worker_kill9_repeatedly_loses_no_event(
    chaos_stack: ChaosStack, chaos_sizes: Sizes
) -> None:
    stack, n, kills = chaos_stack, chaos_sizes.kill_lifecycles, chaos_sizes.worker_kills
    before = stack.ingress_metrics()
    requests = [new_request("wk") for _ in range(n)]
    ids = {r.request_id for r in requests}
    per_request = [lifecycle(r) for r in requests]
    actions = [m.event_id for msgs in per_request for m in msgs[1:]]
    sent = stack.publish(interleave(per_request))

    killed: list[int] = []
    progress: list[int] = []
    start = time.monotonic()
    for k in range(kills):
        # pacing: a kill every kill_interval seconds, whatever the progress (awaits nothing)
        time.sleep(max(0.0, start + (k + 1) * chaos_sizes.kill_interval - time.monotonic()))
        progress.append(sum(1 for r in stack.states(ids).values() if r.state == "closed"))
        killed.append(stack.kill_app("worker"))
        time.sleep(1.0)  # the outage: the worker stays dead a second before it restarts
        stack.start_app("worker")
    assert len(set(killed)) == kills, f"each kill hit a fresh worker process: {killed}"
    assert progress[0] < n, "the first kill came after every lifecycle had finished"

    stack.wait_states(
        ids, lambda r: r.state == "closed", chaos_sizes.settle_timeout, "all lifecycles closed"
    )
    elapsed = time.monotonic() - start
    report = check_audit(stack, ids, applied_actions=actions)
    assert_whole_lifecycles(stack, ids)
    after = stack.ingress_metrics()
    dead = after.get("commands.dead_lettered", 0) - before.get("commands.dead_lettered", 0)
    assert dead == 0, f"{dead} commands dead-lettered while the worker was down: {after}"
    record_figures(
        "worker_kill9",
        {
            "scale": chaos_sizes.scale,
            "lifecycles": n,
            "commands_sent": len(sent),
            "kills": kills,
            "closed_at_each_kill": progress,
            "seconds": round(elapsed, 1),
            "audit": report,
            "ingress_retries": after.get("retries", 0) - before.get("retries", 0),
        },
    )


def test_ingress_kill9_mid_burst_redelivers_without_double_effect(
    chaos_stack: ChaosStack, chaos_sizes: Sizes
) -> None:
    stack, n, kills = chaos_stack, chaos_sizes.ingress_requests, chaos_sizes.ingress_kills
    requests = [new_request("ik") for _ in range(n)]
    ids = {r.request_id for r in requests}
    stack.publish([submit(r) for r in requests])
    stack.wait_states(ids, lambda r: r.state == "assigned", 120, "submitted requests assigned")

    kinds = [
        ActionKind.ACKNOWLEDGE,
        ActionKind.COMMENT,
        ActionKind.START,
        ActionKind.COMMENT,
        ActionKind.RESOLVE,
    ]
    per_request = [
        [
            action(r.request_id, kind, f"{r.request_id}/b{i}-{kind.value}")
            for i, kind in enumerate(kinds)
        ]
        for r in requests
    ]
    burst = [m.event_id for msgs in per_request for m in msgs]
    expected = {
        m.event_id: EVENT_OF[m.event_id.rsplit("-", 1)[1]] for msgs in per_request for m in msgs
    }
    stack.publish(interleave(per_request))

    def applied() -> int:
        return sum(1 for r in stack.transitions(ids) if r.action_id in expected)

    seen: list[dict] = []
    at_kill: list[int] = []
    for k in range(kills):
        goal = len(burst) * (k + 1) // (kills + 2)
        # polled every 50 ms so the kill lands close to the milestone, mid-burst
        eventually_sync(
            lambda goal=goal: applied() >= goal,
            120,
            f"{goal} burst commands applied before kill {k + 1}",
            detail=applied,
            max_interval=0.05,
        )
        seen.append(stack.ingress_metrics())
        stack.kill_app("ingress")
        at_kill.append(applied())
        time.sleep(1.0)  # the outage: the ingress stays dead a second before it restarts
        stack.start_app("ingress")
    assert at_kill[0] < len(burst), "the first kill came after the whole burst was applied"

    stack.wait_states(
        ids, lambda r: r.state == "closed", chaos_sizes.settle_timeout, "burst requests closed"
    )
    report = check_audit(stack, ids, applied_actions=burst)
    rows = [r for r in stack.transitions(ids) if r.action_id in expected]
    mismatched = [
        (r.action_id, str(r.event_type)) for r in rows if str(r.event_type) != expected[r.action_id]
    ]
    assert not mismatched, f"action results changed: {mismatched[:5]}"
    final = stack.ingress_metrics()
    seen.append(final)
    dead = sum(m.get("commands.dead_lettered", 0) for m in seen)
    assert dead == 0, f"redelivered commands were dead-lettered: {seen}"
    record_figures(
        "ingress_kill9",
        {
            "scale": chaos_sizes.scale,
            "requests": n,
            "burst_commands": len(burst),
            "kills": kills,
            "applied_at_each_kill": at_kill,
            "duplicates_seen_by_ingress": sum(m.get("commands.duplicate", 0) for m in seen),
            "audit": report,
        },
    )
