"""撤单: an enterprise that asks by phone or at a window to withdraw its request has the
dispatch desk record it, saying how and when it asked; the holding unit does not (a late
request withdrawn by its own unit would leave the unit's 考核). A withdrawal the validator
accepted while the request was being routed applies once routed; runs from before, which
refused it then by its role, replay as they were (a recorded history is in the replay suite).
"""

from __future__ import annotations

import pytest
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from schemas.domain import Role, State, Tier
from schemas.lifecycle import ActionKind, EventType
from schemas.request import Actor
from tests.utils.factories import action, caseworker, make_request, supervisor
from tests.workflows.dev_server import let_in, replay_and_maybe_record, routing_held
from tests.workflows.test_lifecycle import act, submit, view
from workflows.service_request import ServiceRequestWorkflow

ASKED = "企业于12月5日来电要求撤回：已自行解决（联系人张经理）"


def desk(division_code: str) -> Actor:
    """The municipal dispatch desk whose region holds ``division_code``."""
    city = supervisor(Tier.MUNICIPAL, division_code[:4] + "00")
    return city.model_copy(update={"id": "disp-" + city.id, "role": Role.DISPATCHER})


async def refusal(handle, request) -> ApplicationError:
    with pytest.raises(WorkflowUpdateFailedError) as failed:
        await act(handle, request)
    assert isinstance(failed.value.cause, ApplicationError)
    return failed.value.cause


async def test_the_dispatch_desk_records_the_enterprises_withdrawal(ts_worker, stand_ins) -> None:
    env, queue = ts_worker
    req = make_request()
    handle = await submit(env, queue, req)
    unit = caseworker((await view(handle)).summary.institution_id)
    await act(handle, action(ActionKind.SIGN_FOR, unit))
    phone = desk(req.enterprise.division_code)

    bare = await refusal(handle, action(ActionKind.WITHDRAW, phone))
    assert bare.type == "MissingField"
    assert bare.message == (
        "text is required for withdraw: how and when the enterprise asked to withdraw"
    )
    own = await refusal(handle, action(ActionKind.WITHDRAW, unit, text=ASKED))
    assert own.type == "Forbidden"  # not the holding unit's to record
    assert (await view(handle)).summary.state is State.ASSIGNED  # signed for, nothing else

    result = await act(handle, action(ActionKind.WITHDRAW, phone, text=ASKED))
    assert result.state is State.WITHDRAWN
    entry = (await view(handle)).timeline[-1]
    assert entry.event_type is EventType.WITHDRAWN
    assert (entry.actor_id, entry.actor_role, entry.reason) == (phone.id, Role.DISPATCHER, ASKED)
    assert (await handle.result()).state is State.WITHDRAWN


async def test_a_withdrawal_sent_while_routing_applies_once_routed(
    temporal_client: Client, task_queue: str
) -> None:
    async with routing_held(temporal_client, task_queue) as (stand_ins, req, handle, gate):
        phone = desk(req.enterprise.division_code)
        with pytest.raises(WorkflowUpdateFailedError) as bare:  # refused before it is let in
            await handle.execute_update(
                ServiceRequestWorkflow.act, action(ActionKind.WITHDRAW, phone)
            )
        assert isinstance(bare.value.cause, ApplicationError)
        assert bare.value.cause.type == "MissingField"
        asked = action(ActionKind.WITHDRAW, phone, text=ASKED)
        waiting = await let_in(handle, asked)
        gate.set()  # routing cannot end before: the policy's lookup waits for the gate
        assert (await waiting.result()).state is State.WITHDRAWN
    await replay_and_maybe_record(temporal_client, handle, "desk-records-withdrawal")
