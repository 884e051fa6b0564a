"""Who an audience is, from the user table: the desks of the tier above, for the region."""

from __future__ import annotations

from sqlalchemy import Engine

from schemas.domain import Role, Tier
from tests.utils.factories import RecordFactory, make_request
from tierflow.auth_store import create_user
from workers.notifier.audience import recipients
from workers.notifier.rules import Audience


def test_a_return_reaches_the_dispatch_desk_of_the_tier_above_in_the_region(
    engine: Engine,
) -> None:
    for user, role, unit in (
        ("disp-hz", Role.DISPATCHER, "zj-330100-sme"),  # Hangzhou's dispatch desk
        ("disp-nb", Role.DISPATCHER, "zj-330200-sme"),  # Ningbo's: another city
        ("desk-hz", Role.FOLLOW_UP, "zj-330100-sme"),  # Hangzhou's follow-up desk
        ("sup-hz", Role.SUPERVISOR, "zj-330100-sme"),
    ):
        create_user(engine, user, role, unit)
    factory = RecordFactory(make_request(division_code="330106"))
    factory.assigned("zj-330106-sme", Tier.COUNTY)
    record = factory.breached("response")  # an event of the county's request
    found = {
        audience: [r.user_id for r in recipients(engine, audience, record, "zh-CN")]
        for audience in (
            Audience.DISPATCH_DESK,
            Audience.FOLLOW_UP_DESK,
            Audience.SUPERVISORS_ABOVE,
        )
    }
    assert found == {
        Audience.DISPATCH_DESK: ["disp-hz"],
        Audience.FOLLOW_UP_DESK: ["desk-hz"],
        Audience.SUPERVISORS_ABOVE: ["sup-hz"],
    }
