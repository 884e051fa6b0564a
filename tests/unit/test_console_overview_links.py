"""The overview's counts lead to the requests they count: a supervisor who sees 3 breached at a
unit opens that unit's queue filtered to breached, as the assessment's numbers do."""

from __future__ import annotations

import re

from api.service.overview import OverviewRow, totals_by_tier
from schemas.domain import Tier
from tests.unit.test_console_operator_badge import render

ROWS = [
    OverviewRow(Tier.COUNTY, "zj-330106-sme", open=5, breached=3, warning=0, paused=1, escalated=2),
    OverviewRow(Tier.COUNTY, None, open=1, breached=1, warning=0, paused=0, escalated=0),
]


def _links(html: str) -> list[str]:
    return [h.replace("&amp;", "&") for h in re.findall(r'href="(/console/\?[^"]*)"', html)]


def test_each_count_opens_the_queue_it_counts() -> None:
    html = render("overview.html", rows=ROWS, tiers=totals_by_tier(ROWS), region="杭州市")
    links = _links(html)
    unit = "/console/?institution=zj-330106-sme"
    assert f"{unit}&sla_status=breached" in links and f"{unit}&sla_status=paused" in links
    assert "/console/?tier=county&sla_status=breached" in links  # the tier's row
    assert f"{unit}&escalated=true" in links  # 上报转入: escalated at least once
    assert not any("warning" in link for link in links)  # a zero is no link
    # a request not yet routed to a unit has no queue of its own: its counts stay plain
    assert not any("institution=None" in link or link.endswith("institution=") for link in links)
    assert links.count("/console/?tier=county&sla_status=breached") == 1
