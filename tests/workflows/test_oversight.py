"""改派, 提级 and 指派承办人 by supervisors: whose they are, on the real time-skipping server.

The holding unit's own lead names its handler and may escalate, but returns a request rather
than reassign it; a supervisor of a tier above reassigns and pulls up; a lead of another unit
at the same tier does none of it (a late unit, or its neighbour, could otherwise move the
request onto fresh clocks without a 退单 anyone decided).
"""

from __future__ import annotations

from schemas.domain import Tier
from schemas.lifecycle import ActionKind, Institution
from tests.utils.factories import action, caseworker, supervisor
from tests.workflows.test_lifecycle import act, view
from tests.workflows.test_return_and_extension import refused
from tests.workflows.test_sign_for import dispatch
from workflows.views import offered_to

MOVES = (ActionKind.REASSIGN, ActionKind.ESCALATE, ActionKind.ASSIGN_HANDLER)


async def test_a_peer_lead_neither_moves_the_request_nor_names_its_handler(
    ts_worker, stand_ins
) -> None:
    req, _, handle, _, county = await dispatch(ts_worker, stand_ins)
    division = req.enterprise.division_code
    peer = Institution(
        id=f"{county}-peer", name="区科技服务中心", tier=Tier.COUNTY, division_code=division
    )
    stand_ins.extra_institutions.append(peer)
    neighbour = supervisor(Tier.COUNTY, division, peer.id)
    await act(handle, action(ActionKind.SIGN_FOR, caseworker(county)))
    state = await view(handle)
    assert not set(MOVES) & set(offered_to(state, neighbour))
    assert "may not reassign a request the county unit" in await refused(
        handle, action(ActionKind.REASSIGN, neighbour, institution_id=peer.id, text="归我们办")
    )
    assert "may not escalate a request the county unit" in await refused(
        handle, action(ActionKind.ESCALATE, neighbour, text="x")
    )
    colleague = f"cw-{county}-2"
    stand_ins.accounts |= {colleague: county}
    assert "may not name the handler" in await refused(
        handle, action(ActionKind.ASSIGN_HANDLER, neighbour, handler_id=colleague)
    )
    assert (await view(handle)).summary.institution_id == county


async def test_the_own_lead_names_and_escalates_the_tier_above_reassigns(
    ts_worker, stand_ins
) -> None:
    req, _, handle, _, county = await dispatch(ts_worker, stand_ins)
    division = req.enterprise.division_code
    other = Institution(
        id=f"{county}-other", name="区人才服务中心", tier=Tier.COUNTY, division_code=division
    )
    stand_ins.extra_institutions.append(other)
    lead = supervisor(Tier.COUNTY, division, county)
    city = supervisor(Tier.MUNICIPAL, division[:4] + "00", "municipal-3301")
    state = await view(handle)
    assert ActionKind.REASSIGN not in offered_to(state, lead)
    assert {ActionKind.ESCALATE, ActionKind.ASSIGN_HANDLER} <= set(offered_to(state, lead))
    assert ActionKind.REASSIGN in offered_to(state, city)
    assert ActionKind.ASSIGN_HANDLER not in offered_to(state, city)
    assert "may not reassign a request" in await refused(
        handle, action(ActionKind.REASSIGN, lead, institution_id=other.id, text="x")
    )
    assert "may not name the handler" in await refused(
        handle, action(ActionKind.ASSIGN_HANDLER, city, handler_id=f"cw-{county}")
    )
    await act(handle, action(ActionKind.ASSIGN_HANDLER, lead, handler_id=f"cw-{county}"))
    moved = await act(
        handle, action(ActionKind.REASSIGN, city, institution_id=other.id, text="人才类")
    )
    assert moved.institution_id == other.id


async def test_at_the_national_tier_another_units_lead_supervises(ts_worker, stand_ins) -> None:
    stand_ins.tiers_without_institution |= {Tier.COUNTY, Tier.MUNICIPAL, Tier.PROVINCIAL}
    _, _, handle, _, national = await dispatch(ts_worker, stand_ins)
    assert (await view(handle)).summary.tier is Tier.NATIONAL
    own = supervisor(Tier.NATIONAL, "000000", national)
    other = supervisor(Tier.NATIONAL, "000000", "national-other")
    assert ActionKind.SUPERVISE not in offered_to(await view(handle), own)
    assert ActionKind.SUPERVISE in offered_to(await view(handle), other)
    assert "may not supervise (督办)" in await refused(
        handle, action(ActionKind.SUPERVISE, own, text="自己督办自己")
    )
    await act(handle, action(ActionKind.SUPERVISE, other, text="请书面说明进展"))
    (supervision,) = (await view(handle)).supervisions
    assert supervision.opened_by == other.id


