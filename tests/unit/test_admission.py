"""admit_request: the real policy and directory activities in one call.

It routes by the directory version the policy pins; a permanent routing failure comes back as
data beside the pinned policy; a transient one and a policy failure are raised.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.admission import AdmissionActivities
from activities.directory import DirectoryActivities
from activities.policy import PolicyActivities
from schemas.domain import Category, Grade, Priority, Tier
from schemas.lifecycle import AdmitRequest, RouteRequest
from schemas.policy import PolicyRequest
from tierflow.directory import Directory, DirectoryEntry
from tierflow.policy import load_policy_file

POLICY = load_policy_file()
ASKED = AdmitRequest(
    policy=PolicyRequest(
        category=Category.FINANCING,
        priority=Priority.NORMAL,
        grade=Grade.NONE,
        submitted_at=datetime(2026, 3, 2, 2, tzinfo=UTC),
    ),
    route=RouteRequest(division_code="330106", category=Category.FINANCING, tier=Tier.COUNTY),
)
OLD = DirectoryEntry(id="xh-old", name="旧中心", tier=Tier.COUNTY, division_code="330106")
NEW = OLD.model_copy(update={"id": "xh-new", "name": "新中心"})


def admission(versions: Callable[[str], Directory | None]) -> AdmissionActivities:
    """Requests pin 2026.1; the current directory is 2026.2, whose county centre moved."""
    policy = PolicyActivities(POLICY, directory_version=lambda: "2026.1")
    directory = DirectoryActivities(Directory.covering([NEW], "2026.2"), versions=versions)
    return AdmissionActivities(policy.load_policy, directory.resolve_institution)


async def test_it_pins_the_policy_and_routes_by_the_directory_it_pins() -> None:
    older = Directory.covering([OLD], "2026.1")
    found = await ActivityEnvironment().run(
        admission(lambda v: older if v == "2026.1" else None).admit_request, ASKED
    )
    assert found.policy.directory_version == "2026.1"
    assert found.institution is not None and found.institution.id == "xh-old"
    assert found.route_error is None


async def test_a_permanent_routing_failure_comes_back_beside_the_pinned_policy() -> None:
    def unreadable(version: str) -> Directory | None:
        raise ValueError(f"directory {version} cannot be parsed")

    found = await ActivityEnvironment().run(admission(unreadable).admit_request, ASKED)
    assert found.policy.directory_version == "2026.1" and found.institution is None
    assert found.route_error_type == "Permanent.ValueError"
    assert found.route_error == "resolve_institution: ValueError: directory 2026.1 cannot be parsed"


async def test_a_transient_routing_failure_is_raised_to_be_retried() -> None:
    def database_gone(version: str) -> Directory | None:
        raise ConnectionError("database unreachable")

    with pytest.raises(ConnectionError):
        await ActivityEnvironment().run(admission(database_gone).admit_request, ASKED)


async def test_a_policy_that_fails_validation_fails_the_admission_as_load_policy() -> None:
    broken_calendar = POLICY.calendar.model_copy(update={"working_periods": [("17:30", "09:00")]})
    broken = PolicyActivities(POLICY.model_copy(update={"calendar": broken_calendar}))
    directory = DirectoryActivities(Directory.covering([NEW], "2026.2"))
    admit = AdmissionActivities(broken.load_policy, directory.resolve_institution)
    with pytest.raises(ApplicationError) as err:
        await ActivityEnvironment().run(admit.admit_request, ASKED)
    assert err.value.non_retryable and err.value.message.startswith("load_policy: ValueError: ")
