"""Bad input on the commands topic: the ingress survives, and every message is accounted for.

6. Generated bad commands mixed with good lifecycles: the ingress stays up and healthy,
   each bad message lands on the DLQ with the right reason, processed + dead-lettered =
   sent, and the good commands are all applied.
7. Duplicated and shuffled commands: the final state of each request is what the
   independent oracle (tests/utils/oracle.py) predicts.

SLA targets and the reopen window are long, so no timer interferes with either prediction.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from schemas import permissions
from schemas.dlq import DLQ_OFFSET, DLQ_PARTITION, DLQ_REASON, DLQ_TOPIC
from schemas.domain import Category, Tier
from schemas.enterprise import division_for_tier, division_tier
from schemas.lifecycle import ActionKind
from tests.chaos import bad_input
from tests.chaos.audit import check_audit, record_figures
from tests.chaos.commands import action, new_request, submit
from tests.chaos.harness import ChaosStack, Message
from tests.chaos.scale import Sizes, sizes
from tests.utils.eventually import eventually_sync
from tests.utils.fast_policy import Targets
from tests.utils.oracle import Command, Outcome, deliveries, predict, random_walk
from tierflow import constants
from tierflow.directory import Directory

TARGETS = Targets(
    response=24 * 3600,
    resolution=48 * 3600,
    reopen_window=24 * 3600,
)
pytestmark = pytest.mark.timeout(sizes().test_timeout)
NOT_FOUND_BUDGET = 60  # seconds the ingress retries an action for an unknown request


class HealthWatch:
    """Poll the ingress /healthz and pid twice a second in the background."""

    def __init__(self, stack: ChaosStack) -> None:
        self.stack = stack
        self.pid = stack.ingress.process.pid()
        self.ok = 0
        self.failed: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="chaos-health", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            pid = self.stack.ingress.process.pid()
            if pid != self.pid:
                self.failed.append(f"ingress pid {self.pid} -> {pid}")
            elif self.stack.ingress_healthy():
                self.ok += 1
            else:
                self.failed.append(f"/healthz not ok at {time.strftime('%X')}")

    @contextmanager
    def watching(self) -> Iterator[HealthWatch]:
        self._thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            self._thread.join(timeout=10)


def dlq_by_origin(stack: ChaosStack) -> dict[tuple[int, int], str]:
    """DLQ records by (original partition, original offset) -> reason code."""
    out = {}
    for record in stack.read_topic(constants.DEAD_LETTER_TOPIC):
        headers = {k: (v or b"").decode(errors="replace") for k, v in record.headers or []}
        if headers.get(DLQ_TOPIC) != constants.COMMANDS_TOPIC:
            continue
        origin = (int(headers[DLQ_PARTITION]), int(headers[DLQ_OFFSET]))
        assert origin not in out, f"message {origin} dead-lettered twice"
        out[origin] = headers[DLQ_REASON]
    return out


def wait_counted(stack: ChaosStack, before: float, sent: int, timeout: float) -> dict:
    """Wait until the ingress has counted ``sent`` more commands than ``before``."""
    last: dict = {}

    def counted() -> dict | None:
        nonlocal last
        last = stack.ingress_metrics()
        return last if last["commands.total"] - before >= sent else None

    return eventually_sync(
        counted, timeout, f"ingress counted {sent} commands", detail=lambda: last
    )


def delta(after: dict, before: dict, key: str) -> float:
    return after.get(key, 0.0) - before.get(key, 0.0)


def test_bad_commands_are_dead_lettered_and_good_ones_applied(
    chaos_stack: ChaosStack, chaos_sizes: Sizes
) -> None:
    stack = chaos_stack
    rng = random.Random(6)
    good_requests = [new_request("good") for _ in range(chaos_sizes.good_requests)]
    good_lists = [bad_input.good_lifecycle(r) for r in good_requests]
    refused = sum(m.expect != "applied" for msgs in good_lists for m in msgs)
    ghosts = [bad_input.unknown_request() for _ in range(chaos_sizes.unknown_requests)]
    junk = bad_input.decode_failures(rng, chaos_sizes.bad_commands - refused - len(ghosts))
    # ghosts first (they wait out the not-found budget); the rest mixed, good lists in order
    streams: list[list[Message]] = [[g] for g in ghosts] + good_lists + [[j] for j in junk]
    messages = [m for s in streams[: len(ghosts)] for m in s] + merge(rng, streams[len(ghosts) :])
    bad = [m for m in messages if m.expect != "applied"]
    assert len(bad) == chaos_sizes.bad_commands

    before = stack.ingress_metrics()
    crashes_before = stack.log_lines("ingress", "unexpected error")
    watch = HealthWatch(stack)
    with watch.watching():
        sent = stack.publish(messages)
        timeout = chaos_sizes.settle_timeout + NOT_FOUND_BUDGET * (1 + len(ghosts) // 6)
        after = wait_counted(stack, before["commands.total"], len(sent), timeout)

    assert not watch.failed, f"ingress unhealthy or restarted: {watch.failed[:5]}"
    assert watch.ok > 0
    assert stack.log_lines("ingress", "unexpected error") == crashes_before
    counted = delta(after, before, "commands.total")
    processed = delta(after, before, "commands.applied") + delta(
        after, before, "commands.duplicate"
    )
    dead = delta(after, before, "commands.dead_lettered")
    assert processed + dead == counted == len(sent), (
        f"sent {len(sent)}, processed {processed}, dead-lettered {dead}: {after}"
    )
    assert dead == len(bad), f"expected {len(bad)} dead letters, the ingress counted {dead}"

    dlq = dlq_by_origin(stack)
    ours = {(s.partition, s.offset): s for s in sent}
    wrong = []
    for origin, s in ours.items():
        got = dlq.get(origin)
        want = (
            s.message.expect.removeprefix("dead_lettered:")
            if s.message.expect != "applied"
            else None
        )
        if got != want:
            wrong.append((origin, want, got, (s.message.value or b"")[:80]))
    assert not wrong, f"{len(wrong)} messages with the wrong DLQ outcome: {wrong[:5]}"

    ids = {r.request_id for r in good_requests}
    stack.wait_states(ids, lambda r: r.state == "resolved", 60, "good requests resolved")
    applied = [m.event_id for msgs in good_lists for m in msgs[1:] if m.expect == "applied"]
    report = check_audit(stack, ids, applied_actions=applied)
    reasons = Counter(m.expect.removeprefix("dead_lettered:") for m in bad)
    record_figures(
        "bad_input",
        {
            "scale": chaos_sizes.scale,
            "sent": len(sent),
            "good": len(sent) - len(bad),
            "bad": len(bad),
            "processed": processed,
            "dead_lettered": dead,
            "dlq_reasons": dict(reasons),
            "health_checks_ok": watch.ok,
            "audit": report,
        },
    )


def merge(rng: random.Random, streams: list[list[Message]]) -> list[Message]:
    """Interleave streams at random, each keeping its own order."""
    order = [i for i, s in enumerate(streams) for _ in s]
    rng.shuffle(order)
    cursors = [0] * len(streams)
    out = []
    for i in order:
        out.append(streams[i][cursors[i]])
        cursors[i] += 1
    return out


TIERS_UP = (Tier.COUNTY, Tier.MUNICIPAL, Tier.PROVINCIAL, Tier.NATIONAL)


def route_ids() -> list[str]:
    """Institution per tier for the factory's requests (Xihu district, financing)."""
    directory = Directory.load()
    out = []
    for tier in TIERS_UP:
        found = directory.route(division_for_tier("330106", tier), Category.FINANCING, tier)
        assert found is not None, f"the demo directory has no {tier.value} institution"
        out.append(found.id)
    return out


