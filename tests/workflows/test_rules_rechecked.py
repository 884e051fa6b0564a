"""An action is judged again, under the lock, on the state it is applied to.

The validator judges an action on the state of its own workflow task. A reassignment holds the
request's lock across tasks while its target is checked (a local activity), and an action let
in meanwhile was judged on the holder from before the move: the old unit's lead could sign for
the request the other unit now holds, whose own caseworkers could then never sign for it. Real
dev server, stand-in activities; the target check is held until the sign-for is let in.
"""

from __future__ import annotations

import asyncio

import pytest
from temporalio.client import Client, WorkflowUpdateFailedError

from schemas.domain import State, Tier
from schemas.lifecycle import (
    ActionKind,
    FollowUpOutcome,
    Institution,
    ReturnReason,
    SuspendReason,
)
from tests.utils.eventually import eventually
from tests.utils.factories import (
    ENTERPRISE,
    action,
    caseworker,
    dispatcher,
    make_policy,
    supervisor,
)
from tests.workflows.dev_server import let_in, replay_and_maybe_record, start_renewing
from tests.workflows.harness import StandIns
from tests.workflows.test_follow_up import DESK
from workflows.service_request import ServiceRequestWorkflow

OTHER = Institution(
    id="county-other", name="区服务中心二部", tier=Tier.COUNTY, division_code="330106"
)


async def _reassignment_held(client: Client, queue: str, stand_ins: StandIns):  # noqa: ANN202
    """A routed request whose county lead's reassignment to OTHER holds the lock while its
    target check waits for ``gate``: return the handle, the holder, the division, the gate
    and the reassignment's task."""
    handle, holder, division = await _routed(client, queue, stand_ins)
    gate = stand_ins.target_gate = asyncio.Event()
    boss = dispatcher(Tier.COUNTY, division)
    reassign = action(ActionKind.REASSIGN, boss, institution_id=OTHER.id, text="改派")
    reassigning = asyncio.create_task(
        handle.execute_update(ServiceRequestWorkflow.act, reassign, id=reassign.action_id)
    )
    await eventually(lambda: "check_target" in stand_ins.calls, what="the check held")
    return handle, holder, division, gate, reassigning


async def test_the_old_units_lead_cannot_sign_for_a_request_moved_meanwhile(
    temporal_client: Client, task_queue: str
) -> None:
    stand_ins = StandIns(policy=make_policy(), extra_institutions=[OTHER])
    async with stand_ins.worker(temporal_client, task_queue):
        handle, holder, division, gate, reassigning = await _reassignment_held(
            temporal_client, task_queue, stand_ins
        )
        # the old holder's own lead signs for it: let in, on the state before the move
        lead = supervisor(Tier.COUNTY, division, institution_id=holder)
        signing = await let_in(handle, action(ActionKind.SIGN_FOR, lead))
        gate.set()
        moved = await reassigning
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await signing.result()
        after = await handle.query(ServiceRequestWorkflow.view)
    assert moved.institution_id == OTHER.id
    assert f"may not sign_for for {OTHER.id}" in str(refused.value.cause)
    assert after.summary.institution_id == OTHER.id and after.holds[-1].signed_for_at is None
    await handle.terminate("test over")
    await replay_and_maybe_record(temporal_client, handle, "rules-rechecked")


async def test_a_second_supervision_let_in_beside_the_first_is_refused_by_the_handler(
    temporal_client: Client, task_queue: str
) -> None:
    """Two 督办 validated while a reassignment held the lock (neither saw the other): the
    first opens, the second is refused when it is applied, as the validator would refuse it
    now; the history replays (the rule's own patch, taken only when it refuses)."""
    stand_ins = StandIns(policy=make_policy(), extra_institutions=[OTHER])
    async with stand_ins.worker(temporal_client, task_queue):
        handle, _, division, gate, reassigning = await _reassignment_held(
            temporal_client, task_queue, stand_ins
        )
        city = supervisor(Tier.MUNICIPAL, division)
        province = supervisor(Tier.PROVINCIAL, division[:2] + "0000")
        first = await let_in(handle, action(ActionKind.SUPERVISE, city, text="请说明进度"))
        second = await let_in(handle, action(ActionKind.SUPERVISE, province, text="省级督办"))
        gate.set()
        await reassigning
        opened = await first.result()
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await second.result()
        after = await handle.query(ServiceRequestWorkflow.view)
    assert opened.institution_id == OTHER.id
    assert f"owes the written reply to the supervision opened by {city.id}" in str(
        refused.value.cause
    )
    assert [s.opened_by for s in after.supervisions] == [city.id]
    await handle.terminate("test over")
    await replay_and_maybe_record(temporal_client, handle, "one-supervision")


