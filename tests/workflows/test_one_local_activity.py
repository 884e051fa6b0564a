"""A request runs its local activities one at a time (``ServiceRequestV4``).

An update's lookup (a reassignment's check of its target) waits while the outbox's record call
is in flight: two local activities resolving in one workflow task could resume their
coroutines in another order on replay than when they ran (the SDK orders them by completion,
then by sequence), a nondeterminism error that would wedge the request. Real dev server,
stand-in activities; the record call is held in flight until the reassignment is accepted.
"""

from __future__ import annotations

import asyncio

from temporalio.client import Client, WorkflowUpdateStage

from schemas.domain import Tier
from schemas.lifecycle import ActionKind, Institution
from tests.utils.eventually import eventually
from tests.utils.factories import action, caseworker, dispatcher, make_policy
from tests.workflows.dev_server import replay_and_maybe_record, start
from tests.workflows.harness import StandIns
from workflows.service_request import ServiceRequestWorkflow

OTHER = Institution(
    id="county-other", name="区服务中心二部", tier=Tier.COUNTY, division_code="330106"
)


async def test_an_updates_lookup_waits_for_the_record_call_in_flight(
    temporal_client: Client, task_queue: str
) -> None:
    stand_ins = StandIns(policy=make_policy(), extra_institutions=[OTHER])
    async with stand_ins.worker(temporal_client, task_queue):
        handle = await start(temporal_client, task_queue)
        view = await handle.query(ServiceRequestWorkflow.view)
        holder = caseworker(str(view.summary.institution_id))
        await eventually(lambda: "record_transitions done" in stand_ins.calls, what="routed")
        gate = stand_ins.records_gate = asyncio.Event()
        before = len(stand_ins.calls)

        # a comment's record call goes out and is held in flight
        comment = action(ActionKind.COMMENT, holder, text="已电话联系企业")
        commenting = asyncio.create_task(
            handle.execute_update(ServiceRequestWorkflow.act, comment, id=comment.action_id)
        )
        await eventually(
            lambda: stand_ins.calls[before:] == ["record_transitions"], what="a record held"
        )
        # meanwhile a reassignment, accepted, needs its target checked (a local activity)
        boss = dispatcher(Tier.COUNTY, view.summary.division_code)
        reassign = action(ActionKind.REASSIGN, boss, institution_id=OTHER.id, text="改派")
        reassigning = await handle.start_update(
            ServiceRequestWorkflow.act,
            reassign,
            id=reassign.action_id,
            wait_for_stage=WorkflowUpdateStage.ACCEPTED,
        )
        gate.set()
        moved = await reassigning.result()
        await commenting
    calls = stand_ins.calls[before:]
    assert moved.institution_id == OTHER.id
    # the check began only once the record call in flight had ended
    assert calls.index("check_target") > calls.index("record_transitions done"), calls
    await handle.terminate("test over")
    await replay_and_maybe_record(temporal_client, handle, "one-local-activity")
