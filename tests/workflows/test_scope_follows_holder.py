"""A request a province sent to another city's county (退单 for 非本辖区, approved by the
province) belongs to that county's city from then on (属地): its supervisors supervise and
decide for it, the enterprise's city no longer does, and an escalation goes to that city and a
hand-back from there to the county it was sent to. Requests pinned before the rule keep the
enterprise's region and route by it (``scope_follows_holder``)."""

from __future__ import annotations

import pytest
from temporalio.client import WorkflowUpdateFailedError

from schemas.domain import Role, Tier
from schemas.lifecycle import ActionKind, Institution, ReturnReason
from tests.utils.factories import action, caseworker, make_request, supervisor
from tests.workflows.test_lifecycle import act, view
from tests.workflows.test_sign_for import dispatch

HOME = "330106"  # the enterprise's district, in Hangzhou (3301)
NINGBO_COUNTY = Institution(
    id="county-330212", name="鄞州区中小企业服务中心", tier=Tier.COUNTY, division_code="330212"
)
PROVINCE_DESK = supervisor(Tier.PROVINCIAL, "330000").model_copy(update={"role": Role.DISPATCHER})
HANGZHOU = supervisor(Tier.MUNICIPAL, HOME)
NINGBO = supervisor(Tier.MUNICIPAL, "330212")
replying = action(ActionKind.REPLY_SUPERVISION, caseworker(NINGBO_COUNTY.id), text="正在办理")


async def sent_to_ningbo(ts_worker, stand_ins, **rules: object):
    """A Hangzhou enterprise's request, returned by its county as 非本辖区 and sent by the
    province to a county of Ningbo."""
    stand_ins.extra_institutions.append(NINGBO_COUNTY)
    req, _env, handle, _policy, county = await dispatch(
        ts_worker, stand_ins, make_request(division_code=HOME), **rules
    )
    returning = action(
        ActionKind.RETURN,
        caseworker(county),
        text="企业实际经营地在宁波",
        return_reason=ReturnReason.OUTSIDE_REGION,
    )
    await act(handle, returning)
    approve = action(
        ActionKind.APPROVE_RETURN, PROVINCE_DESK, institution_id=NINGBO_COUNTY.id, text="转宁波"
    )
    moved = await act(handle, approve)
    assert (moved.tier, moved.institution_id) == (Tier.COUNTY, NINGBO_COUNTY.id)
    return handle


async def refusal(handle, request) -> str:
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await act(handle, request)
    return str(caught.value.cause)


def supervising(who):
    return action(ActionKind.SUPERVISE, who, text="请说明办理进度", days=2)


async def test_the_holders_city_oversees_a_request_sent_outside_the_enterprises(
    ts_worker, stand_ins
) -> None:
    handle = await sent_to_ningbo(ts_worker, stand_ins)
    state = await view(handle)
    assert state.summary.scope_division == "330212"
    refused_there = await refusal(handle, supervising(HANGZHOU))
    assert "region 330106; the request is at the county tier, overseen from 330212" in (
        refused_there
    )
    await act(handle, supervising(NINGBO))
    opened = (await view(handle)).supervisions[-1]
    assert (opened.opened_by, opened.institution_id) == (NINGBO.id, NINGBO_COUNTY.id)

    await act(handle, replying)  # its 督办's reply first, then its own 提级
    up = await act(handle, action(ActionKind.ESCALATE, caseworker(NINGBO_COUNTY.id), text="需统筹"))
    assert (up.tier, up.institution_id) == (Tier.MUNICIPAL, "municipal-330200")
    assert (await view(handle)).summary.scope_division == "330200"
    back = await act(
        handle, action(ActionKind.HAND_BACK, caseworker("municipal-330200"), text="区里办")
    )
    assert (back.tier, back.institution_id) == (Tier.COUNTY, NINGBO_COUNTY.id)


async def test_a_request_pinned_before_the_rule_stays_with_the_enterprises_city(
    ts_worker, stand_ins
) -> None:
    handle = await sent_to_ningbo(ts_worker, stand_ins, scope_follows_holder=False)
    assert (await view(handle)).summary.scope_division is None
    assert "region 330212; the request is at the county tier from 330106" in await refusal(
        handle, supervising(NINGBO)
    )
    await act(handle, supervising(HANGZHOU))
    await act(handle, replying)  # its 督办's reply first, then its own 提级
    up = await act(handle, action(ActionKind.ESCALATE, caseworker(NINGBO_COUNTY.id), text="需统筹"))
    assert (up.tier, up.institution_id) == (Tier.MUNICIPAL, "municipal-330100")
