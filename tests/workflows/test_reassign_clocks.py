"""改派 on the real time-skipping server: the unit a request is re-dispatched to gets its
clocks afresh, as after an approved 退单, not what the unit it left had left of them (it was
charged in 考核 for the other unit's lateness). Requests pinned before the rule
(``reassign_starts_fresh``) keep the old clocks."""

from __future__ import annotations

from datetime import timedelta

from schemas.domain import ClockKind, Tier
from schemas.lifecycle import ActionKind, Institution, RequestView
from tests.utils.factories import action, supervisor
from tests.workflows.test_lifecycle import act, view
from tests.workflows.test_operator import replay_and_maybe_record
from tests.workflows.test_sign_for import dispatch, records
from workflows.business_time import add_business_seconds

SIBLING = Institution(
    id="county-330106-b", name="西湖区企业服务二中心", tier=Tier.COUNTY, division_code="330106"
)
DESK = supervisor(Tier.MUNICIPAL, "330100")


def resolution_deadline(state: RequestView):
    (clock,) = [c for c in state.clocks if c.kind is ClockKind.RESOLUTION and c.stopped_at is None]
    return clock.deadline


async def _reassigned_a_day_later(ts_worker, stand_ins, **rules: object):
    stand_ins.extra_institutions.append(SIBLING)
    d = await dispatch(ts_worker, stand_ins, **rules)
    before = resolution_deadline(await view(d.handle))
    await d.env.sleep(timedelta(days=1))
    moved = await act(
        d.handle, action(ActionKind.REASSIGN, DESK, institution_id=SIBLING.id, text="改派")
    )
    assert moved.institution_id == SIBLING.id
    return d, before, await d.env.get_current_time(), await view(d.handle)


async def test_the_unit_a_request_is_reassigned_to_gets_fresh_clocks(ts_worker, stand_ins) -> None:
    d, before, at, state = await _reassigned_a_day_later(ts_worker, stand_ins)
    target = d.policy.targets[Tier.COUNTY].resolution_seconds
    fresh = add_business_seconds(at, target, d.policy.calendar)
    assert abs(resolution_deadline(state) - fresh) < timedelta(seconds=1)
    assert resolution_deadline(state) > before
    # the unit it left is named, so that it hears it has nothing more to do
    (moved,) = records(stand_ins, d.req, "reassigned")
    assert moved.details["from_institution"] == d.holder
    await replay_and_maybe_record(d.handle, "reassign-starts-fresh")


async def test_a_request_pinned_before_keeps_the_clocks_it_had(ts_worker, stand_ins) -> None:
    d, before, _, state = await _reassigned_a_day_later(
        ts_worker, stand_ins, reassign_starts_fresh=False
    )
    assert resolution_deadline(state) == before
