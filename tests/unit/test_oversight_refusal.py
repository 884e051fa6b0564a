"""``permissions.oversight_refusal`` on its own: who moves a request, names its handler or
supervises its unit (the workflow tests drive the same through the real server)."""

from __future__ import annotations

import pytest

from schemas.domain import Role, Tier
from schemas.lifecycle import ActionKind
from schemas.permissions import oversight_refusal
from schemas.request import Actor

HOLDER = "zj-330106-sme"


def lead_of(unit: str | None, tier: Tier | None) -> Actor:
    return Actor(id="sup", role=Role.SUPERVISOR, institution_id=unit, tier=tier)


@pytest.mark.parametrize("kind", [ActionKind.REASSIGN, ActionKind.ESCALATE])
def test_a_supervisor_of_no_tier_is_refused_not_let_through(kind: ActionKind) -> None:
    assert oversight_refusal(lead_of(None, None), kind, Tier.COUNTY, HOLDER)


def test_who_does_what() -> None:
    own, peer = lead_of(HOLDER, Tier.COUNTY), lead_of("zj-330106-fin", Tier.COUNTY)
    city = lead_of("zj-330100-sme", Tier.MUNICIPAL)
    desk = Actor(id="desk", role=Role.DISPATCHER, institution_id=HOLDER, tier=Tier.COUNTY)
    allowed = [
        (own, ActionKind.ESCALATE),
        (own, ActionKind.ASSIGN_HANDLER),
        (city, ActionKind.REASSIGN),
        (city, ActionKind.ESCALATE),
        (city, ActionKind.SUPERVISE),  # a tier above's: chasing.supervisor_refusal
        (desk, ActionKind.REASSIGN),
    ]
    refused = [
        (own, ActionKind.REASSIGN),
        (peer, ActionKind.REASSIGN),
        (peer, ActionKind.ESCALATE),
        (peer, ActionKind.ASSIGN_HANDLER),
        (city, ActionKind.ASSIGN_HANDLER),
    ]
    for actor, kind in allowed:
        assert oversight_refusal(actor, kind, Tier.COUNTY, HOLDER) is None, (actor.id, kind)
    for actor, kind in refused:
        assert oversight_refusal(actor, kind, Tier.COUNTY, HOLDER), (actor.id, kind)
    national = lead_of("national-000000", Tier.NATIONAL)
    other = lead_of("national-other", Tier.NATIONAL)
    assert oversight_refusal(national, ActionKind.SUPERVISE, Tier.NATIONAL, "national-000000")
    assert oversight_refusal(other, ActionKind.SUPERVISE, Tier.NATIONAL, "national-000000") is None
    assert oversight_refusal(other, ActionKind.REASSIGN, Tier.NATIONAL, "national-000000") is None
