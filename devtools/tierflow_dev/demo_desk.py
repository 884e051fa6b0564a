"""Demo caseworkers and supervisors take the work-order steps on the local stack's requests.

So a newcomer sees 签收, 延期, 退单, 挂起 and 办结 in the console right after ``make up``: each
demo request (``demo-<seed>-<n>``) follows one script by its number. The actors are the
holding unit's caseworker and a supervisor of the tier above, as the workflow requires, and
act through Temporal directly (the operator's own stack); action ids derive from the request
id, so running it again changes nothing.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterable

from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.service import RPCError

from schemas.domain import Role, State
from schemas.enterprise import division_for_tier
from schemas.lifecycle import (
    ActionKind,
    ActionRequest,
    ActionResult,
    RequestView,
    ReturnReason,
    SuspendReason,
)
from schemas.request import Actor
from tierflow.constants import workflow_id
from tierflow.updates import execute_update
from workflows.service_request import ServiceRequestWorkflow

# Step: (kind, who: "unit" or "above", fields). Scripts cycle over the demo requests; the
# last ones are left as they came in (待签收), so the queue shows requests waiting too.
Step = tuple[ActionKind, str, dict[str, object]]
SCRIPTS: list[list[Step]] = [
    [(ActionKind.SIGN_FOR, "unit", {})],
    [
        (ActionKind.SIGN_FOR, "unit", {}),
        (ActionKind.ACKNOWLEDGE, "unit", {}),
        (ActionKind.REQUEST_EXTENSION, "unit", {"text": "等待合作银行授信审批结果", "days": 3}),
        (ActionKind.APPROVE_EXTENSION, "above", {"text": "同意延期 3 个工作日"}),
    ],
    [
        (
            ActionKind.RETURN,
            "unit",
            {"text": "该事项属人才政策，非本中心职责", "return_reason": ReturnReason.NOT_OUR_REMIT},
        ),
        (ActionKind.REFUSE_RETURN, "above", {"text": "本中心承担综合服务职责，请继续办理"}),
    ],
    [
        (ActionKind.ACKNOWLEDGE, "unit", {}),
        (
            ActionKind.SUSPEND,
            "unit",
            {
                "text": "等待第三方检测机构出具报告",
                "suspend_reason": SuspendReason.THIRD_PARTY,
                "days": 5,
            },
        ),
        (ActionKind.APPROVE_SUSPENSION, "above", {"text": "同意挂起"}),
    ],
    [
        (ActionKind.ACKNOWLEDGE, "unit", {}),  # signs for it: the signer handles it
        (ActionKind.START, "unit", {}),
        (ActionKind.RESOLVE, "unit", {"text": "已对接服务机构并办结"}),
    ],
    [],
]


def actor(view: RequestView, who: str) -> Actor:
    """The holding unit's demo caseworker, or a demo supervisor of the tier above."""
    summary = view.summary
    if who == "unit":
        holder = summary.institution_id or ""
        return Actor(id=f"demo-cw-{holder}", role=Role.CASEWORKER, institution_id=holder)
    tier = summary.tier.next_up() or summary.tier
    division = division_for_tier(summary.division_code, tier)
    return Actor(
        id=f"demo-sup-{tier.value}-{division}",
        role=Role.SUPERVISOR,
        tier=tier,
        division_code=division,
    )


async def walk(client: Client, request_ids: Iterable[str], timeout: float = 60) -> Counter[str]:
    """Take each request's script; return how many steps of each kind were taken."""
    taken: Counter[str] = Counter()
    for n, rid in enumerate(request_ids):
        script = SCRIPTS[n % len(SCRIPTS)]
        if not script:
            continue
        handle = client.get_workflow_handle(workflow_id(rid))
        view = await _assigned(handle, timeout)
        if view is None:
            continue  # not routed in time (or already finished): leave it
        for step, (kind, who, fields) in enumerate(script):
            request = ActionRequest(
                action_id=f"demo-{rid}-{step}-{kind.value}",
                kind=kind,
                actor=actor(view, who),
                **fields,
            )
            try:
                await execute_update(
                    handle,
                    ServiceRequestWorkflow.act,
                    request,
                    id=request.action_id,
                    result_type=ActionResult,
                )
            except WorkflowUpdateFailedError:
                break  # e.g. the request moved on meanwhile: the rest of its script is moot
            taken[kind.value] += 1
    return taken


async def _assigned(handle: WorkflowHandle, timeout: float) -> RequestView | None:
    """The request's view once it is routed (None if that does not happen in ``timeout``)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            view: RequestView = await handle.query(ServiceRequestWorkflow.view)
            if view.summary.state is not State.SUBMITTED:
                return view if view.summary.state is not State.REJECTED else None
        except RPCError:  # not started yet: the ingress has not taken the submit
            pass
        if asyncio.get_running_loop().time() > deadline:
            return None
        await asyncio.sleep(0.5)
