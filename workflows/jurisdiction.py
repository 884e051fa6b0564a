"""属地: which division a request belongs to, for routing it up and down the tiers. Pure.

A request belongs to its enterprise's division until a tier above sends it (改派, an approved
退单) to a unit outside it: from then on it belongs to that unit's division (``routed``), so
an escalation goes to that unit's city and a hand-back from there to that unit again. It goes
back to the enterprise's when a decision sends it inside, or when a move lands it on a unit
outside the routed division at the routed division's level or finer (handed back past it).
Pinned as ``scope_follows_holder``; ``schemas.permissions.scope_division`` says who oversees.
"""

from __future__ import annotations

from schemas.domain import Tier
from schemas.enterprise import division_for_tier, division_tier
from schemas.permissions import division_prefix, scope_division


def division_at(enterprise: str, routed: str | None, tier: Tier) -> str:
    """The division whose unit at ``tier`` takes the request: the routed one's where it names
    a division at ``tier`` or below (sent to another city, a hand-back to the county tier
    knows no county there: the enterprise's), else the enterprise's."""
    if routed is not None and division_tier(routed).rank <= tier.rank:
        return division_for_tier(routed, tier)
    return division_for_tier(enterprise, tier)


def routed_after(routed: str | None, enterprise: str, holder: str, decided: bool) -> str | None:
    """``routed`` once the request moved to a unit of division ``holder``: a decision sets it
    (None when the unit is inside the enterprise's division); an escalation or a hand-back
    keeps it while the unit is above it or inside it, and otherwise leaves it."""
    if decided:
        return scope_division(enterprise, holder)
    if routed is None:
        return None
    finer_or_level = division_tier(holder).rank <= division_tier(routed).rank
    if finer_or_level and not holder.startswith(division_prefix(routed)):
        return scope_division(enterprise, holder)
    return routed