def reassign_peers(route: list[str]) -> dict[int, list[str]]:
    """Per tier, named institutions a reassignment of a financing request may name.

    The workflow asks the directory: the target must exist at the request's tier and serve
    its category (a system client has no region), so the oracle draws from the same list.
    """
    directory = Directory.load()
    peers: dict[int, list[str]] = {}
    for index, tier in enumerate(TIERS_UP):
        named = [
            e.id
            for e in directory.entries
            if e.tier is tier
            and not e.generated
            and (e.is_general or Category.FINANCING in e.categories)
        ]
        peers[index] = sorted({route[index], *sorted(named)[:3]})
    return peers


def rerouted_routes(peers: dict[int, list[str]]) -> dict[str, tuple[list[str], int]]:
    """属地: for each peer outside the enterprise's division (330106), the route escalations
    and hand-backs take once a reassignment sent the request there (from the peer's division
    where it names one at a tier's level or below, else from the enterprise's), and the tier
    index of the peer's division."""
    directory = Directory.load()
    routes: dict[str, tuple[list[str], int]] = {}
    for peer in {p for named in peers.values() for p in named}:
        entry = directory.get(peer)
        assert entry is not None
        routed = permissions.scope_division("330106", entry.division_code)
        if routed is None:
            continue
        route = []
        for tier in TIERS_UP:
            base = routed if division_tier(routed).rank <= tier.rank else "330106"
            found = directory.route(division_for_tier(base, tier), Category.FINANCING, tier)
            assert found is not None
            route.append(found.id)
        routes[peer] = (route, TIERS_UP.index(division_tier(routed)))
    return routes


def to_message(rid: str, cmd: Command) -> Message:
    extra = {"institution_id": cmd.institution_id} if cmd.institution_id else {}
    return action(rid, ActionKind(cmd.kind), cmd.action_id, **extra)


