"""A message names the institutions it speaks of as the directory names them (杭州市西湖区中小
企业服务中心), not by their ids: the planner reads the names once per event."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from schemas.domain import State, Tier
from schemas.events import event_from_transition
from schemas.lifecycle import EventType
from tests.utils.factories import RecordFactory, caseworker, make_request, supervisor
from tests.utils.notifier_helpers import CITY, COUNTY, project, rows
from tierflow.db.models import InstitutionRow
from workers.notifier.planner import Planner, record_rows
from workers.notifier.rules import load_rules
from workers.notifier.templates import Templates

pytestmark = pytest.mark.usefixtures("people")
NAME = "杭州市西湖区中小企业服务中心"


def test_a_return_request_names_the_unit_that_returns_it(engine: Engine) -> None:
    with Session(engine) as session:  # the directory's row for the unit
        session.merge(
            InstitutionRow(id=COUNTY, name=NAME, tier=Tier.COUNTY, division_code="330106")
        )
        session.commit()
    f = RecordFactory(make_request())
    records = [
        f.submitted(),
        f.assigned(COUNTY),
        f.emit(
            EventType.RETURN_REQUESTED,
            State.ASSIGNED,
            actor=caseworker(COUNTY),
            reason="不属本单位职责",
            details={"return_reason": "not_our_remit"},
        ),
    ]
    clock = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
    planner = Planner(engine, load_rules(), Templates(), "http://console", clock=lambda: clock)
    for record in project(engine, records):
        record_rows(engine, planner.plan(event_from_transition(record), record))
    asked = rows(engine, rule="application_requested")
    assert asked and all(row.body.startswith(f"{NAME} 就工单") for row in asked), asked
    assert all(COUNTY not in row.body for row in asked)


def test_a_supervisors_comment_reaches_the_unit_as_an_instruction(engine: Engine) -> None:
    """批示: the city's supervisor writes on a county request and its caseworkers hear it; a
    caseworker's own note stays on the timeline."""
    f = RecordFactory(make_request())
    boss = supervisor(Tier.MUNICIPAL, "330100", CITY)
    records = [
        f.submitted(),
        f.assigned(COUNTY),
        f.emit(EventType.COMMENTED, actor=boss, reason="请于本周内联系企业"),
        f.emit(EventType.COMMENTED, actor=caseworker(COUNTY), reason="已电话联系"),
    ]
    clock = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
    planner = Planner(engine, load_rules(), Templates(), "http://console", clock=lambda: clock)
    for record in project(engine, records):
        record_rows(engine, planner.plan(event_from_transition(record), record))
    told = rows(engine, rule="instruction")
    assert {(row.recipient, row.channel.value) for row in told} == {
        ("user:cw-county", "inbox"),
        ("user:cw-county", "email"),
    }
    assert all("请于本周内联系企业" in row.body and "已电话联系" not in row.body for row in told)
