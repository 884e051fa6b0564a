"""A replay counts the days off of the calendar version its admission recorded
(``whatif.lookups.Pinning``): the request's own policy always, a candidate only where it
pins a calendar of public holidays for the same years (its own otherwise)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from schemas.domain import Category, Grade, Priority
from schemas.policy import CalendarData, PolicyRequest
from tierflow.policy import PolicyFile, load_policy_file
from whatif.driver import SimulationError
from whatif.lookups import Pinning

AT = datetime(2027, 3, 1, 2, 0, tzinfo=UTC)
EXTRA = date(2027, 3, 3)  # a Wednesday the older data took for a day off


def _asked() -> PolicyRequest:
    return PolicyRequest(category=Category.FINANCING, priority=Priority.NORMAL, submitted_at=AT)


def _recorded(policy: PolicyFile) -> CalendarData:
    """The calendar an admission pinned under older holidays data: one more day off."""
    pinned = policy.calendar_for(2027)
    return pinned.model_copy(
        update={"version": "cn-holidays-0.1-2027-2029", "holidays": [*pinned.holidays, EXTRA]}
    )


def _variant(policy: PolicyFile, **calendar: object) -> PolicyFile:
    return policy.model_copy(
        update={"version": "candidate", "calendar": policy.calendar.model_copy(update=calendar)}
    )


def _pinning(policy: PolicyFile, recorded: CalendarData | None, own: bool) -> Pinning:
    def calendars(version: str) -> CalendarData | None:
        return recorded if recorded is not None and version == recorded.version else None

    return Pinning(policy, lambda uscc, day: Grade.NONE, as_recorded=own, calendars=calendars)


def test_the_requests_own_policy_counts_the_recorded_days_or_says_what_is_missing() -> None:
    policy = load_policy_file()
    recorded = _recorded(policy)
    pinned = _pinning(policy, recorded, own=True).pin(_asked(), None, recorded.version)
    assert EXTRA in pinned.calendar.holidays and pinned.calendar.version == recorded.version
    with pytest.raises(SimulationError, match="cn-holidays-0.1-2027-2029 its admission pinned"):
        _pinning(policy, None, own=True).pin(_asked(), None, recorded.version)


def test_a_candidate_keeps_a_calendar_of_its_own_kind_or_years() -> None:
    policy = load_policy_file()
    recorded = _recorded(policy)
    same = _pinning(_variant(policy), recorded, own=False).pin(_asked(), None, recorded.version)
    assert EXTRA in same.calendar.holidays  # the same kind and years: the recorded days
    plain = _variant(policy, public_holidays=False)  # round the clock: no days off at all
    kept = _pinning(plain, recorded, own=False).pin(_asked(), None, recorded.version)
    assert not kept.calendar.observes_public_holidays and kept.calendar.holidays == []
    longer = _variant(policy, horizon_years=4)
    years = _pinning(longer, recorded, own=False).pin(_asked(), None, recorded.version)
    assert (years.calendar.first_year, years.calendar.last_year) == (2027, 2031)
    # a candidate is never skipped for a calendar not recorded: it pins its own
    unrecorded = _pinning(_variant(policy), None, own=False).pin(_asked(), None, "cn-x-2027-2029")
    assert EXTRA not in unrecorded.calendar.holidays
