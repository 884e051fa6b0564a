"""The oracle and the workflow's rules, compared on every state x action x tier (no stack).

They are written apart on purpose; this keeps them honest with each other, so a chaos
disagreement points at the running system, not at a stale oracle.
"""

from __future__ import annotations

import itertools

import pytest

from schemas.domain import State, Tier
from schemas.lifecycle import OPERATOR_ACTIONS, TEXT_REQUIRED, ActionKind, ActionRequest
from schemas.request import SYSTEM_ACTOR
from tests.utils.oracle import LIFECYCLE, TIERS, Command, RequestModel
from workflows import applications, handlers, parts, rectification, rules

ROUTE = ["inst-county", "inst-municipal", "inst-provincial", "inst-national"]
TIER_OF = {name: Tier(name) for name in TIERS}


def _request(kind: ActionKind, institution_id: str | None) -> ActionRequest:
    return ActionRequest(
        action_id="a-1",
        kind=kind,
        actor=SYSTEM_ACTOR,
        text="why" if kind in TEXT_REQUIRED else None,
        rating=3 if kind is ActionKind.RATE else None,
        institution_id=institution_id,
    )


# Operator actions answer a held step, not the state: the workflow allows them only while a
# step waits for an operator (tests/workflows/test_operator.py), which the oracle never models.
# Returns, extensions, suspensions (and their decisions) depend on open applications and the
# decider's tier, handlers on who handles it and the accounts; the oracle models none of that
# (tests/workflows/test_return_and_extension.py, test_suspension.py, test_handlers.py do).
UNMODELLED = (
    set(applications.ASKS)
    | set(applications.NAMES)
    | handlers.HANDLER_ACTIONS
    | parts.PART_ACTIONS  # co-handling: test_co_handling.py
    | {ActionKind.SUPERVISE, ActionKind.REPLY_SUPERVISION}  # test_chasing.py
    | {ActionKind.FOLLOW_UP}  # test_follow_up.py
    | rectification.ACTIONS  # test_rectification.py
)
KINDS = [kind for kind in ActionKind if kind not in OPERATOR_ACTIONS | UNMODELLED]
CASES = list(itertools.product(sorted(LIFECYCLE), range(len(TIERS)), KINDS, (False, True)))


@pytest.mark.parametrize(("state", "tier", "kind", "rated"), CASES)
def test_oracle_agrees_with_rules(state: str, tier: int, kind: ActionKind, rated: bool) -> None:
    target = "inst-other" if kind is ActionKind.REASSIGN else None
    model = RequestModel(route=ROUTE, state=state, tier=tier, rated=rated)
    model.institution = ROUTE[tier]
    cmd = Command("a-1", kind.value, target)
    refusal = rules.transition_refusal(
        _request(kind, target), State(state), TIER_OF[TIERS[tier]], ROUTE[tier], rated
    )
    assert model.fits(cmd) == (refusal is None), refusal
    if refusal is None and LIFECYCLE[state][kind.value] not in ("tier+1", "tier-1", "move"):
        expected = rules.target_state(_request(kind, target), State(state)).value
        model.deliver(cmd)
        assert model.state == expected
