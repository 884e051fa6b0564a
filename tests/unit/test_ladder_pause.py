"""The chasing ladder stands still with the holder's clocks (``chase_pauses_with_clocks``):
each rung and reply deadline moves by the business time it stood still, a supervision
opened during the pause from its opening only; a co-handling part's ladder runs on."""

from __future__ import annotations

from datetime import UTC, datetime

from schemas.domain import State
from schemas.lifecycle import Institution
from tests.utils.console_cases import county_case
from tests.utils.factories import make_policy
from workflows import chasing, sla
from workflows.business_time import add_business_seconds, business_seconds_between

COUNTY = Institution(
    id="county-330106", name="区中小企业服务中心", tier="county", division_code="330106"
)
PAUSED = datetime(2027, 3, 1, 1, 0, tzinfo=UTC)  # Monday 09:00 in Shanghai
OPENED = datetime(2027, 3, 3, 1, 0, tzinfo=UTC)  # Wednesday 09:00: during the pause
RESUMED = datetime(2027, 3, 5, 1, 0, tzinfo=UTC)  # Friday 09:00


def _paused_case(pinned: bool):  # noqa: ANN202
    case = county_case(PAUSED, State.SUSPENDED, COUNTY)
    case.policy = make_policy().model_copy(update={"chase_pauses_with_clocks": pinned})
    case.paused_at = PAUSED
    cal = case.policy.calendar
    before = chasing.start(case, "resolution", datetime(2027, 2, 26, 1, 0, tzinfo=UTC), False)
    during = chasing.open_supervision(case, "sup-city", "请说明", None, OPENED, 2)
    part = chasing.start(case, "part:county-talent", OPENED, True)
    return case, cal, before, during, part


def test_each_deadline_moves_by_the_time_it_stood_still() -> None:
    case, cal, before, during, part = _paused_case(pinned=True)
    remind, supervise = before.remind_at, before.supervise_at
    reply, part_rung = during.reply_due_at, part.supervise_at
    assert chasing.due_reprimands(case, reply) == [] and chasing.next_due(case) == part_rung
    assert chasing.due_supervisions(case, part_rung) == [part]  # a part's ladder runs on
    case.state = State.IN_PROGRESS
    sla.resume_clocks(case, RESUMED)
    whole = business_seconds_between(PAUSED, RESUMED, cal)
    since_opened = business_seconds_between(OPENED, RESUMED, cal)
    assert before.remind_at == add_business_seconds(remind, whole, cal)
    assert before.supervise_at == add_business_seconds(supervise, whole, cal)
    assert during.reply_due_at == add_business_seconds(reply, since_opened, cal)
    assert part.supervise_at == part_rung


def test_requests_pinned_before_keep_their_ladder_still_running() -> None:
    case, cal, before, during, part = _paused_case(pinned=False)
    remind, reply = before.remind_at, during.reply_due_at
    assert chasing.due_reminders(case, remind) == [before]
    case.state = State.IN_PROGRESS
    sla.resume_clocks(case, RESUMED)
    assert (before.remind_at, during.reply_due_at) == (remind, reply)
