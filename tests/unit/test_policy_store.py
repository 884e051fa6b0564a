"""Policies as versioned data on a real SQLite database: candidates added once, releases only
forward in time, each refusal naming its field, and the policy in force at any instant."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from tests.utils.fast_policy import Targets, policy_text
from tierflow.db.models import WhatIfRun
from tierflow.policy import load_policy_file
from tierflow.policy_store import (
    PolicyStoreError,
    add_policy,
    load_version,
    policy_content,
    policy_in_force,
    policy_versions,
    promote,
    releases,
)

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
V1 = policy_text(Targets(response=3600, version="v1"))
V2 = policy_text(Targets(response=1800, version="v2"))
PACKAGED = load_policy_file()


def refused(field: str, call: object, *args: object, **kwargs: object) -> str:
    """Call and expect a refusal naming ``field``; return its message."""
    assert callable(call)
    with pytest.raises(PolicyStoreError) as caught:
        call(*args, **kwargs)
    assert caught.value.field == field, str(caught.value)
    assert str(caught.value).startswith(f"{field}:"), str(caught.value)
    return str(caught.value)


def save_run(
    engine: Engine,
    run_id: str,
    version: str,
    content: str,
    calendar: str | None = None,
    requests: int = 10,
    scope: dict[str, object] | None = None,
    report: str = "{}",
) -> None:
    with Session(engine) as session:
        session.add(
            WhatIfRun(
                run_id=run_id,
                created_at=NOW,
                run_by="sup-1",
                candidate_version=version,
                candidate_content=content,
                candidate_calendar=calendar,
                requests=requests,
                changed=2,
                report=report,
                scope=scope or {},
            )
        )
        session.commit()


def test_a_candidate_is_added_once_and_a_clash_is_refused(sqlite_engine: Engine) -> None:
    added = add_policy(sqlite_engine, V1, added_by="admin", configured=None, now=NOW)
    assert added.version == "v1" and added.new
    again = add_policy(
        sqlite_engine, V1.replace("\n", "\n\n"), added_by="other", configured=None, now=NOW
    )
    assert not again.new  # the same policy, written otherwise: nothing changes
    clash = V2.replace('version = "v2"', 'version = "v1"')
    assert "v1 is recorded with other content" in refused(
        "version", add_policy, sqlite_engine, clash, added_by="admin", configured=None
    )
    assert policy_content(sqlite_engine, "v1") == V1
    [info] = policy_versions(sqlite_engine)
    assert (info.version, info.added_by, info.loaded_at) == ("v1", "admin", NOW)


def test_a_candidate_must_validate_and_may_not_take_the_files_version(
    sqlite_engine: Engine,
) -> None:
    broken = V1.replace("response_hours = 1.0", "response_hours = -1.0", 1)
    message = refused(
        "policy", add_policy, sqlite_engine, broken, added_by="admin", configured=None
    )
    assert "response_hours: must be > 0" in message
    refused("policy", add_policy, sqlite_engine, "version = ", added_by="admin", configured=None)
    too_long = V1.replace('version = "v1"', f'version = "{"9" * 65}"')  # no policy file's
    assert "version: must be 1-64 characters" in refused(
        "policy", add_policy, sqlite_engine, too_long, added_by="a", configured=None
    )
    spaced = V1.replace('version = "v1"', 'version = "v1 试行"')  # a file's, not a candidate's
    assert "1-64 letters" in refused(
        "version", add_policy, sqlite_engine, spaced, added_by="a", configured=None
    )
    as_packaged = V1.replace('version = "v1"', f'version = "{PACKAGED.version}"')
    refused(
        "version",
        add_policy,
        sqlite_engine,
        as_packaged,
        added_by="admin",
        configured=PACKAGED,
    )
    assert policy_versions(sqlite_engine) == []


def test_promotions_move_forward_only_and_name_the_field(sqlite_engine: Engine) -> None:
    """A release never changes the past; one not started may be replaced from its instant."""
    add_policy(sqlite_engine, V1, added_by="admin", configured=None)
    add_policy(sqlite_engine, V2, added_by="admin", configured=None)
    day = NOW + timedelta(days=1)
    refused("version", promote, sqlite_engine, "v9", day, promoted_by="admin", now=NOW)
    refused(
        "in_force_from",
        promote,
        sqlite_engine,
        "v1",
        day.replace(tzinfo=None),
        promoted_by="admin",
        now=NOW,
    )
    past = NOW - timedelta(hours=1)
    assert "is in the past" in refused(
        "in_force_from", promote, sqlite_engine, "v1", past, promoted_by="admin", now=NOW
    )
    beijing = past.astimezone(timezone(timedelta(hours=8)))  # shown as the admin gave it
    assert "2026-12-02T16:00:00+08:00 is in the past" in refused(
        "in_force_from", promote, sqlite_engine, "v1", beijing, promoted_by="admin", now=NOW
    )
    skewed = promote(sqlite_engine, "v1", NOW - timedelta(seconds=30), promoted_by="a", now=NOW)
    # a few seconds late (the admin's clock, "now"): from now, so the policy in force at an
    # instant already gone never changes
    assert (skewed.version, skewed.in_force_from) == ("v1", NOW)
    retried = promote(sqlite_engine, "v1", NOW - timedelta(seconds=30), promoted_by="a", now=NOW)
    assert retried == skewed  # its answer lost: the release made, not another

    later = promote(sqlite_engine, "v2", day, promoted_by="admin", note=" 夜间 ", now=NOW)
    assert (later.version, later.in_force_from, later.promoted_at) == ("v2", day, NOW)
    assert later.note == "夜间" and later.whatif_run_id is None
    earlier = day - timedelta(hours=2)
    # before v2 starts, v1 is in force: promoting it again from then changes nothing
    assert "v1 is already the policy in force from then" in refused(
        "version", promote, sqlite_engine, "v1", earlier, promoted_by="admin", now=NOW
    )
    refused("version", promote, sqlite_engine, "v2", day + timedelta(1), promoted_by="a", now=NOW)
    # v2 has not started: a release from its instant replaces it (a correction)
    replaced = promote(sqlite_engine, "v1", day, promoted_by="admin", now=NOW)
    assert policy_in_force(sqlite_engine, day).policy.version == "v1"
    # shown in China time, as the admin reads it
    assert "v1 is released from 2026-12-03T17:00:00+08:00; a release starts after" in refused(
        "in_force_from", promote, sqlite_engine, "v2", day, promoted_by="a", now=day
    )  # once started, never replaced
    back = promote(sqlite_engine, "v2", day + timedelta(days=1), promoted_by="admin", now=NOW)
    assert [r.id for r in releases(sqlite_engine)] == [skewed.id, later.id, replaced.id, back.id]
    # a retry of the same promotion (its answer lost) is answered with the release made
    again = promote(sqlite_engine, "v2", day + timedelta(days=1), promoted_by="admin", now=NOW)
    assert again == back and len(releases(sqlite_engine)) == 4
    # 2207 for 2027: a release cannot be undone
    typo = day.replace(year=day.year + 181)
    assert "more than 366 days ahead" in refused(
        "in_force_from", promote, sqlite_engine, "v2", typo, promoted_by="admin", now=NOW
    )


def test_a_promotion_links_the_whatif_run_that_tried_this_very_policy(
    sqlite_engine: Engine,
) -> None:
    add_policy(sqlite_engine, V2, added_by="admin", configured=None)
    at = NOW + timedelta(days=7)
    save_run(sqlite_engine, "run-other", "v1", V1)
    save_run(sqlite_engine, "run-edited", "v2", V2.replace("0.5", "0.6"))
    save_run(sqlite_engine, "run-v2", "v2", V2)
    calendar = PACKAGED.calendar_for(2026).model_dump_json()
    save_run(sqlite_engine, "run-v2-calendar", "v2", V2, calendar)
    save_run(sqlite_engine, "run-v2-empty", "v2", V2, requests=0)
    args = (sqlite_engine, "v2", at)
    assert "run-v2-empty covered no request" in refused(
        "whatif_run_id", promote, *args, promoted_by="a", whatif_run_id="run-v2-empty", now=NOW
    )
    assert "no what-if run run-9" in refused(
        "whatif_run_id", promote, *args, promoted_by="a", whatif_run_id="run-9", now=NOW
    )
    assert "tried policy v1, not v2" in refused(
        "whatif_run_id", promote, *args, promoted_by="a", whatif_run_id="run-other", now=NOW
    )
    assert "tried other content under v2" in refused(
        "whatif_run_id", promote, *args, promoted_by="a", whatif_run_id="run-edited", now=NOW
    )
    # a run on a candidate calendar tried what a release cannot carry (calendars are published)
    assert "run-v2-calendar replaced the calendar of v2" in refused(
        "whatif_run_id", promote, *args, promoted_by="a", whatif_run_id="run-v2-calendar", now=NOW
    )
    # a supervisor's run saw its region only; a run that could not replay some requests
    # (a policy the workflow cannot compute) shows nothing of them
    save_run(sqlite_engine, "run-v2-city", "v2", V2, scope={"division_prefix": "3301"})
    assert "covered only part of the network (by division_prefix)" in refused(
        "whatif_run_id", promote, *args, promoted_by="a", whatif_run_id="run-v2-city", now=NOW
    )
    skipped = '{"skipped": [{"request_id": "r-1", "reason": "date value out of range"}]}'
    save_run(sqlite_engine, "run-v2-skips", "v2", V2, report=skipped)
    assert "could not replay 1 requests under the policy (r-1: date value out of range)" in (
        refused(
            "whatif_run_id", promote, *args, promoted_by="a", whatif_run_id="run-v2-skips", now=NOW
        )
    )
    assert releases(sqlite_engine) == []
    done = promote(*args, promoted_by="admin", whatif_run_id="run-v2", now=NOW)
    assert done.whatif_run_id == "run-v2"
    assert releases(sqlite_engine) == [done]


def test_the_policy_in_force_is_the_latest_release_at_or_before_the_instant(
    sqlite_engine: Engine,
) -> None:
    add_policy(sqlite_engine, V1, added_by="admin", configured=None)
    add_policy(sqlite_engine, V2, added_by="admin", configured=None)
    first = NOW + timedelta(days=1)
    second = datetime(2026, 12, 10, 0, 0, tzinfo=timezone(timedelta(hours=8)))
    promote(sqlite_engine, "v1", first, promoted_by="admin", now=NOW)
    promote(sqlite_engine, "v2", second, promoted_by="admin", now=NOW)

    before = policy_in_force(sqlite_engine, NOW)
    assert before.release is None and before.policy == PACKAGED  # the file, before any release
    at_first = policy_in_force(sqlite_engine, first)
    assert at_first.policy.version == "v1" and at_first.release is not None
    assert policy_in_force(sqlite_engine, second - timedelta(microseconds=1)).policy.version == "v1"
    in_second = policy_in_force(sqlite_engine, second)
    assert in_second.policy.version == "v2"
    assert in_second.release is not None and in_second.release.in_force_from == second
    assert load_version(sqlite_engine, "v2") is in_second.policy  # parsed once, then cached
    assert load_version(sqlite_engine, "v3") is None


def test_a_release_may_correct_the_policy_in_force_before_a_scheduled_one(
    sqlite_engine: Engine,
) -> None:
    """A mistake in force now is corrected from now although a release is scheduled after
    it (from the new year): the scheduled one still starts at its instant."""
    add_policy(sqlite_engine, V1, added_by="admin", configured=None)
    add_policy(sqlite_engine, V2, added_by="admin", configured=None)
    typo = promote(sqlite_engine, "v2", NOW, promoted_by="admin", now=NOW)
    new_year = NOW + timedelta(days=30)
    scheduled = promote(sqlite_engine, "v1", new_year, promoted_by="admin", now=NOW)
    later = NOW + timedelta(hours=1)
    fixed = promote(sqlite_engine, "v1", later, promoted_by="admin", note="纠错", now=later)
    assert fixed.in_force_from == later
    assert policy_in_force(sqlite_engine, NOW).policy.version == "v2"
    assert policy_in_force(sqlite_engine, later).policy.version == "v1"
    assert policy_in_force(sqlite_engine, new_year).policy.version == "v1"
    assert [r.id for r in releases(sqlite_engine)] == [typo.id, fixed.id, scheduled.id]
    # its answer lost, the correction retried: the release made, not another
    again = promote(sqlite_engine, "v1", later, promoted_by="admin", note="纠错", now=later)
    assert again == fixed and len(releases(sqlite_engine)) == 3
    # a start mistyped months back is refused, not taken for a retry of an old release
    typo_start = NOW - timedelta(days=90)
    assert "is in the past" in refused(
        "in_force_from", promote, sqlite_engine, "v2", typo_start, promoted_by="a", now=later
    )
