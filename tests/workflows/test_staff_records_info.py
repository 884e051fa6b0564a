"""The unit records the materials an enterprise hands in (补充材料 by a caseworker), also when
the action arrives while the request is still being routed: the validator accepts it then, and
the handler applies it once routed. Runs from before, which refused such an action once routed,
replay as they were (a recorded history of one is in the replay suite). Real dev server,
stand-in activities; the policy's lookup is held so that the action surely arrives in routing.
"""

from __future__ import annotations

from temporalio.client import Client

from schemas.domain import State
from schemas.lifecycle import ActionKind, EventType
from tests.utils.factories import action, caseworker
from tests.workflows.dev_server import let_in, replay_and_maybe_record, routing_held
from workflows.service_request import ServiceRequestWorkflow


async def test_a_caseworkers_record_of_materials_sent_while_routing_applies_once_routed(
    temporal_client: Client, task_queue: str
) -> None:
    async with routing_held(temporal_client, task_queue) as (stand_ins, req, handle, gate):
        unit = caseworker(f"county-{req.enterprise.division_code}")  # where stand-ins route
        handed_in = action(ActionKind.PROVIDE_INFO, unit, text="企业到窗口提交了财务报表")
        waiting = await let_in(handle, handed_in)
        gate.set()  # routing cannot end before: the policy's lookup waits for the gate
        result = await waiting.result()
        assert result.state is State.ASSIGNED  # recorded; nothing awaited the enterprise
        view = await handle.query(ServiceRequestWorkflow.view)
        recorded = [e for e in view.timeline if e.event_type is EventType.INFO_PROVIDED]
        assert [e.actor_id for e in recorded] == [unit.id]
    await handle.terminate("test over")
    await replay_and_maybe_record(temporal_client, handle, "staff-records-info")