async def test_the_old_units_lead_cannot_escalate_a_request_moved_meanwhile(
    temporal_client: Client, task_queue: str
) -> None:
    """The holding unit's lead may escalate (提级) its request; let in while the desk's
    reassignment held the lock, it is refused once the request is another unit's (a lead of
    a peer unit moves nothing), and the history replays (``moved-from-above``)."""
    stand_ins = StandIns(policy=make_policy(), extra_institutions=[OTHER])
    async with stand_ins.worker(temporal_client, task_queue):
        handle, holder, division, gate, reassigning = await _reassignment_held(
            temporal_client, task_queue, stand_ins
        )
        lead = supervisor(Tier.COUNTY, division, institution_id=holder)
        escalating = await let_in(handle, action(ActionKind.ESCALATE, lead, text="需市级协调"))
        gate.set()
        moved = await reassigning
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await escalating.result()
        after = await handle.query(ServiceRequestWorkflow.view)
    assert moved.institution_id == OTHER.id
    assert f"may not escalate a request the county unit {OTHER.id} holds" in str(
        refused.value.cause
    )
    assert after.summary.tier is Tier.COUNTY and after.summary.institution_id == OTHER.id
    await handle.terminate("test over")
    await replay_and_maybe_record(temporal_client, handle, "moved-from-above")


async def _routed(client: Client, queue: str, stand_ins: StandIns):  # noqa: ANN202
    """A request started and routed: its handle, holder and division."""
    handle = await start_renewing(client, queue)
    await eventually(lambda: "record_transitions done" in stand_ins.calls, what="routed")
    view = await handle.query(ServiceRequestWorkflow.view)
    return handle, str(view.summary.institution_id), view.summary.division_code


async def _act(handle, sent):  # noqa: ANN001, ANN202
    return await handle.execute_update(ServiceRequestWorkflow.act, sent, id=sent.update_id())


async def test_a_suspension_let_in_before_a_return_is_refused_once_the_return_waits(
    temporal_client: Client, task_queue: str
) -> None:
    """The unit asked 挂起; while its 协办 request held the lock (its target checked), it
    returned the request (退单) and the city approved the 挂起, both validated with no 退单
    waiting: the approval is refused when it is applied, the 退单 waiting by then, and the
    history replays (``suspension-approved-after-return``)."""
    stand_ins = StandIns(policy=make_policy(), extra_institutions=[OTHER])
    async with stand_ins.worker(temporal_client, task_queue):
        handle, holder, division = await _routed(temporal_client, task_queue, stand_ins)
        worker = caseworker(holder)
        await _act(handle, action(ActionKind.ACKNOWLEDGE, worker))
        pause = action(
            ActionKind.SUSPEND,
            worker,
            text="等待鉴定意见",
            suspend_reason=SuspendReason.LEGAL_PROCEDURE,
            days=5,
        )
        await _act(handle, pause)
        gate = stand_ins.target_gate = asyncio.Event()
        part = action(
            ActionKind.ADD_CO_HANDLER, worker, institution_id=OTHER.id, text="协办", days=3
        )
        adding = asyncio.create_task(_act(handle, part))
        await eventually(lambda: "check_target" in stand_ins.calls, what="the check held")
        back = action(
            ActionKind.RETURN, worker, text="非本单位职责", return_reason=ReturnReason.NOT_OUR_REMIT
        )
        returning = await let_in(handle, back)
        city = supervisor(Tier.MUNICIPAL, division)
        approving = await let_in(handle, action(ActionKind.APPROVE_SUSPENSION, city))
        gate.set()
        await adding
        await returning.result()
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await approving.result()
        after = await handle.query(ServiceRequestWorkflow.view)
    assert "waits for the dispatch desk's decision" in str(refused.value.cause)
    assert after.summary.state is not State.SUSPENDED
    await handle.terminate("test over")
    await replay_and_maybe_record(temporal_client, handle, "suspension-after-return-rechecked")


async def test_the_rated_unit_concludes_its_rectification_let_in_before_a_move(
    temporal_client: Client, task_queue: str
) -> None:
    """A redo after a bad rating: the county concludes its 整改 while the desk's reassignment
    held the lock; applied after the move, it is still the rated unit's step and is taken (the
    handler records ``rated-unit-rectifies-anywhere``; runs before it refused it there)."""
    policy = make_policy().model_copy(update={"rectification_days": 15})
    stand_ins = StandIns(policy=policy, extra_institutions=[OTHER])
    async with stand_ins.worker(temporal_client, task_queue):
        handle, holder, division = await _routed(temporal_client, task_queue, stand_ins)
        worker = caseworker(holder)
        for step in (
            action(ActionKind.ACKNOWLEDGE, worker),
            action(ActionKind.RESOLVE, worker, text="已对接银行"),
            action(ActionKind.RATE, ENTERPRISE, rating=1, text="银行未放款"),
            action(ActionKind.FOLLOW_UP, DESK, outcome=FollowUpOutcome.UNSATISFIED, text="未放款"),
        ):
            await _act(handle, step)
        gate = stand_ins.target_gate = asyncio.Event()
        desk = dispatcher(Tier.COUNTY, division)
        move = action(ActionKind.REASSIGN, desk, institution_id=OTHER.id, text="改派")
        reassigning = asyncio.create_task(_act(handle, move))
        await eventually(lambda: "check_target" in stand_ins.calls, what="the check held")
        done = action(ActionKind.CONCLUDE_RECTIFICATION, worker, text="已开展培训")
        concluding = await let_in(handle, done)
        gate.set()
        moved = await reassigning
        await concluding.result()
        after = await handle.query(ServiceRequestWorkflow.view)
    assert moved.institution_id == OTHER.id
    assert after.rectification is not None and not after.rectification.open
    await handle.terminate("test over")
    await replay_and_maybe_record(temporal_client, handle, "rated-unit-rectifies-after-a-move")
