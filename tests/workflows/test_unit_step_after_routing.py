"""A unit's own steps (签收 ... 办结) are its own even for an action that arrives while the
request is still being routed: the update's validator cannot know the holder then, so the
handler applies the rule once routing has named it. Real dev server, stand-in activities; the
policy's lookup is held so that the actions surely arrive before routing ends.
"""

from __future__ import annotations

import asyncio

from temporalio.client import Client, WorkflowUpdateFailedError

from schemas.domain import State, Tier
from schemas.lifecycle import ActionKind
from tests.utils.factories import action, caseworker, supervisor
from tests.workflows.dev_server import let_in, replay_and_maybe_record, routing_held
from workflows.service_request import ServiceRequestWorkflow


async def test_a_supervisors_sign_for_sent_while_routing_is_refused_once_routed(
    temporal_client: Client, task_queue: str
) -> None:
    async with routing_held(temporal_client, task_queue) as (stand_ins, req, handle, gate):
        division = req.enterprise.division_code
        boss = supervisor(Tier.MUNICIPAL, division)  # the city's: not the county unit's lead
        unit = caseworker(f"county-{division}")  # the stand-ins route to county-<division>
        sign_for = action(ActionKind.SIGN_FOR, boss)
        comment = action(ActionKind.COMMENT, boss, text="请尽快签收")  # a supervisor's own
        # sent together: the held lookup keeps the workflow task open, and the updates reach
        # the workflow when the SDK renews that task
        waiting = await asyncio.gather(
            *(
                let_in(handle, each)  # the validator lets each in
                for each in (sign_for, comment)
            )
        )
        gate.set()  # routing cannot end before: the policy's lookup waits for the gate
        refused, commented = await asyncio.gather(
            *(update.result() for update in waiting), return_exceptions=True
        )
        assert isinstance(refused, WorkflowUpdateFailedError), refused
        assert "may not sign_for for county-" in str(refused.cause)
        assert not isinstance(commented, BaseException) and commented.state is State.ASSIGNED
        # the supervisor's sign-for never applied: the unit's own is its first
        signed = await handle.execute_update(
            ServiceRequestWorkflow.act, own := action(ActionKind.SIGN_FOR, unit), id=own.action_id
        )
        assert signed.state is State.ASSIGNED
        view = await handle.query(ServiceRequestWorkflow.view)
        assert view.summary.signed_for_at is not None
    await handle.terminate("test over")
    await replay_and_maybe_record(temporal_client, handle, "unit-step-after-routing")
