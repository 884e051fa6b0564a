"""Who decides a unit's applications (退单, 延期, 挂起) and its appeal of a rating (申诉): a
supervisor (for a return also the dispatch desk) of a tier above the unit, the national one
at the top, and never one of the unit itself: nobody both asks and approves."""

from __future__ import annotations

from schemas.domain import Role, Tier
from schemas.lifecycle import ActionKind
from schemas.request import Actor
from workflows.applications import decider_refusal

NATIONAL_UNIT = "cn-000000-sme"


def lead(tier: Tier, division: str, unit: str | None) -> Actor:
    return Actor(
        id=f"sup-{division}", role=Role.SUPERVISOR, tier=tier, division_code=division,
        institution_id=unit,
    )  # fmt: skip


def test_a_national_unit_does_not_approve_its_own_extension_or_suspension() -> None:
    own = lead(Tier.NATIONAL, "000000", NATIONAL_UNIT)
    for kind in (ActionKind.APPROVE_EXTENSION, ActionKind.APPROVE_SUSPENSION):
        refusal = decider_refusal(own, kind, Tier.NATIONAL, NATIONAL_UNIT)
        assert refusal is not None and "does not decide for itself" in refusal, kind
    other = lead(Tier.NATIONAL, "000000", None)  # the national tier's supervisors
    assert (
        decider_refusal(other, ActionKind.APPROVE_EXTENSION, Tier.NATIONAL, NATIONAL_UNIT) is None
    )


def test_an_appeal_is_decided_above_the_rated_unit() -> None:
    county = "zj-330106-sme"
    refused = decider_refusal(
        lead(Tier.COUNTY, "330106", county), ActionKind.UPHOLD_APPEAL, Tier.COUNTY, county
    )
    assert refused is not None and "does not decide for itself" in refused
    peer = lead(Tier.COUNTY, "330106", None)
    assert "a tier above" in str(
        decider_refusal(peer, ActionKind.REJECT_APPEAL, Tier.COUNTY, county)
    )
    city = lead(Tier.MUNICIPAL, "330100", "zj-330100-sme")
    assert decider_refusal(city, ActionKind.UPHOLD_APPEAL, Tier.COUNTY, county) is None
