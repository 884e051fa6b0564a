"""An action refused for an operator hold is taken when sent again after the hold's release.

A comment a system sent while its request was being routed was accepted, then refused
``NeedsOperator`` when routing failed for good; the server keeps that outcome under the
action's update id. After an operator's retry admits the request, the same command from Kafka
again (the same CloudEvent id) is applied once, through the ingress's own call
(``workers.ingress.temporal_calls``), and once more is a duplicate. Real dev server,
stand-in activities; the policy's lookup is held so that the comment surely arrives first.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from temporalio.client import Client, WorkflowUpdateFailedError

from schemas.domain import Role, State
from schemas.events import ParsedCommand, command_event
from schemas.lifecycle import ActionKind, ActionRequest
from schemas.request import Actor
from tests.utils.eventually import eventually
from tests.utils.factories import action
from tests.workflows.dev_server import let_in, routing_held
from tierflow.submission import Held, Trail
from workers.ingress.temporal_calls import Verdict, apply_command
from workflows.service_request import ServiceRequestWorkflow

ADMIN = Actor(id="ops-admin", role=Role.ADMIN)
PORTAL = Actor(id="portal", role=Role.SYSTEM, grants=["comment"])


class NotAsked:
    """The read model, which a running request's action never needs to ask."""

    async def __call__(self, request_id: str) -> Held | None:
        raise AssertionError("not asked for a running request")

    async def applied(self, request_id: str, action: ActionRequest) -> Trail:
        raise AssertionError("not asked for a running request")


async def test_a_command_refused_by_a_released_hold_applies_when_sent_again(
    temporal_client: Client, task_queue: str
) -> None:
    async with routing_held(temporal_client, task_queue) as (stand_ins, req, handle, gate):
        event = command_event(
            "comment", {"request_id": req.request_id, "text": "材料已补齐"}, "/portal"
        )
        comment = ActionRequest(
            action_id=event.id, kind=ActionKind.COMMENT, actor=PORTAL, text="材料已补齐"
        )
        cmd = ParsedCommand(
            event=event, command="comment", request_id=req.request_id, action=comment
        )
        accepted = await let_in(handle, comment)  # while routing: the validator lets it in
        stand_ins.policy_fails = True
        gate.set()  # the policy cannot be read: the request waits for an operator
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await accepted.result()
        assert refused.value.cause.type == "NeedsOperator"  # type: ignore[union-attr]

        async def send() -> Verdict:
            outcome = await apply_command(
                temporal_client, cmd, task_queue, timedelta(seconds=10), NotAsked()
            )
            return outcome.verdict

        assert await send() is Verdict.DEAD_LETTER  # held still: refused, as it should be
        stand_ins.policy_fails = False
        await handle.execute_update(
            ServiceRequestWorkflow.act,
            retry := action(ActionKind.OPERATOR_RETRY, ADMIN),
            id=retry.action_id,
        )

        async def admitted() -> bool:
            view = await handle.query(ServiceRequestWorkflow.view)
            return view.summary.state is State.ASSIGNED and view.operator is None

        await eventually(admitted, timeout=20, what="the request admitted after the retry")
        assert await send() is Verdict.APPLIED  # the same command, taken now
        assert await send() is Verdict.DUPLICATE  # and once only
        view = await handle.query(ServiceRequestWorkflow.view)
        comments = [e for e in view.timeline if e.event_type.value == "commented"]
        assert len(comments) == 1 and comments[0].actor_id == "portal"
    await handle.terminate("test over")
