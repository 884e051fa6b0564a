"""The what-if replays recorded traffic through the live workflow code.

Generated traffic runs on the time-skipping server with the real activities and the packaged
policy, recording into a read model. Replaying each request's actions under its own pinned
policy must reproduce every recorded event; a candidate policy's report must follow from it.
"""

from __future__ import annotations

import json
import sqlite3
import tomllib
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
import pytest_asyncio
import tomli_w
from sqlalchemy import Engine, delete, update
from sqlmodel import Session, col, func, select
from typer.testing import CliRunner, Result

from schemas.domain import Role, Tier
from schemas.enterprise import division_for_tier
from schemas.lifecycle import EventType
from tierflow.calendar_store import record_calendar
from tierflow.cli import app as cli_app
from tierflow.db.engine import make_engine
from tierflow.db.models import BusinessCalendar, ServiceRequest, Transition
from tierflow.policy import load_policy_file
from tierflow_dev.whatif_traffic import Trail, recorded_trail, scaled_policy
from whatif.replay import replay
from whatif.report import changed_csv, groups_csv
from whatif.run import Candidate, Context, VerifyJob, WhatIfJob, run_verify, run_whatif
from whatif.store import list_runs, load_run
from whatif.trail import Scope, load, request_ids

COUNT = 40
SEED = 2026


Recording = Trail


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def recording(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Trail]:
    async with recorded_trail(tmp_path_factory.mktemp("whatif"), COUNT, SEED) as found:
        yield found


def _copy(recording: Recording, copy: Path) -> str:
    """A copy of the recording's database to change; its URL."""
    with (
        sqlite3.connect(recording.url.removeprefix("sqlite:///")) as source,
        sqlite3.connect(copy) as target,
    ):
        source.backup(target)  # the file alone would miss what the write-ahead log holds
    return f"sqlite:///{copy}"


def test_the_generated_traffic_exercises_breaches_escalations_and_people(
    recording: Recording,
) -> None:
    with Session(recording.engine) as session:
        types = {row.event_type for row in session.exec(select(Transition))}
    assert len(recording.traffic.requests) == COUNT
    assert recording.traffic.applied > COUNT
    for needed in (EventType.SLA_BREACHED, EventType.ESCALATED, EventType.RESOLVED):
        assert needed in types
    # an operator published a calendar midway: the running requests took it
    assert recording.traffic.took_calendar > 0
    assert EventType.CALENDAR_UPDATED in types


def test_replaying_each_request_under_its_own_policy_reproduces_its_trail(
    recording: Recording,
) -> None:
    job = VerifyJob(recording.url, Scope(), recording.horizon, processes=1)
    found = run_verify(job)
    assert found.as_dict()["disagreements"] == []
    assert found.skipped == []
    assert (found.requests, found.agreed) == (COUNT, COUNT)
    assert found.max_drift <= timedelta(seconds=1)


def _took_calendar(engine: Engine) -> set[str]:
    with Session(engine) as session:
        rows = session.exec(
            select(Transition).where(Transition.event_type == EventType.CALENDAR_UPDATED)
        )
        return {row.request_id for row in rows}


def test_a_calendar_published_to_a_request_is_replayed_from_its_record(
    recording: Recording, tmp_path: Path
) -> None:
    """The published calendar's extra day off moved deadlines; verify agrees only because
    the replay takes that calendar at its instant. Without its record the requests that
    took it are skipped, naming it, and the others still replay."""
    took = _took_calendar(recording.engine)
    assert took and len(took) < COUNT
    url = _copy(recording, tmp_path / "unrecorded.db")
    engine = make_engine(url)
    with Session(engine) as session:
        session.exec(delete(BusinessCalendar))  # type: ignore[call-overload]
        session.commit()
    found = run_verify(VerifyJob(url, Scope(), recording.horizon, processes=1))
    engine.dispose()
    assert {item["request_id"] for item in found.skipped} == took
    assert all("published to it is not recorded" in item["reason"] for item in found.skipped)
    assert found.disagreements == [] and found.agreed == COUNT - len(took)


def _pinned_version(engine: Engine, event_id: str, version: str) -> None:
    with Session(engine) as session:
        row = session.get(Transition, event_id)
        assert row is not None
        row.details = {**row.details, "calendar_version": version}
        session.add(row)
        session.commit()


