"""Two actions sharing an action id, both let in before either was answered (while the
request is being routed, say, or from the API and Kafka at once): the first applies, the
other is refused as a reuse of the id, as it is once the first is answered. It used to get the
first's answer as a repeat, and its own effect was lost without a word. Real dev server,
stand-in activities; the policy's lookup is held so that both arrive while routing. A run
from before (the second answered as a repeat) is in the replay suite and replays so.
"""

from __future__ import annotations

import asyncio

from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from schemas.lifecycle import ActionKind, ActionRequest, EventType
from tests.utils.factories import action, caseworker
from tests.workflows.dev_server import let_in, replay_and_maybe_record, routing_held
from workflows.service_request import ServiceRequestWorkflow

RECORD_AS = "reused-id-in-routing"


async def test_the_second_of_two_actions_sharing_an_id_is_refused(
    temporal_client: Client, task_queue: str
) -> None:
    async with routing_held(temporal_client, task_queue) as (stand_ins, req, handle, gate):
        unit = caseworker(f"county-{req.enterprise.division_code}")  # where stand-ins route
        first = action(ActionKind.COMMENT, unit, text="已电话联系企业")
        other = ActionRequest(**(first.model_dump() | {"text": "企业材料已齐"}))
        waiting = [await let_in(handle, sent) for sent in (first, other)]  # two Updates
        gate.set()
        answers = await asyncio.gather(*(w.result() for w in waiting), return_exceptions=True)
        view = await handle.query(ServiceRequestWorkflow.view)
    await handle.terminate("test over")
    comments = [e.reason for e in view.timeline if e.event_type is EventType.COMMENTED]
    assert comments == ["已电话联系企业"]
    assert not isinstance(answers[0], BaseException) and not answers[0].duplicate
    assert isinstance(answers[1], WorkflowUpdateFailedError)
    assert isinstance(answers[1].cause, ApplicationError)
    assert answers[1].cause.type == "IdempotencyConflict"
    await replay_and_maybe_record(temporal_client, handle, RECORD_AS)
