"""The packaged SLA policy file, pinning it per request, and errors for bad files."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone
from importlib import resources
from itertools import product
from pathlib import Path

import pytest
from pydantic import ValidationError
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import ActivityEnvironment

from activities.policy import PolicyActivities
from schemas.domain import Category, Grade, Priority, Tier
from schemas.policy import BreachAction, PinnedPolicy, PolicyRequest, SignForBreach, WaitExpiry
from tierflow.policy import VERSION_PATTERN, PolicyError, PolicyFile, load_policy_file, parse_policy

HOUR = 3600
SUBMITTED = datetime(2025, 9, 26, 17, 0, tzinfo=timezone(timedelta(hours=8)))
PACKAGED_TEXT = resources.files("tierflow.data").joinpath("sla_policy.toml").read_text("utf-8")


@pytest.fixture(scope="module")
def policy() -> PolicyFile:
    return load_policy_file()


def test_packaged_file_loads(policy) -> None:
    assert policy.version == "2026.4"
    assert policy.warning_thresholds == [0.5, 0.8]
    assert policy.reopen_window_business_days == 5
    assert policy.calendar.working_periods == [("09:00", "12:00"), ("13:30", "17:30")]
    assert set(policy.targets.priority) == set(Priority)


def test_pin_defaults_tier_and_grade(policy) -> None:
    pinned = policy.pin(Category.OTHER, Priority.NORMAL, Grade.NONE, SUBMITTED)
    assert pinned.version == "2026.4"
    assert pinned.targets[Tier.COUNTY].response_seconds == 8 * HOUR
    assert pinned.targets[Tier.COUNTY].resolution_seconds == 40 * HOUR
    assert pinned.targets[Tier.PROVINCIAL].resolution_seconds == 50 * HOUR
    assert pinned.targets[Tier.NATIONAL].resolution_seconds == 60 * HOUR
    assert pinned.targets[Tier.NATIONAL].response_seconds == 8 * HOUR
    assert pinned.reopen_window_seconds == 5 * 7 * HOUR
    assert pinned.warning_thresholds == [0.5, 0.8]

    giant = policy.pin(Category.OTHER, Priority.URGENT, Grade.LITTLE_GIANT, SUBMITTED)
    assert giant.targets[Tier.COUNTY].response_seconds == 1.5 * HOUR
    assert giant.targets[Tier.COUNTY].resolution_seconds == 12 * HOUR
    assert giant.targets[Tier.NATIONAL].resolution_seconds == 18 * HOUR
    assert pinned.rating_window_seconds == 15 * 7 * HOUR  # 15 business days of 7 hours


def test_work_order_rules_are_pinned_per_priority_and_category(policy) -> None:
    urgent = policy.pin(Category.OTHER, Priority.URGENT, Grade.NONE, SUBMITTED)
    normal = policy.pin(Category.OTHER, Priority.NORMAL, Grade.NONE, SUBMITTED)
    assert (urgent.sign_for_seconds, normal.sign_for_seconds) == (15 * 60, 7 * HOUR)
    assert normal.sign_for_breach is SignForBreach.REMIND
    assert normal.breach_action is BreachAction.ESCALATE and not normal.response_from_sign_for
    assert normal.return_window_seconds == 2 * 7 * HOUR  # 2 working days of 7 hours
    assert (normal.extension_max_days, normal.extension_max_count) == (10, 2)
    assert normal.enterprise_wait_max_seconds == 10 * 7 * HOUR
    assert normal.enterprise_wait_expiry is WaitExpiry.CLOSE

    text = PACKAGED_TEXT.replace(
        "# [work_orders.category.financing]\n# sign_for_hours = { normal = 3.5 }",
        "[work_orders.category.financing]\nsign_for_hours = { normal = 3.5 }",
    ).replace('response_clock_from = "dispatch"', 'response_clock_from = "sign_for"')
    edited = parse_policy(text)
    financing = edited.pin(Category.FINANCING, Priority.NORMAL, Grade.NONE, SUBMITTED)
    assert financing.sign_for_seconds == 3.5 * HOUR and financing.response_from_sign_for
    # the category's other priorities keep the defaults
    assert (
        edited.pin(Category.FINANCING, Priority.URGENT, Grade.NONE, SUBMITTED).sign_for_seconds
        == 15 * 60
    )


def test_a_province_overrides_work_order_rules_for_its_requests() -> None:
    text = PACKAGED_TEXT + (
        "\n[work_orders.province.37]\n"  # Shandong: a working day to sign for urgent ones
        "sign_for_hours = { urgent = 7 }\n"
        'breach_action = "supervise_in_place"\n'
        "extension_max_business_days = 5\n"
    )
    policy = parse_policy(text)
    jinan = policy.pin(Category.OTHER, Priority.URGENT, Grade.NONE, SUBMITTED, "370102")
    hangzhou = policy.pin(Category.OTHER, Priority.URGENT, Grade.NONE, SUBMITTED, "330106")
    assert (jinan.sign_for_seconds, hangzhou.sign_for_seconds) == (7 * HOUR, 15 * 60)
    assert jinan.breach_action is BreachAction.SUPERVISE_IN_PLACE
    assert hangzhou.breach_action is BreachAction.ESCALATE
    assert (jinan.extension_max_days, hangzhou.extension_max_days) == (5, 10)
    # the province's other priorities keep the national hours
    normal = policy.pin(Category.OTHER, Priority.NORMAL, Grade.NONE, SUBMITTED, "370102")
    assert normal.sign_for_seconds == 7 * HOUR
    with pytest.raises(PolicyError, match=r"work_orders.province: unknown province codes \['99'\]"):
        parse_policy(PACKAGED_TEXT + "\n[work_orders.province.99]\nextension_max_count = 1\n")


def test_the_appeal_decision_deadline_is_pinned_and_overridden_per_province() -> None:
    text = PACKAGED_TEXT + "\n[work_orders.province.37]\nappeal_decision_business_days = 3\n"
    policy = parse_policy(text)
    jinan = policy.pin(Category.OTHER, Priority.NORMAL, Grade.NONE, SUBMITTED, "370102")
    hangzhou = policy.pin(Category.OTHER, Priority.NORMAL, Grade.NONE, SUBMITTED, "330106")
    assert (jinan.appeal_decision_days, hangzhou.appeal_decision_days) == (3, 5)
    # a request pinned before the deadline decodes without one
    old = hangzhou.model_dump(mode="json")
    del old["appeal_decision_days"]
    assert PinnedPolicy.model_validate(old).appeal_decision_days is None
    with pytest.raises(PolicyError, match="appeal_decision_business_days: must be >= 1"):
        parse_policy(
            PACKAGED_TEXT.replace("decision_business_days = 5", "decision_business_days = 0")
        )


def test_the_rating_window_is_configurable_and_zero_turns_it_off() -> None:
    text = PACKAGED_TEXT.replace(
        "rating_window_business_days = 15", "rating_window_business_days = 0"
    )
    assert text != PACKAGED_TEXT
    pinned = parse_policy(text).pin(Category.OTHER, Priority.NORMAL, Grade.NONE, SUBMITTED)
    assert pinned.rating_window_seconds == 0
    unset = PACKAGED_TEXT.replace("rating_window_business_days = 15\n", "")
    assert parse_policy(unset).rating_window_business_days == 15  # the default
    with pytest.raises(PolicyError, match="rating_window_business_days: must be >= 0"):
        parse_policy(PACKAGED_TEXT.replace("days = 15", "days = -1"))
    # a window no calendar reaches would fail every automatic close in the workflow
    with pytest.raises(PolicyError, match="rating_window_business_days: must be <= 1000"):
        parse_policy(PACKAGED_TEXT.replace("days = 15", "days = 3000000"))


def test_pin_category_overrides(policy) -> None:
    financing = policy.pin(Category.FINANCING, Priority.URGENT, Grade.NONE, SUBMITTED)
    assert financing.targets[Tier.COUNTY].response_seconds == 2 * HOUR  # default kept
    assert financing.targets[Tier.COUNTY].resolution_seconds == 24 * HOUR
    consult = policy.pin(Category.POLICY_CONSULTATION, Priority.NORMAL, Grade.NONE, SUBMITTED)
    assert consult.targets[Tier.MUNICIPAL].response_seconds == 4 * HOUR
    assert consult.targets[Tier.MUNICIPAL].resolution_seconds == 16 * HOUR


def test_pin_every_combination(policy) -> None:
    for category, priority, grade in product(Category, Priority, Grade):
        pinned = policy.pin(category, priority, grade, SUBMITTED)
        assert set(pinned.targets) == set(Tier)
        baseline = policy.pin(category, priority, Grade.NONE, SUBMITTED)
        county = pinned.targets[Tier.COUNTY]
        assert 0 < county.response_seconds <= county.resolution_seconds
        for lower, upper in zip(list(Tier)[:-1], list(Tier)[1:], strict=True):
            assert (
                pinned.targets[lower].resolution_seconds <= pinned.targets[upper].resolution_seconds
            )
        for tier in Tier:
            assert pinned.targets[tier].resolution_seconds <= (
                baseline.targets[tier].resolution_seconds
            ), (category, priority, grade, tier)
        assert pinned.calendar == baseline.calendar


def test_pinned_calendar_covers_submission_year_and_two_more(policy) -> None:
    pinned = policy.pin(Category.TALENT, Priority.HIGH, Grade.NONE, SUBMITTED)
    cal = pinned.calendar
    assert (cal.first_year, cal.last_year) == (2025, 2027)
    assert cal.version == "cn-holidays-0.109-2025-2027"
    assert date(2025, 9, 28) in cal.workdays and date(2025, 10, 11) in cal.workdays
    assert date(2025, 10, 8) in cal.holidays
    assert cal.utc_offset_minutes == 480
    # Each pin gets its own copy: changing one cannot leak into the cache.
    cal.holidays.clear()
    again = policy.pin(Category.TALENT, Priority.HIGH, Grade.NONE, SUBMITTED)
    assert date(2025, 10, 8) in again.calendar.holidays
    later = policy.pin(Category.TALENT, Priority.HIGH, Grade.NONE, datetime(2026, 3, 1, tzinfo=UTC))
    assert (later.calendar.first_year, later.calendar.last_year) == (2026, 2028)


def test_the_calendars_years_are_chinas_not_utcs(policy) -> None:
    """07:00 on 1 January in China is 23:00 on 31 December in UTC: the request is of the new
    year, and its calendar covers that year and the two after it."""
    new_year = datetime(2026, 12, 31, 23, 0, tzinfo=UTC)
    pinned = policy.pin(Category.TALENT, Priority.HIGH, Grade.NONE, new_year)
    assert (pinned.calendar.first_year, pinned.calendar.last_year) == (2027, 2029)
    old_year = datetime(2026, 12, 31, 15, 59, tzinfo=UTC)  # 23:59 in China
    pinned = policy.pin(Category.TALENT, Priority.HIGH, Grade.NONE, old_year)
    assert (pinned.calendar.first_year, pinned.calendar.last_year) == (2026, 2028)


def test_pinned_policy_survives_the_data_converter(policy) -> None:
    pinned = policy.pin(Category.CERTIFICATION, Priority.LOW, Grade.SPECIALIZED_NEW, SUBMITTED)
    converter = pydantic_data_converter.payload_converter
    [payload] = converter.to_payloads([pinned])
    [back] = converter.from_payloads([payload], [PinnedPolicy])
    assert back == pinned


async def test_load_policy_activity(policy) -> None:
    # no grade registry: the declared grade is recorded, not applied (tests/integration/
    # test_grades.py runs the activity on a registry that confirms it)
    # the request also pins the directory version routing uses from now on
    activities = PolicyActivities(policy, directory_version=lambda: "dir-2026.1")
    request = PolicyRequest(
        category=Category.DIGITAL_TRANSFORMATION,
        priority=Priority.HIGH,
        grade=Grade.LITTLE_GIANT,
        submitted_at=SUBMITTED,
    )
    pinned = await ActivityEnvironment().run(activities.load_policy, request)
    assert pinned == policy.pin(
        Category.DIGITAL_TRANSFORMATION, Priority.HIGH, Grade.NONE, SUBMITTED
    ).model_copy(
        update={
            "grade_declared": Grade.LITTLE_GIANT,
            "grade_applied": Grade.NONE,
            "directory_version": "dir-2026.1",
        }
    )
    assert pinned.targets[Tier.COUNTY].response_seconds == 4 * HOUR


def test_policy_request_needs_an_aware_time() -> None:
    with pytest.raises(ValidationError, match="submitted_at"):
        PolicyRequest(category="talent", priority="low", submitted_at=datetime(2025, 1, 2))


# --- bad files --------------------------------------------------------------------------------


def _load_edited(tmp_path: Path, old: str, new: str) -> PolicyFile:
    assert old in PACKAGED_TEXT, old
    path = tmp_path / "sla_policy.toml"
    path.write_text(PACKAGED_TEXT.replace(old, new, 1), "utf-8")
    return load_policy_file(path)


BAD_EDITS = [
    # figures a request could not be pinned by (an overflow), or that mean a second
    (
        "[targets.tier.national]\nresolution_factor = 1.5",
        "[targets.tier.national]\nresolution_factor = inf",
        "sla_policy.toml: targets.tier.national.resolution_factor: input should be a finite number",
    ),
    (
        "[targets.tier.national]\nresolution_factor = 1.5",
        "[targets.tier.national]\nresolution_factor = 1e-300",
        "sla_policy.toml: targets.tier.national.resolution_factor: must be >= 0.001",
    ),
    (
        "[targets.priority.high]\nresponse_hours = 4",
        "[targets.priority.high]\nresponse_hours = 1e9",
        "sla_policy.toml: targets.priority.high.response_hours: must be <= 10000",
    ),
    (
        "[targets.tier.national]\nresolution_factor = 1.5",
        "[targets.tier.national]\nresolution_factor = 9000",
        "sla_policy.toml: targets: the longest resolution target, 120 hours by factors 9000 (tier)",
    ),
    (
        "reopen_window_business_days = 5",
        "reopen_window_business_days = nan",
        "sla_policy.toml: reopen_window_business_days: input should be a finite number",
    ),
    (
        "[targets.priority.high]\nresponse_hours = 4",
        "[targets.priority.high]\nresponse_hours = 0",
        "sla_policy.toml: targets.priority.high.response_hours: must be > 0",
    ),
    (
        "[targets.priority.low]",
        "[targets.priority.lowest]",
        "sla_policy.toml: targets.priority.lowest: must be one of 'low', 'normal', 'high' or "
        "'urgent', got 'lowest'",
    ),
    (
        "[targets.category.financing.urgent]",
        "[targets.category.fintech.urgent]",
        "sla_policy.toml: targets.category.fintech: must be one of",
    ),
    (
        "[targets.grade.little_giant]\nresponse_factor = 0.75",
        "[targets.grade.little_giant]\nresponse_factr = 0.75",
        "sla_policy.toml: targets.grade.little_giant.response_factr: is not a known field",
    ),
    (
        'version = "2026.4"',
        "",
        "sla_policy.toml: version: is required",
    ),
    (
        "[0.5, 0.8]",
        "[0.8, 0.5]",
        "sla_policy.toml: warning_thresholds: thresholds must be strictly increasing",
    ),
    (
        "[0.5, 0.8]",
        "[0.5, 1.2]",
        "sla_policy.toml: warning_thresholds: each threshold must be between 0 and 1",
    ),
    (
        '["13:30", "17:30"]',
        '["13:30", "25:00"]',
        "sla_policy.toml: calendar.working_periods: period 1 ('13:30', '25:00'): '25:00' is not "
        "a time of day",
    ),
    (
        '["13:30", "17:30"]',
        '["11:30", "17:30"]',
        "sla_policy.toml: calendar.working_periods: period 1 ('11:30', '17:30'): must start after",
    ),
    (
        "[targets.category.financing.urgent]\nresolution_hours = 24",
        "[targets.category.financing.urgent]\nresponse_hours = 30",
        "sla_policy.toml: targets.category.financing.urgent: response_hours (30) must not exceed "
        "resolution_hours (16)",
    ),
    (
        "[targets.priority.low]\nresponse_hours = 16\nresolution_hours = 80\n",
        "",
        "sla_policy.toml: targets.priority: missing priorities: low",
    ),
    (
        "horizon_years = 2",
        "horizon_years = -1",
        "sla_policy.toml: calendar.horizon_years: must be >= 0",
    ),
    (
        "reopen_window_business_days = 5",
        'reopen_window_business_days = "five"',
        "sla_policy.toml: reopen_window_business_days: input should be a valid number",
    ),
    (
        'version = "2026.4"',
        'version = "2026.4',
        "sla_policy.toml: invalid TOML: ",
    ),
    # a version names the file in paths and in 64-character database columns
    (
        'version = "2026.4"',
        f'version = "{"2026.4-" * 10}"',
        "sla_policy.toml: version: must be 1-64 characters, without a slash or control",
    ),
    (
        'version = "2026.4"',
        'version = "2026/4"',
        "sla_policy.toml: version: must be 1-64 characters, without a slash or control",
    ),
    (
        'version = "2026.4"',
        'version = "2026.4\\u0000"',
        "sla_policy.toml: version: must be 1-64 characters, without a slash or control",
    ),
    (
        "normal = 7, low = 7 }",
        "normal = 7 }",
        "sla_policy.toml: work_orders.sign_for_hours: missing priorities: low",
    ),
    (
        "urgent = 0.25,",
        "urgent = 0,",
        "sla_policy.toml: work_orders.sign_for_hours: hours must be greater than 0 and at most "
        "10000 (urgent)",
    ),
    (
        'sign_for_breach = "remind"',
        'sign_for_breach = "ignore"',
        "sla_policy.toml: work_orders.sign_for_breach: must be one of",
    ),
    (
        'breach_action = "escalate"',
        'breach_action = "shrug"',
        "sla_policy.toml: work_orders.breach_action: must be one of",
    ),
]


@pytest.mark.parametrize(("old", "new", "message"), BAD_EDITS)
def test_bad_files_name_field_and_reason(tmp_path: Path, old: str, new: str, message: str) -> None:
    with pytest.raises(PolicyError) as caught:
        _load_edited(tmp_path, old, new)
    assert message in str(caught.value)


def test_several_errors_are_reported_together(tmp_path: Path) -> None:
    text = PACKAGED_TEXT.replace("response_hours = 2", "response_hours = -2").replace(
        "resolution_hours = 80", "resolution_hours = 0"
    )
    path = tmp_path / "custom.toml"
    path.write_text(text, "utf-8")
    with pytest.raises(PolicyError) as caught:
        load_policy_file(path)
    lines = str(caught.value).splitlines()
    assert "custom.toml: targets.priority.urgent.response_hours: must be > 0" in lines
    assert "custom.toml: targets.priority.low.resolution_hours: must be > 0" in lines


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="nope.toml: cannot read policy file"):
        load_policy_file(tmp_path / "nope.toml")


def test_round_the_clock_calendar_without_public_holidays() -> None:
    from datetime import datetime, timedelta

    from tierflow.policy import parse_policy
    from workflows.business_time import add_business_seconds

    packaged = (Path(__file__).parents[2] / "tierflow/data/sla_policy.toml").read_text()
    text = packaged.replace(
        "[calendar]",
        "[calendar]\npublic_holidays = false\nweekend_days = []",
        1,
    )
    text = text.replace(
        'working_periods = [["09:00", "12:00"], ["13:30", "17:30"]]',
        'working_periods = [["00:00", "24:00"]]',
    )
    policy = parse_policy(text, "round-the-clock.toml")
    saturday = datetime.fromisoformat("2026-11-28T03:00:00+08:00")
    pinned = policy.pin(Category.FINANCING, Priority.NORMAL, Grade.NONE, saturday)
    assert pinned.calendar.holidays == [] and pinned.calendar.weekend_days == []
    assert add_business_seconds(saturday, 30, pinned.calendar) == saturday + timedelta(seconds=30)


def test_weekend_days_are_validated() -> None:
    from tierflow.policy import parse_policy

    packaged = (Path(__file__).parents[2] / "tierflow/data/sla_policy.toml").read_text()
    bad = packaged.replace("[calendar]", "[calendar]\nweekend_days = [7]", 1)
    with pytest.raises(PolicyError, match="calendar.weekend_days"):
        parse_policy(bad, "bad.toml")
    # China's days off and make-up working days assume Saturday and Sunday: another weekend
    # was silently replaced by theirs
    six_days = packaged.replace("[calendar]", "[calendar]\nweekend_days = [6]", 1)
    with pytest.raises(PolicyError, match="calendar.weekend_days: .* need public_holidays = false"):
        parse_policy(six_days, "six-day-week.toml")
    own = six_days.replace("weekend_days = [6]", "public_holidays = false\nweekend_days = [6]")
    assert parse_policy(own, "own.toml").calendar_for(2027).weekend_days == [6]
    same = packaged.replace("[calendar]", "[calendar]\nweekend_days = [6, 5]", 1)
    assert parse_policy(same, "same.toml").calendar_for(2027).weekend_days == [5, 6]


def test_a_version_may_be_written_in_chinese(tmp_path: Path) -> None:
    """The rule the policies API and the what-if API take a version by (VERSION_PATTERN)."""
    version = "2026.5 试行"
    loaded = _load_edited(tmp_path, 'version = "2026.4"', f'version = "{version}"')
    assert loaded.version == version and re.fullmatch(VERSION_PATTERN, version)