def test_a_request_counts_the_days_off_of_the_calendar_its_admission_recorded(
    recording: Recording, tmp_path: Path
) -> None:
    """After an upgrade of the holidays data the installed data builds another calendar than
    a request pinned: the replay takes the days off of the version its admission recorded,
    and skips the request, naming the version, when that calendar is not recorded."""
    url = _copy(recording, tmp_path / "upgraded.db")
    engine = make_engine(url)
    installed = load_policy_file().calendar_for(recording.horizon.year)
    with Session(engine) as session:
        first = session.exec(
            select(Transition)
            .where(Transition.event_type == EventType.ASSIGNED)
            .where(col(Transition.request_id).not_in(_took_calendar(engine)))
            .order_by(col(Transition.event_id))
        ).first()
        assert first is not None and first.details["calendar_version"] == installed.version
        event_id, request_id, admitted = first.event_id, first.request_id, first.occurred_at
    job = VerifyJob(url, Scope(request_prefix=request_id), recording.horizon, processes=1)
    _pinned_version(engine, event_id, "cn-holidays-0.1-moved")
    skipped = run_verify(job).skipped
    assert [item["request_id"] for item in skipped] == [request_id]
    assert (
        "the calendar cn-holidays-0.1-moved its admission pinned is not recorded"
        in (skipped[0]["reason"])
    )
    # recorded with one more day off on its first working day: the replay counts it
    day = admitted.date() + timedelta(days=1)
    while day.weekday() >= 5 or day in installed.holidays:
        day += timedelta(days=1)
    moved = installed.model_copy(
        update={"version": "cn-holidays-0.1-moved", "holidays": [*installed.holidays, day]}
    )
    record_calendar(engine, moved, "t")
    found = run_verify(job)
    assert found.skipped == [] and len(found.disagreements) == 1
    # recorded with the very days the request counted: it replays exactly
    _pinned_version(engine, event_id, "cn-holidays-0.1-same")
    record_calendar(engine, installed.model_copy(update={"version": "cn-holidays-0.1-same"}), "t")
    found = run_verify(job)
    engine.dispose()
    assert (found.agreed, found.skipped, found.disagreements) == (1, [], [])


def test_verify_names_a_request_whose_trail_does_not_follow_from_its_actions(
    recording: Recording, tmp_path: Path
) -> None:
    url = _copy(recording, tmp_path / "tampered.db")
    engine = make_engine(url)
    with Session(engine) as session:
        breach = session.exec(
            select(Transition).where(Transition.event_type == EventType.SLA_BREACHED)
        ).first()
        assert breach is not None
        event_id, request_id = breach.event_id, breach.request_id
        moved = breach.occurred_at + timedelta(hours=1)
        session.exec(  # type: ignore[call-overload]
            update(Transition).where(col(Transition.event_id) == event_id).values(occurred_at=moved)
        )
        session.commit()
    engine.dispose()
    found = run_verify(VerifyJob(url, Scope(), recording.horizon, processes=1))
    assert [d.request_id for d in found.disagreements] == [request_id]
    assert "sla_breached" in found.disagreements[0].describe()


def test_an_action_accepted_before_a_validator_rule_replays_as_it_was(
    recording: Recording, tmp_path: Path
) -> None:
    """A unit's step that a supervisor above took before the workflow's validator refused
    that (``UNIT_STEPS``) is in the trail: verify replays it as production did."""
    url = _copy(recording, tmp_path / "older.db")
    engine = make_engine(url)
    with Session(engine) as session:
        # a county caseworker's 开始办理, else its 办结 (people act at random instants: a
        # recording made under load may hold no start at the county tier)
        steps = session.exec(
            select(Transition)
            .where(col(Transition.event_type).in_([EventType.STARTED, EventType.RESOLVED]))
            .where(Transition.to_tier == Tier.COUNTY)
            .where(Transition.actor_role == Role.CASEWORKER)
            .order_by(col(Transition.event_id))
        ).all()
        step = min(steps, key=lambda t: t.event_type is not EventType.STARTED, default=None)
        assert step is not None
        request = session.get(ServiceRequest, step.request_id)
        assert request is not None
        city = division_for_tier(request.division_code, Tier.MUNICIPAL)  # its region's city
        session.exec(  # type: ignore[call-overload]
            update(Transition)
            .where(col(Transition.event_id) == step.event_id)
            .values(
                actor_id="sup-city",
                actor_role=Role.SUPERVISOR,
                actor_institution_id=f"city-{city}",
                actor_tier=Tier.MUNICIPAL,
                actor_division_code=city,
            )
        )
        session.commit()
    engine.dispose()
    found = run_verify(VerifyJob(url, Scope(), recording.horizon, processes=1))
    assert found.as_dict()["disagreements"] == [] and found.agreed == found.requests


