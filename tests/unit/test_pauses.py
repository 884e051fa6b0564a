"""A paused request's summary says when its pause ends: an approved suspension's end (挂起),
or the end of the enterprise's time to reply (待企业补充); nothing once handling goes on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from schemas.domain import State, Tier
from schemas.lifecycle import Institution
from tests.utils.console_cases import county_case
from workflows import records
from workflows.business_time import add_business_seconds

NOW = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)
COUNTY = Institution(id="zj-330106-sme", name="西湖区", tier=Tier.COUNTY, division_code="330106")


def test_a_suspension_pauses_until_its_approved_end() -> None:
    case = county_case(NOW, State.SUSPENDED, COUNTY)
    case.suspended_until = NOW + timedelta(days=3)
    assert records.summary(case, NOW).paused_until == case.suspended_until
    case.state = State.IN_PROGRESS  # resumed: the field may linger, the pause does not
    assert records.summary(case, NOW).paused_until is None


def test_waiting_for_the_enterprise_pauses_until_its_time_to_reply_ends() -> None:
    case = county_case(NOW, State.AWAITING_ENTERPRISE, COUNTY)
    assert case.policy is not None
    case.policy = case.policy.model_copy(update={"enterprise_wait_max_seconds": 10 * 7 * 3600})
    case.paused_at = NOW
    expected = add_business_seconds(NOW, 10 * 7 * 3600, case.policy.calendar)
    assert records.summary(case, NOW).paused_until == expected