async def test_a_supervised_unit_replies_before_it_escalates(ts_worker, stand_ins) -> None:
    """A move ends the holder's 督办 owing no reply: the unit's own escalation waits for its
    written reply (else a late unit's way out of the reply and the 通报)."""
    req, _, handle, _, county = await dispatch(ts_worker, stand_ins)
    worker = caseworker(county)
    await act(handle, action(ActionKind.ACKNOWLEDGE, worker))
    city = supervisor(Tier.MUNICIPAL, req.enterprise.division_code[:4] + "00", "municipal-3301")
    await act(handle, action(ActionKind.SUPERVISE, city, text="企业投诉，请书面说明"))
    assert ActionKind.ESCALATE not in offered_to(await view(handle), worker)
    assert "cannot escalate: the supervision (督办)" in await refused(
        handle, action(ActionKind.ESCALATE, worker, text="需上级协调")
    )
    (supervision,) = (await view(handle)).supervisions
    assert supervision.awaiting_reply and supervision.ended_at is None
    await act(handle, action(ActionKind.REPLY_SUPERVISION, worker, text="已约谈企业，需市级协调"))
    assert ActionKind.ESCALATE in offered_to(await view(handle), worker)
    up = await act(handle, action(ActionKind.ESCALATE, worker, text="需上级协调"))
    assert up.tier is Tier.MUNICIPAL


async def test_a_supervised_unit_replies_before_it_hands_the_request_back(
    ts_worker, stand_ins
) -> None:
    req, _, handle, _, county = await dispatch(ts_worker, stand_ins)
    up = await act(handle, action(ActionKind.ESCALATE, caseworker(county), text="需市级协调"))
    city_worker = caseworker(up.institution_id or "")
    province = supervisor(Tier.PROVINCIAL, req.enterprise.division_code[:2] + "0000")
    await act(handle, action(ActionKind.SUPERVISE, province, text="请说明为何未办"))
    assert ActionKind.HAND_BACK not in offered_to(await view(handle), city_worker)
    assert "cannot hand_back: the supervision (督办)" in await refused(
        handle, action(ActionKind.HAND_BACK, city_worker, text="区里能办")
    )
    await act(handle, action(ActionKind.REPLY_SUPERVISION, city_worker, text="已协调，交区办理"))
    back = await act(handle, action(ActionKind.HAND_BACK, city_worker, text="区里能办"))
    assert back.tier is Tier.COUNTY


async def test_requests_pinned_before_a_move_ended_the_supervision_move_as_before(
    ts_worker, stand_ins
) -> None:
    """Pinned before ``supervision_ends_on_move``, a move leaves the 督办 waiting for the
    unit's reply: nothing escapes, so the unit's own escalation is not held back."""
    req, _, handle, _, county = await dispatch(ts_worker, stand_ins, supervision_ends_on_move=False)
    city = supervisor(Tier.MUNICIPAL, req.enterprise.division_code[:4] + "00", "municipal-3301")
    await act(handle, action(ActionKind.SUPERVISE, city, text="请书面说明"))
    up = await act(handle, action(ActionKind.ESCALATE, caseworker(county), text="需上级协调"))
    assert up.tier is Tier.MUNICIPAL
    (supervision,) = (await view(handle)).supervisions
    assert supervision.awaiting_reply


async def test_an_escalation_with_no_unit_above_alerts_with_the_command_that_asked(
    ts_worker, stand_ins
) -> None:
    """No unit above takes it: the escalation is an alert; it names the action that asked for
    it and says why as an escalation does, so the system that sent the command can match it."""
    stand_ins.tiers_without_institution |= {Tier.MUNICIPAL, Tier.PROVINCIAL, Tier.NATIONAL}
    req, _, handle, _, county = await dispatch(ts_worker, stand_ins)
    lead = supervisor(Tier.COUNTY, req.enterprise.division_code, county)
    asked = action(ActionKind.ESCALATE, lead, text="需上级协调")
    await act(handle, asked)
    (alert,) = stand_ins.of_type(req.request_id, "supervisor_alert")
    assert (alert.action_id, alert.reason) == (asked.action_id, "需上级协调")
    assert alert.details["cause"] == "manual" and "reason_code" in alert.details
    assert (await view(handle)).summary.tier is Tier.COUNTY
