"""A tiny, independent model of a request's lifecycle that predicts what Kafka commands do.

Why: the chaos suite publishes commands duplicated and shuffled, and must know the right
final state without asking the system. This oracle is written apart from
``workflows/rules.py`` (a state -> action -> next-state table, not the rules' action ->
allowed-states table), so a regression in either shows up as a disagreement.

Delivery model (what the oracle assumes about the pipeline):

* Commands are keyed by request id, so all deliveries of one request share a partition and
  the ingress applies them one after another in publish order. Across requests there is no
  order, so the oracle keeps one independent model per request.
* Each command has a fixed CloudEvents id, which is also its action id. Publishing a command
  1-3 times gives 1-3 *deliveries* of the same action id.
* A delivery whose action id was already *applied* is a duplicate: no effect.
* A delivery whose action does not fit the current state is *refused* (dead-lettered) and
  leaves no trace, so a later copy of the same command is judged afresh: it may apply then.
* Once the request is terminal (withdrawn, rejected) the workflow ends; every later delivery
  is ``after_end``: dead-lettered (workflow closed) or, while the workflow is still
  finishing, answered as a duplicate/refused; either way without effect.
* No timer fires in the oracle's world: the tests that use it run a policy whose SLA targets
  and reopen window are far longer than the run.
* Actor: the system (the Kafka default), which may take every action.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

TIERS = ("county", "municipal", "provincial", "national")
TERMINAL = frozenset({"withdrawn", "rejected", "closed"})

# Moves open to a request at a tier in any working state.
_AT_A_TIER = {
    "escalate": "tier+1",
    "hand_back": "tier-1",
    "reassign": "move",
    "reject": "rejected",
    "comment": "=",
    "withdraw": "withdrawn",
    "external_status": "=",
}
_IN_PROGRESS = {
    "request_info": "awaiting_enterprise",
    "provide_info": "=",
    "resolve": "resolved",
    **_AT_A_TIER,
}
# state -> {action: next state}; "=" keeps the state, "tier+1"/"tier-1"/"move" reassign.
LIFECYCLE: dict[str, dict[str, str]] = {
    "assigned": {
        "sign_for": "=",  # once per holder
        "acknowledge": "acknowledged",
        "provide_info": "=",
        **_AT_A_TIER,
    },
    "acknowledged": {"start": "in_progress", **_IN_PROGRESS},
    "in_progress": _IN_PROGRESS,
    "awaiting_enterprise": {
        "provide_info": "in_progress",
        "comment": "=",
        "withdraw": "withdrawn",
        "external_status": "=",
    },
    "resolved": {
        "reopen": "in_progress",
        "rate": "=",
        "comment": "=",
        "external_status": "=",
    },
}
ALL_ACTIONS = sorted({a for moves in LIFECYCLE.values() for a in moves} | {"start"})


class Outcome(StrEnum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    REFUSED = "refused"
    AFTER_END = "after_end"


@dataclass(frozen=True)
class Command:
    """One command: its action id (= CloudEvents id), kind and reassign target."""

    action_id: str
    kind: str
    institution_id: str | None = None


@dataclass
class RequestModel:
    """The oracle's view of one request, starting where ``submit`` leaves it: assigned."""

    route: Sequence[str]  # institution id per tier, county first
    state: str = "assigned"
    tier: int = 0
    institution: str = ""
    rated: bool = False
    applied: list[str] = field(default_factory=list)
    events: int = 2  # submitted, assigned
    # the policy runs a sign-for clock (the packaged one does): acknowledging a request its
    # holder has not signed for records signed_for first
    sign_for: bool = True
    signed: bool = False  # the current holder signed for it
    # institutions a reassignment may name, per tier index (the directory's judgement);
    # None: any institution other than the current one
    peers: Mapping[int, Sequence[str]] | None = None
    # 属地: per institution a reassignment may name outside the enterprise's division, the
    # route (institution per tier) an escalation or a hand-back takes from then on, and the
    # tier index of that division (a hand-back below it goes home again)
    rerouted: Mapping[str, tuple[Sequence[str], int]] | None = None

    def __post_init__(self) -> None:
        self.institution = self.institution or self.route[0]
        self.home = list(self.route)  # the enterprise's own route
        self.level: int | None = None  # the routed division's tier index, when rerouted

    def fits(self, cmd: Command) -> bool:
        """Would ``cmd`` be accepted now (as a first delivery)?"""
        move = LIFECYCLE.get(self.state, {}).get(cmd.kind)
        if move is None:
            return False
        if move == "tier+1":
            return self.tier < len(TIERS) - 1
        if move == "tier-1":
            return self.tier > 0
        if move == "move":
            target = cmd.institution_id
            if target is None or target == self.institution:
                return False
            return self.peers is None or target in self.peers.get(self.tier, ())
        if cmd.kind == "rate":
            return not self.rated
        if cmd.kind == "sign_for":
            return not self.signed
        return True

    def deliver(self, cmd: Command) -> Outcome:
        """Apply one delivery and say what the pipeline should have done with it."""
        if self.state in TERMINAL:
            return Outcome.AFTER_END
        if cmd.action_id in self.applied:
            return Outcome.DUPLICATE
        if not self.fits(cmd):
            return Outcome.REFUSED
        move = LIFECYCLE[self.state][cmd.kind]
        if self.sign_for and not self.signed and cmd.kind == "acknowledge":
            self.events += 1  # signed_for first
        if cmd.kind in ("sign_for", "acknowledge"):
            self.signed = True
        if move in ("tier+1", "tier-1", "move"):
            self.signed = False  # the new holder signs for it
        if move == "tier+1" or move == "tier-1":
            self.tier += 1 if move == "tier+1" else -1
            self.institution = self.route[self.tier]
            if self.level is not None and self.tier < self.level:  # handed back past it
                self.route, self.level = self.home, None
            self.state = "assigned"
        elif move == "move":
            assert cmd.institution_id is not None
            self.institution = cmd.institution_id
            found = (self.rerouted or {}).get(cmd.institution_id)
            self.route, self.level = found if found else (self.home, None)
            self.state = "assigned"
        elif move != "=":
            self.state = move
        if cmd.kind == "rate":
            self.rated = True
        self.applied.append(cmd.action_id)
        self.events += 1
        return Outcome.APPLIED

    def fitting(self, pool: Sequence[Command]) -> list[Command]:
        return [c for c in pool if self.fits(c)]