def test_a_text_accepted_before_an_edge_rule_replays_and_is_never_quoted(
    recording: Recording, tmp_path: Path
) -> None:
    """A comment accepted before texts refused direction overrides is in the trail: verify
    rebuilds it as production replays it (no request skipped, no text copied to a report)."""
    url = _copy(recording, tmp_path / "older-text.db")
    engine = make_engine(url)
    written = "请联系王芳 13912345678\u202e 住址杭州"
    with Session(engine) as session:
        row = session.exec(
            select(Transition)
            .where(col(Transition.action_id).is_not(None))
            .where(col(Transition.reason).is_not(None))
            .order_by(col(Transition.event_id))
        ).first()
        assert row is not None
        session.exec(  # type: ignore[call-overload]
            update(Transition)
            .where(col(Transition.event_id) == row.event_id)
            .values(reason=written)
        )
        session.commit()
    engine.dispose()
    found = run_verify(VerifyJob(url, Scope(), recording.horizon, processes=1))
    assert found.skipped == [] and found.agreed == found.requests
    assert "13912345678" not in json.dumps(found.as_dict(), ensure_ascii=False)


def test_a_request_admitted_before_an_engine_rule_replays_without_it(
    recording: Recording, tmp_path: Path
) -> None:
    """The admission records the engine rules it pinned (``engine_rules`` on ``assigned``).
    A recording made before ``decision_days`` existed names no such rule and holds no
    ``decision_overdue``: verify replays it with the rule off, as it ran, and agrees."""
    url = _copy(recording, tmp_path / "before-rules.db")
    engine = make_engine(url)
    with Session(engine) as session:
        overdue = session.exec(
            select(Transition).where(Transition.event_type == EventType.DECISION_OVERDUE)
        ).all()
        assert overdue, "the generated traffic leaves no application undecided"
        for row in overdue:
            session.delete(row)
        for row in session.exec(
            select(Transition).where(Transition.event_type == EventType.ASSIGNED)
        ).all():
            rules = dict(row.details["engine_rules"])
            assert rules.pop("decision_days") == 1  # the others as they were recorded
            row.details = {**row.details, "engine_rules": rules}
            session.add(row)
        session.commit()
    engine.dispose()
    found = run_verify(VerifyJob(url, Scope(), recording.horizon, processes=1))
    assert found.as_dict()["disagreements"] == [] and found.agreed == found.requests


def test_the_own_policy_as_candidate_changes_nothing(recording: Recording) -> None:
    job = WhatIfJob(
        recording.url,
        Scope(),
        recording.horizon,
        processes=2,
        candidate=Candidate(scaled_policy("same-as-packaged")),
    )
    report = run_whatif(job).as_dict()
    assert report["requests"] == COUNT
    assert report["changed"] == []
    assert report["before"] == report["after"]
    assert report["skipped"] == []


def test_business_time_to_resolution_is_measured_on_the_requests_own_calendar(
    recording: Recording,
) -> None:
    """A candidate keeping longer working hours (08:30-12:00, 13:00-18:00): a request it
    resolves at the recorded instant took as many business hours as recorded (its own
    calendar measures both sides); measured on each side's calendar, most took more."""
    data = tomllib.loads(scaled_policy("longer-days"))
    data["calendar"]["working_periods"] = [["08:30", "12:00"], ["13:00", "18:00"]]
    longer = Candidate(tomli_w.dumps(data))
    engine = make_engine(recording.url)
    context = Context(engine)
    candidate = longer.pinning(context.grades, context.calendars)
    ids = request_ids(engine, Scope())
    same_instant = longer_hours = 0  # resolved at the same instant; of them, longer measured
    for request in load(engine, ids):
        own = context.own(request.policy_version)
        before = replay(request, own, context.directory, recording.horizon)
        after = replay(request, candidate, context.directory, recording.horizon, before.calendar)
        resolved = [
            [r.occurred_at for r in side.records if r.event_type is EventType.RESOLVED]
            for side in (before, after)
        ]
        if before.outcome.resolved and after.outcome.resolved and resolved[0] == resolved[1]:
            same_instant += 1
            seconds = before.outcome.resolution_business_seconds
            assert after.outcome.resolution_business_seconds == seconds
            own_hours = replay(request, candidate, context.directory, recording.horizon)
            longer_hours += own_hours.outcome.resolution_business_seconds != seconds
    engine.dispose()
    assert same_instant > 0 and longer_hours > 0