def test_duplicated_shuffled_commands_reach_the_oracles_final_state(
    chaos_stack: ChaosStack, chaos_sizes: Sizes
) -> None:
    stack, rng, route = chaos_stack, random.Random(7), route_ids()
    peers = reassign_peers(route)
    rerouted = rerouted_routes(peers)
    requests = [new_request("dup") for _ in range(chaos_sizes.shuffle_requests)]
    plans = {}
    streams: list[list[Message]] = []
    for req in requests:
        rid = req.request_id
        walk = random_walk(
            rng, rid, route, rng.randint(3, 12), noise=0.15, peers=peers, rerouted=rerouted
        )
        delivered = deliveries(rng, walk)
        model, outcomes = predict(route, delivered, peers, rerouted)
        first = submit(req)
        stream = [first] + [to_message(rid, c) for c in delivered]
        for _ in range(rng.randint(0, 2)):  # the submit is redelivered too
            stream.insert(rng.randint(1, len(stream)), first)
        plans[rid] = (model, delivered, outcomes)
        streams.append(stream)
    messages = merge(rng, streams)

    before = stack.ingress_metrics()
    sent = stack.publish(messages)
    after = wait_counted(stack, before["commands.total"], len(sent), chaos_sizes.settle_timeout)
    assert delta(after, before, "commands.total") == len(sent), after

    dlq = dlq_by_origin(stack)
    states = stack.states(plans)
    rows = stack.transitions(plans)
    disagreements = []
    for rid, (model, _, _) in plans.items():
        row = states[rid]
        got = (str(row.state), str(row.tier), row.institution_id, row.last_sequence)
        want = (model.state, route_tier(model.tier), model.institution, model.events)
        if got != want:
            disagreements.append((rid, "final", want, got))
        applied = sorted(r.action_id for r in rows if r.request_id == rid and r.action_id)
        if applied != sorted(model.applied):
            disagreements.append((rid, "applied", sorted(model.applied), applied))
    assert not disagreements, (
        f"{len(disagreements)} disagreements with the oracle: {disagreements[:4]}"
    )

    # per delivery: refused ones are dead-lettered, applied/duplicate ones are not
    copies = {rid: iter(outcomes) for rid, (_, _, outcomes) in plans.items()}
    audit_rows = Counter(r.action_id for r in rows if r.action_id)
    wrong = []
    tally: Counter[str] = Counter()
    for s in sent:
        message, reason = s.message, dlq.get((s.partition, s.offset))
        if message.event_id is None or message.event_id.startswith("submit-"):
            if reason is not None:
                wrong.append((message.event_id, "submit", reason))
            continue
        outcome = next(copies[message.request_id or ""])
        tally[outcome.value] += 1
        ok = {
            Outcome.APPLIED: reason is None,
            Outcome.DUPLICATE: reason is None,
            Outcome.REFUSED: reason == "rejected",
            # Which answer a copy after the end gets is a race with the workflow finishing:
            # dead-lettered as closed, refused while it finished, or answered as a duplicate.
            Outcome.AFTER_END: reason in (None, "rejected", "workflow_closed"),
        }[outcome]
        if not ok:
            wrong.append((message.event_id, outcome.value, reason))
        if outcome is Outcome.AFTER_END:
            # ... in every answer the copy has no effect: its action id has the one audit
            # row it got before the end, or none
            model = plans[message.request_id or ""][0]
            rows_of_action = audit_rows[message.event_id]
            if rows_of_action != int(message.event_id in model.applied):
                wrong.append((message.event_id, "after_end had an effect", rows_of_action))
    assert not wrong, f"{len(wrong)} deliveries handled unlike the oracle: {wrong[:5]}"
    report = check_audit(stack, set(plans))
    record_figures(
        "duplicates_shuffled",
        {
            "scale": chaos_sizes.scale,
            "requests": len(plans),
            "deliveries": len(sent),
            "predicted": dict(tally),
            "final_states": dict(Counter(m.state for m, _, _ in plans.values())),
            "audit": report,
        },
    )


def route_tier(index: int) -> str:
    return ("county", "municipal", "provincial", "national")[index]


def test_action_refused_before_assignment_applies_when_redelivered_later(
    chaos_stack: ChaosStack,
) -> None:
    """A command refused for its timing must be judged afresh when it is delivered again.

    ``resolve`` published right after ``submit`` reaches the workflow while it is still
    ``submitted``: it must be refused (dead-lettered) and leave no trace, so the same command
    delivered again after ``acknowledge`` resolves the request (what the oracle assumes and
    what happens when the first copy arrives once the request is ``assigned``).
    """
    stack = chaos_stack
    requests = [new_request("early") for _ in range(5)]
    messages: list[Message] = []
    for req in requests:
        rid = req.request_id
        resolve = action(rid, ActionKind.RESOLVE, f"{rid}/resolve")
        messages += [submit(req), resolve, action(rid, ActionKind.ACKNOWLEDGE, f"{rid}/ack")]
        messages.append(resolve)  # the same command again (same CloudEvents id)
    before = stack.ingress_metrics()
    sent = stack.publish(messages)
    wait_counted(stack, before["commands.total"], len(sent), 120)
    states = stack.states({r.request_id for r in requests})
    got = {rid: str(row.state) for rid, row in states.items()}
    stuck = {rid: state for rid, state in got.items() if state != "resolved"}
    assert not stuck, (
        f"{len(stuck)} of {len(requests)} requests did not resolve on the redelivered command "
        f"(the refusal before assignment stuck to its update id): {stuck}"
    )
