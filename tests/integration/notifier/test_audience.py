"""Who an audience is, from the user table: the desks of the tier above, for the region."""

from __future__ import annotations

from sqlalchemy import Engine

from schemas.domain import Role, Tier
from tests.utils.factories import RecordFactory, make_request
from tests.utils.notifier_helpers import project
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


def test_the_enterprise_is_texted_only_at_a_mobile_number(engine: Engine) -> None:
    """A landline or a switchboard extension takes no text message: only the e-mail is
    planned; a mobile number, however it was written, takes both."""
    found = {}
    for phone in ("0571-87654321", "13800000000 转 12", "+86 138-0000-0000", "+1 415 555 0100"):
        request = make_request()
        request.enterprise.contact_phone = phone
        [record] = project(engine, [RecordFactory(request).submitted()])
        [enterprise] = recipients(engine, Audience.ENTERPRISE, record, "zh-CN")
        found[phone] = {channel.value for channel in enterprise.channels}
    assert found == {
        "0571-87654321": {"email"},
        "13800000000 转 12": {"email"},
        "+86 138-0000-0000": {"email", "sms"},
        "+1 415 555 0100": {"email", "sms"},
    }