def test_halved_targets_breach_more_and_list_the_requests_that_change(
    recording: Recording,
) -> None:
    job = WhatIfJob(
        recording.url,
        Scope(),
        recording.horizon,
        processes=2,
        candidate=Candidate(scaled_policy("halved", 0.5)),
    )
    report = run_whatif(job).as_dict()
    before, after = report["before"], report["after"]
    assert report["candidate_version"] == "halved"
    assert after["breaches"] > before["breaches"]
    assert after["warnings"] >= before["warnings"]
    # stricter targets never make more requests on time, nor the rate higher (over every
    # request: a candidate that keeps some from resolving does not read better)
    assert after["on_time"] <= before["on_time"]
    assert after["on_time_rate"] <= before["on_time_rate"]
    assert report["changed"], "halved targets changed no request"
    for change in report["changed"]:
        assert change["changed"], change
        for name in change["changed"]:
            assert change["before"][name] != change["after"][name]
    # every group adds up to the totals
    for dimension, groups in report["groups"].items():
        total = sum(pair["after"]["breaches"] for pair in groups.values())
        assert total == after["breaches"], dimension
    rows = groups_csv(report).splitlines()
    assert rows[0] == "dimension,group,measure,before,after,change"
    assert f"total,all,breaches,{before['breaches']},{after['breaches']}," in "\n".join(rows)
    assert len(changed_csv(report).splitlines()) > 1
    json.dumps(report)  # the console and tools read it as JSON


