"""属地: where a request sent outside its enterprise's division (a Hangzhou enterprise, 330106)
is routed from as it moves up and down the tiers."""

from __future__ import annotations

from schemas.domain import Tier
from workflows.jurisdiction import division_at, routed_after

HOME = "330106"


def test_a_request_belongs_to_its_enterprises_division_until_sent_elsewhere() -> None:
    assert [division_at(HOME, None, t) for t in Tier] == ["330106", "330100", "330000", "000000"]
    assert routed_after(None, HOME, "330100", decided=False) is None  # escalated at home
    assert routed_after(None, HOME, "330105", decided=True) == "330105"  # another district
    assert routed_after("330212", HOME, "330106", decided=True) is None  # sent back home


def test_sent_to_another_citys_county_it_escalates_there_and_comes_back_there() -> None:
    routed = routed_after(None, HOME, "330212", decided=True)  # the province sends it to 鄞州区
    assert routed == "330212"
    assert division_at(HOME, routed, Tier.MUNICIPAL) == "330200"  # escalated to Ningbo
    routed = routed_after(routed, HOME, "330200", decided=False)
    assert routed == "330212"  # the city above it: still 鄞州区's
    assert division_at(HOME, routed, Tier.COUNTY) == "330212"  # handed back to 鄞州区


def test_sent_to_another_city_a_hand_back_to_the_county_tier_goes_home_for_good() -> None:
    routed = routed_after(None, HOME, "330200", decided=True)  # a city-tier request to Ningbo
    assert division_at(HOME, routed, Tier.COUNTY) == "330106"  # Ningbo names no county
    routed = routed_after(routed, HOME, "330106", decided=False)  # handed back to 西湖区
    assert routed is None
    assert division_at(HOME, routed, Tier.MUNICIPAL) == "330100"  # escalates in Hangzhou
