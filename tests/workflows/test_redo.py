"""重办: a concluded request the follow-up desk sends back is the same unit's again, handled by
the same caseworker and signed for already: it stays in its handler's list (mine), is not
shown as waiting to be signed for, may not be returned past the window from its dispatch,
and its intake is not rated after its conclusion. Time-skipping server, stand-in activities.
"""

from __future__ import annotations

from schemas.domain import State
from schemas.lifecycle import ActionKind, FollowUpOutcome, RatingStage
from tests.utils.factories import ENTERPRISE, action, caseworker, make_request
from tests.workflows.test_follow_up import DESK
from tests.workflows.test_lifecycle import act, sleep_until, view
from tests.workflows.test_return_and_extension import refused, returning
from tests.workflows.test_sign_for import pinned_submit, records
from workflows.business_time import add_business_seconds, business_day_seconds


async def test_a_redo_stays_with_its_handler_signed_for(ts_worker, stand_ins) -> None:
    env, queue = ts_worker
    req = make_request()
    handle, policy = await pinned_submit(env, queue, stand_ins, req)
    cal = policy.calendar
    unit = caseworker((await view(handle)).summary.institution_id or "")
    await act(handle, action(ActionKind.SIGN_FOR, unit))
    await act(handle, action(ActionKind.ACKNOWLEDGE, unit))
    signed = (await view(handle)).summary.signed_for_at
    (assigned,) = records(stand_ins, req, "assigned")
    past_window = 3 * business_day_seconds(cal)  # the return window: 2 working days
    await sleep_until(env, add_business_seconds(assigned.occurred_at, past_window, cal))
    await act(handle, action(ActionKind.RESOLVE, unit, text="已对接银行授信"))
    unsatisfied = action(
        ActionKind.FOLLOW_UP, DESK, outcome=FollowUpOutcome.UNSATISFIED, text="贷款仍未到位"
    )
    await act(handle, unsatisfied)

    summary = (await view(handle)).summary
    assert summary.state is State.IN_PROGRESS
    assert (summary.handler_id, summary.signed_for_at) == (unit.id, signed)
    assert "return window ended" in await refused(handle, returning(unit))
    intake = action(ActionKind.RATE, ENTERPRISE, rating=2, stage=RatingStage.INTAKE)
    assert "was concluded" in await refused(handle, intake)