def test_as_of_stands_for_that_instant(recording: Recording) -> None:
    """``--as-of`` mid-recording: the requests submitted by then, with the actions taken by
    then (a resolution recorded later is not delivered), under their own policy unchanged."""
    with Session(recording.engine) as session:
        submitted = sorted(session.exec(select(ServiceRequest.submitted_at)).all())
        as_of = submitted[len(submitted) // 2]
        resolved_by_then = session.exec(
            select(func.count(func.distinct(Transition.request_id))).where(
                Transition.event_type == EventType.RESOLVED, Transition.occurred_at <= as_of
            )
        ).one()
        resolved_ever = session.exec(
            select(func.count(func.distinct(Transition.request_id))).where(
                Transition.event_type == EventType.RESOLVED
            )
        ).one()
    assert resolved_by_then < resolved_ever  # the recording resolves more later
    job = WhatIfJob(
        recording.url,
        Scope(),
        as_of,
        processes=1,
        candidate=Candidate(scaled_policy("same-as-packaged")),
    )
    report = run_whatif(job).as_dict()
    assert report["requests"] == sum(1 for at in submitted if at < as_of)
    assert report["before"]["resolved"] <= resolved_by_then
    assert report["changed"] == [] and report["before"] == report["after"]


def test_a_scope_limits_the_requests(recording: Recording) -> None:
    with Session(recording.engine) as session:
        first = session.exec(select(Transition).order_by(col(Transition.occurred_at))).first()
    assert first is not None
    scope = Scope(since=first.occurred_at, until=first.occurred_at + timedelta(seconds=1))
    job = VerifyJob(recording.url, scope, recording.horizon, processes=1)
    assert run_verify(job).requests == 1


def _cli(recording: Recording, *args: str, lang: str = "en") -> Result:
    env = {
        "TIERFLOW_DATABASE_URL": recording.url,
        "TIERFLOW_LANG": lang,
        "COLUMNS": "200",
    }
    return CliRunner().invoke(cli_app, ["whatif", *args], env=env)


def test_the_cli_verifies_and_reports_in_chinese_by_default(recording: Recording) -> None:
    as_of = recording.horizon.isoformat()
    found = _cli(recording, "--verify", "--as-of", as_of, "--processes", "1", lang="zh_CN")
    assert found.exit_code == 0, found.output
    assert f"{COUNT} 件工单中 {COUNT} 件的重放与记录完全一致" in found.output


def test_the_cli_writes_json_csv_and_saves_the_run(recording: Recording, tmp_path: Path) -> None:
    policy = tmp_path / "candidate.toml"
    policy.write_text(scaled_policy("halved-cli", 0.5), encoding="utf-8")
    out = tmp_path / "report.json"
    args = ["--policy", str(policy), "--as-of", recording.horizon.isoformat(), "--save"]
    found = _cli(recording, *args, "--json", str(out), "--csv", str(tmp_path / "figures.csv"))
    assert found.exit_code == 0, found.output
    report = json.loads(out.read_text("utf-8"))
    assert report["candidate_version"] == "halved-cli" and report["requests"] == COUNT
    assert "candidate halved-cli over 40 requests" in found.output
    # the rate as the console shows it, a percentage, and the engine's escalations named so
    before, after = (
        f"{r * 100:.1f}%"
        for r in (report["before"]["on_time_rate"], report["after"]["on_time_rate"])
    )
    assert f"on-time rate: {before} -> {after}" in found.output
    assert "escalations for a breach: " in found.output
    assert (tmp_path / "figures.csv").read_text("utf-8").startswith("dimension,group,measure")
    assert (tmp_path / "figures-changed.csv").exists()
    [run] = [r for r in list_runs(recording.engine) if r.candidate_version == "halved-cli"]
    assert f"saved as run {run.run_id}" in found.output
    saved = load_run(recording.engine, run.run_id)
    assert saved is not None and saved[1]["changed"] == report["changed"]
    assert saved[0].candidate_content == policy.read_text("utf-8")
    # the instant its data stood for, with the run: made again --as-of it, it says the same
    assert report["as_of"] == saved[0].scope["as_of"] == recording.horizon.isoformat()


def test_a_run_on_a_candidate_calendar_keeps_the_calendar(
    recording: Recording, tmp_path: Path
) -> None:
    """A saved run says which calendar it tried, so nobody takes it for a run of the policy's
    own calendar (a release cannot carry another calendar: tests/unit/test_policy_store.py)."""
    policy = tmp_path / "candidate.toml"
    policy.write_text(scaled_policy("own-cli", 1.0), encoding="utf-8")
    as_of = ["--as-of", recording.horizon.isoformat(), "--save", "--json"]
    own = _cli(recording, "--policy", str(policy), *as_of, str(tmp_path / "own.json"))
    assert own.exit_code == 0, own.output
    # every day of the recorded period a holiday: no business time passes, nothing falls due
    with Session(recording.engine) as session:
        first = session.exec(select(func.min(Transition.occurred_at))).one()
    assert first is not None
    start, end = first.date() - timedelta(days=1), recording.horizon.date() + timedelta(days=1)
    days = {start + timedelta(days=n) for n in range((end - start).days + 1)}
    calendar = load_policy_file().calendar_for(start.year)
    idle = calendar.model_copy(
        update={"holidays": sorted({*calendar.holidays, *days}), "workdays": []}
    )
    calendar_file = tmp_path / "calendar.json"
    calendar_file.write_text(idle.model_dump_json(), encoding="utf-8")
    args = ["--policy", str(policy), "--calendar", str(calendar_file), *as_of]
    tried = _cli(recording, *args, str(tmp_path / "idle.json"))
    assert tried.exit_code == 0, tried.output

    def breaches(name: str) -> int:
        return int(json.loads((tmp_path / name).read_text("utf-8"))["after"]["breaches"])

    assert breaches("own.json") > 0 and breaches("idle.json") == 0
    runs = [r for r in list_runs(recording.engine) if r.candidate_version == "own-cli"]
    saved = {r.run_id: load_run(recording.engine, r.run_id) for r in runs}
    calendars = sorted(
        (found[0].candidate_calendar or "") for found in saved.values() if found is not None
    )
    assert calendars == ["", calendar_file.read_text("utf-8")]


def test_the_cli_names_what_is_wrong(recording: Recording, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('version = "x"\n[targets]\n', encoding="utf-8")
    assert "give either --policy FILE or --verify" in _cli(recording).output
    refused = _cli(recording, "--policy", str(bad))
    assert refused.exit_code == 1 and "--policy:" in refused.output
    naive = _cli(recording, "--verify", "--since", "2026-01-01T00:00")
    assert naive.exit_code == 2 and "--since: give a time zone" in naive.output


def test_the_cli_refuses_what_it_would_silently_ignore(recording: Recording) -> None:
    """Options a verify does not take, an empty period and an unknown code are refused,
    naming the option (they were ignored, and the command exited 0)."""
    for option in (("--calendar", "x.json"), ("--csv", "y.csv"), ("--save",)):
        found = _cli(recording, "--verify", *option)
        assert found.exit_code == 2 and f"{option[0]}: not with --verify" in found.output
    backwards = _cli(
        recording,
        "--verify",
        "--since",
        "2026-12-02T00:00+08:00",
        "--until",
        "2026-12-01T00:00+08:00",
    )
    assert backwards.exit_code == 2 and "--since: 2026-12-02T00:00+08:00 is not before" in (
        backwards.output
    )
    unknown = _cli(recording, "--verify", "--category", "nonsense")
    assert unknown.exit_code == 2 and "--category: 'nonsense' is not one of financing" in (
        unknown.output
    )