def random_walk(
    rng: random.Random,
    request_id: str,
    route: Sequence[str],
    length: int,
    noise: float = 0.0,
    peers: Mapping[int, Sequence[str]] | None = None,
    rerouted: Mapping[str, tuple[Sequence[str], int]] | None = None,
) -> list[Command]:
    """A random command sequence for one request: valid steps, plus refused ones by ``noise``.

    Valid steps are drawn from the actions the model accepts at that point; a refused step is
    an action the model does not accept then (a later copy may still apply).
    """
    model = RequestModel(route=route, peers=peers, rerouted=rerouted)
    out: list[Command] = []
    for step in range(length):
        if model.state in TERMINAL:
            break
        targets = list((peers or {}).get(model.tier, ())) + ["chaos-inst-unknown"]
        candidates = [_command(request_id, step, kind, rng, targets) for kind in ALL_ACTIONS]
        fitting = model.fitting(candidates)
        terminal = [c for c in fitting if LIFECYCLE[model.state][c.kind] in TERMINAL]
        if terminal and rng.random() < 0.85:  # end early rarely, so walks get long
            fitting = [c for c in fitting if c not in terminal] or fitting
        refused = [c for c in candidates if c not in fitting and not model.fits(c)]
        if refused and rng.random() < noise:
            out.append(rng.choice(refused))
            continue
        cmd = rng.choice(fitting)
        model.deliver(cmd)
        out.append(cmd)
    return out


def _command(
    request_id: str, step: int, kind: str, rng: random.Random, targets: Sequence[str]
) -> Command:
    target = rng.choice(targets) if kind == "reassign" else None
    return Command(f"{request_id}/s{step}-{kind}", kind, target)


def deliveries(rng: random.Random, commands: Sequence[Command], most: int = 3) -> list[Command]:
    """Each command 1..``most`` times: first copies in order, extra copies anywhere later."""
    out = list(commands)
    for cmd in commands:
        for _ in range(rng.randint(1, most) - 1):
            out.insert(rng.randint(out.index(cmd) + 1, len(out)), cmd)
    return out


def predict(
    route: Sequence[str],
    delivered: Sequence[Command],
    peers: Mapping[int, Sequence[str]] | None = None,
    rerouted: Mapping[str, tuple[Sequence[str], int]] | None = None,
) -> tuple[RequestModel, list]:
    """Run the deliveries through a fresh model; return it and each delivery's outcome."""
    model = RequestModel(route=route, peers=peers, rerouted=rerouted)
    return model, [model.deliver(c) for c in delivered]
