"""Enterprise grades, verified: only a grade the registry holds on the submission day shortens
the SLA, through the real ``load_policy`` activity on SQLite and PostgreSQL and the real worker."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select
from temporalio.testing import ActivityEnvironment

from activities.policy import PolicyActivities
from schemas.domain import Category, ClockKind, Grade, Priority, Tier
from schemas.policy import PinnedPolicy, PolicyRequest
from tests.utils.factories import make_request
from tests.utils.stack_helpers import start_request
from tierflow import grades
from tierflow.db.grade_models import SOURCE_LENGTH, EnterpriseGrade, EnterpriseGradeBase, GradeLevel
from tierflow.grades import GradeRegistry
from tierflow.policy import load_policy_file
from tierflow_dev.demo import make_uscc
from workflows.service_request import ServiceRequestWorkflow

SUBMITTED = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # Monday 2 March 2026, 10:00 in Shanghai
POLICY = load_policy_file()


def uscc(seed: str) -> str:
    return make_uscc("330106", random.Random(seed))


def recognise(engine: Engine, code: str, grade: Grade, **dates: date | None) -> None:
    row = EnterpriseGradeBase(
        uscc=code,
        grade=grade,
        level=GradeLevel.NATIONAL,
        recognised_by="工业和信息化部",
        granted_on=dates.pop("granted_on", date(2025, 7, 1)),
        **dates,
    )
    with Session(engine) as session:
        grades.upsert(session, [row], source="test.csv", by="cli:li")
        session.commit()


async def pin(engine: Engine, code: str, declared: Grade) -> PinnedPolicy:
    activities = PolicyActivities(POLICY, GradeRegistry(engine))
    req = PolicyRequest(
        category=Category.FINANCING,
        priority=Priority.NORMAL,
        grade=declared,
        submitted_at=SUBMITTED,
        uscc=code,
    )
    result: PinnedPolicy = await ActivityEnvironment().run(activities.load_policy, req)
    return result


def test_a_long_import_path_keeps_the_files_own_name(db_engine: Engine) -> None:
    """The source column holds 200 characters (PostgreSQL refuses more): a path keeps its end."""
    path = "/srv/imports/" + "二〇二六年/" * 60 + "工信部第七批小巨人名单.csv"
    row = EnterpriseGradeBase(
        uscc=uscc("long path"),
        grade=Grade.LITTLE_GIANT,
        level=GradeLevel.NATIONAL,
        recognised_by="工业和信息化部",
        granted_on=date(2025, 7, 1),
    )
    with Session(db_engine) as session:
        assert grades.upsert(session, [row], source=path) == (1, 0)
        session.commit()
    with Session(db_engine) as session:
        [stored] = session.exec(select(EnterpriseGrade)).all()
    assert len(path) > SOURCE_LENGTH and stored.source == path[-SOURCE_LENGTH:]
    assert stored.source.endswith("/工信部第七批小巨人名单.csv")


def targets(grade: Grade) -> PinnedPolicy:
    return POLICY.pin(Category.FINANCING, Priority.NORMAL, grade, SUBMITTED)


async def test_declared_little_giant_unknown_to_the_registry_gets_ordinary_targets(
    db_engine: Engine,
) -> None:
    pinned = await pin(db_engine, uscc("unknown"), Grade.LITTLE_GIANT)
    assert pinned.targets == targets(Grade.NONE).targets
    assert (pinned.grade_declared, pinned.grade_applied) == (Grade.LITTLE_GIANT, Grade.NONE)


async def test_confirmed_little_giant_gets_shorter_targets(db_engine: Engine) -> None:
    code = uscc("confirmed")
    recognise(db_engine, code, Grade.LITTLE_GIANT, valid_until=date(2028, 6, 30))
    pinned = await pin(db_engine, code, Grade.LITTLE_GIANT)
    assert pinned.targets == targets(Grade.LITTLE_GIANT).targets
    ordinary = targets(Grade.NONE).targets[Tier.COUNTY]
    assert pinned.targets[Tier.COUNTY].response_seconds < ordinary.response_seconds
    assert (pinned.grade_declared, pinned.grade_applied) == (Grade.LITTLE_GIANT,) * 2


@pytest.mark.parametrize(
    "dates",
    [
        pytest.param({"valid_until": date(2026, 3, 1)}, id="lapsed the day before"),
        pytest.param({"granted_on": date(2026, 3, 3)}, id="granted the day after"),
    ],
)
async def test_little_giant_not_valid_on_the_submission_day_gets_ordinary_targets(
    db_engine: Engine, dates: dict[str, date]
) -> None:
    code = uscc("lapsed")
    recognise(db_engine, code, Grade.LITTLE_GIANT, **dates)
    pinned = await pin(db_engine, code, Grade.LITTLE_GIANT)
    assert pinned.targets == targets(Grade.NONE).targets
    assert pinned.grade_applied is Grade.NONE


async def test_withdrawn_little_giant_falls_back_to_the_grade_still_held(
    db_engine: Engine,
) -> None:
    code = uscc("withdrawn")
    recognise(db_engine, code, Grade.SPECIALIZED_NEW, granted_on=date(2024, 7, 1))
    recognise(db_engine, code, Grade.LITTLE_GIANT, valid_until=date(2028, 6, 30))
    with Session(db_engine) as session:
        [row] = grades.withdraw(
            session, code, "复核不合格", date(2026, 1, 15), Grade.LITTLE_GIANT, by="cli:wang"
        )
        session.commit()
        assert row.withdrawn_at is not None and row.withdrawn_by == "cli:wang"
        assert row.imported_by == "cli:li"  # who imported it, kept beside who withdrew it
    pinned = await pin(db_engine, code, Grade.LITTLE_GIANT)
    assert pinned.targets == targets(Grade.SPECIALIZED_NEW).targets
    assert pinned.grade_applied is Grade.SPECIALIZED_NEW
    # withdrawn from 15 January: on the 14th it still held
    with Session(db_engine) as session:
        held = grades.highest(grades.recognitions(session, code, date(2026, 1, 14)))
    assert held is Grade.LITTLE_GIANT


async def test_a_registry_grade_applies_though_none_was_declared(db_engine: Engine) -> None:
    code = uscc("modest")
    recognise(db_engine, code, Grade.SPECIALIZED_NEW)
    pinned = await pin(db_engine, code, Grade.NONE)
    assert (pinned.grade_declared, pinned.grade_applied) == (Grade.NONE, Grade.SPECIALIZED_NEW)


def test_a_withdrawal_needs_a_valid_recognition_and_a_reason(db_engine: Engine) -> None:
    code = uscc("nothing")
    with Session(db_engine) as session:
        with pytest.raises(grades.GradeError, match="holds no recognition valid on 2026-03-02"):
            grades.withdraw(session, code, "复核不合格", date(2026, 3, 2))
        with pytest.raises(grades.GradeError, match="reason"):
            grades.withdraw(session, code, " ", date(2026, 3, 2))


def test_a_reimported_list_keeps_a_recorded_withdrawal(db_engine: Engine) -> None:
    code = uscc("reimport")
    recognise(db_engine, code, Grade.LITTLE_GIANT)
    with Session(db_engine) as session:
        grades.withdraw(session, code, "企业申请退出", date(2026, 2, 1))
        session.commit()
    recognise(db_engine, code, Grade.LITTLE_GIANT)  # the same published list again
    with Session(db_engine) as session:
        [row] = grades.recognitions(session, code)
    assert (row.withdrawn_on, row.withdrawal_reason) == (date(2026, 2, 1), "企业申请退出")


async def test_a_corrected_list_clears_an_end_date_given_by_mistake(db_engine: Engine) -> None:
    """A list published with a wrong 有效期至, then corrected with none: the grant holds
    again, and the pinned policy applies the grade."""
    code = uscc("corrected")
    recognise(db_engine, code, Grade.LITTLE_GIANT, valid_until=date(2026, 1, 31))
    assert (await pin(db_engine, code, Grade.LITTLE_GIANT)).grade_applied is Grade.NONE  # ended
    recognise(db_engine, code, Grade.LITTLE_GIANT, valid_until=None)  # the correction
    with Session(db_engine) as session:
        [row] = grades.recognitions(session, code)
    assert row.valid_until is None
    assert (await pin(db_engine, code, Grade.LITTLE_GIANT)).grade_applied is Grade.LITTLE_GIANT


async def test_the_worker_pins_the_registry_grade_and_the_view_shows_both(stack) -> None:
    # enterprises of their own: the stack's registry outlives the test, and the default
    # enterprise recognised here would be a 小巨人 for every later test on the stack
    confirmed = make_request(grade=Grade.LITTLE_GIANT, uscc=uscc("confirmed"))
    # another enterprise, claiming the grade the registry does not know it for
    claimed = make_request(grade=Grade.LITTLE_GIANT, uscc=uscc("claim"))
    today = grades.local_day(datetime.now(UTC))
    recognise(
        stack.engine,
        confirmed.enterprise.uscc,
        Grade.LITTLE_GIANT,
        granted_on=date(today.year - 1, 7, 1),
    )
    views = []
    for req in (confirmed, claimed):
        handle = await start_request(stack, req)
        views.append(await handle.query(ServiceRequestWorkflow.view))
    applied = [(v.summary.grade, v.grade_applied) for v in views]
    assert applied == [(Grade.LITTLE_GIANT, Grade.LITTLE_GIANT), (Grade.LITTLE_GIANT, Grade.NONE)]
    for view, grade in zip(views, (Grade.LITTLE_GIANT, Grade.NONE), strict=True):
        expected = POLICY.pin(Category.FINANCING, Priority.NORMAL, grade, SUBMITTED).targets
        for clock in view.clocks:
            if clock.kind is ClockKind.RESPONSE:
                assert clock.target_seconds == expected[clock.tier].response_seconds
            if clock.kind is ClockKind.RESOLUTION:
                assert clock.target_seconds == expected[clock.tier].resolution_seconds
