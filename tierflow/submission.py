"""Start a request's workflow, idempotently, for the API and the Kafka ingress alike.

The request id is the workflow id: a repeated submit finds the running workflow instead of
starting a second one. The first submit's content digest rides along as a memo, so a later
submit under the same id is told apart: the same content is a duplicate (a redelivery or a
retry), different content is a conflict, never silently answered as a duplicate.
"""

from __future__ import annotations

import enum
from datetime import timedelta

from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from schemas.lifecycle import RequestSummary, WorkflowState
from schemas.request import RequestInput
from tierflow.constants import SUBMISSION_MEMO, WORKFLOW_TYPE, workflow_id


class Submitted(enum.Enum):
    STARTED = "started"
    DUPLICATE = "duplicate"  # the same request was submitted before


class SubmitConflict(ValueError):
    """The request id belongs to a request with different content."""


class RequestFinished(ValueError):
    """The request id belongs to a request that has already finished."""


async def submit_request(
    client: Client,
    request: RequestInput,
    task_queue: str,
    rpc_timeout: timedelta | None = None,
) -> Submitted:
    """Start the request's workflow, or find it running with the same content."""
    digest = request.content_digest()
    try:
        handle = await client.start_workflow(
            WORKFLOW_TYPE,
            WorkflowState(request=request),
            id=workflow_id(request.request_id),
            task_queue=task_queue,
            result_type=RequestSummary,
            memo={SUBMISSION_MEMO: digest},
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            # a submit redelivered after the request closed must not start it again
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            rpc_timeout=rpc_timeout,
        )
    except WorkflowAlreadyStartedError:
        raise RequestFinished(
            f"request_id: {request.request_id!r} belongs to a request that has already finished"
        ) from None
    # temporalio tells whether USE_EXISTING found a running workflow only on the response
    response = getattr(handle, "_start_workflow_response", None)
    if getattr(response, "started", True):
        return Submitted.STARTED
    memo = await (await handle.describe(rpc_timeout=rpc_timeout)).memo()
    first = memo.get(SUBMISSION_MEMO)
    if first is not None and first != digest:
        raise SubmitConflict(
            f"request_id: {request.request_id!r} was submitted before with different content"
        )
    return Submitted.DUPLICATE
