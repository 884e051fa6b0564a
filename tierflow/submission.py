"""Start a request's workflow, idempotently, for the API and the Kafka ingress alike.

The request id is the workflow id: a repeated submit finds the running workflow instead of
starting a second one. The first submit's content digest rides along as a memo, so a later
submit under the same id is told apart: the same content is a duplicate (a redelivery or a
retry), different content is a conflict, never silently answered as a duplicate.

Temporal forgets a closed workflow after the namespace's retention, and with it the id; the
read model never does. A submit whose id the read model already holds (a command replayed from
an old offset, a client reusing ids) is refused when Temporal no longer knows the workflow,
so a second request never writes its events over the first one's.
"""

from __future__ import annotations

import asyncio
import enum
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from sqlalchemy import Engine
from sqlmodel import Session
from temporalio.client import Client, WorkflowExecutionDescription, WorkflowExecutionStatus
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from schemas.lifecycle import WORKFLOW_TYPE, ActionRequest, RequestSummary, WorkflowState
from schemas.messages import N_, TranslatableError
from schemas.request import RequestInput
from tierflow.constants import SUBMISSION_MEMO, workflow_id
from tierflow.db import repository
from whatif.trail import same_action


class Trail(enum.Enum):
    """What the audit trail holds under an action's id."""

    NOTHING = "nothing"
    SAME = "same"  # this very action: a copy delivered again
    OTHER = "other"  # another action that reused the id


@dataclass(frozen=True)
class Held:
    """A request the read model holds, with the digest of its submission (None: projected
    before the read model kept it, migration 0035)."""

    digest: str | None


class Recorded(Protocol):
    """What the read model holds: a request with this id (called), an action applied to it."""

    async def __call__(self, request_id: str) -> Held | None: ...

    async def applied(self, request_id: str, action: ActionRequest) -> Trail: ...


class Submitted(enum.Enum):
    STARTED = "started"
    DUPLICATE = "duplicate"  # the same request was submitted before


class SubmitConflict(TranslatableError):
    """The request id belongs to a request with different content."""


class RequestFinished(TranslatableError):
    """The request id belongs to a request that has already finished with this content (its
    workflow's memo, or past the namespace's retention the read model, says so; another
    content under the id is a SubmitConflict)."""


class ReadModelHolds:
    """Ask the read model (off the event loop) what it already holds."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def __call__(self, request_id: str) -> Held | None:
        def holds() -> Held | None:
            with Session(self.engine) as session:
                row = repository.get_request(session, request_id)
            return None if row is None else Held(row.submission_digest)

        return await asyncio.to_thread(holds)

    async def applied(self, request_id: str, action: ActionRequest) -> Trail:
        def recorded() -> Trail:
            with Session(self.engine) as session:
                rows = repository.action_transitions(session, request_id, action.action_id)
            if not rows:
                return Trail.NOTHING
            # a record that cannot be read back is taken for the copy it most likely is
            return Trail.OTHER if same_action(rows, action) is False else Trail.SAME

        return await asyncio.to_thread(recorded)


def read_model_holds(engine: Engine) -> Recorded:
    """The read model's answers for ``submit_request`` and the ingress."""
    return ReadModelHolds(engine)


async def submit_request(
    client: Client,
    request: RequestInput,
    task_queue: str,
    rpc_timeout: timedelta | None = None,
    *,
    recorded: Recorded,
) -> Submitted:
    """Start the request's workflow, or find it running with the same content."""
    digest = request.content_digest()
    held = await recorded(request.request_id)
    if held is not None:  # submitted before: never start it again
        return await _submitted_before(client, request.request_id, digest, held, rpc_timeout)
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
    except WorkflowAlreadyStartedError:  # it ran and closed, the read model not told yet
        found = await client.get_workflow_handle(workflow_id(request.request_id)).describe(
            rpc_timeout=rpc_timeout
        )
        await _same_content(found, request.request_id, digest)
        raise _finished(request.request_id) from None
    # temporalio tells whether USE_EXISTING found a running workflow only on the response
    response = getattr(handle, "_start_workflow_response", None)
    if getattr(response, "started", True):
        return Submitted.STARTED
    return await _same_content(
        await handle.describe(rpc_timeout=rpc_timeout), request.request_id, digest
    )


async def _submitted_before(
    client: Client, request_id: str, digest: str, held: Held, rpc_timeout: timedelta | None
) -> Submitted:
    """A request the read model holds: a duplicate while its workflow runs, else finished
    (closed, or past the namespace's retention, when Temporal no longer knows it); another
    content under its id is a conflict, compared with the workflow's memo or, once Temporal
    forgot it, the read model's digest."""
    try:
        found = await client.get_workflow_handle(workflow_id(request_id)).describe(
            rpc_timeout=rpc_timeout
        )
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise
        if held.digest is not None and held.digest != digest:
            raise _conflict(request_id) from None
        raise RequestFinished(
            N_(
                "request_id: %(id)r belongs to a request that has already finished (its "
                "workflow is past the namespace's retention); submit it under a new id"
            ),
            id=request_id,
        ) from None
    same = await _same_content(found, request_id, digest)
    if found.status != WorkflowExecutionStatus.RUNNING:
        raise _finished(request_id)
    return same


async def _same_content(
    found: WorkflowExecutionDescription, request_id: str, digest: str
) -> Submitted:
    """DUPLICATE if the running workflow was submitted with this content; else a conflict."""
    first = (await found.memo()).get(SUBMISSION_MEMO)
    if first is not None and first != digest:
        raise _conflict(request_id)
    return Submitted.DUPLICATE


def _conflict(request_id: str) -> SubmitConflict:
    return SubmitConflict(
        N_("request_id: %(id)r was submitted before with different content"), id=request_id
    )


def _finished(request_id: str) -> RequestFinished:
    return RequestFinished(
        N_("request_id: %(id)r belongs to a request that has already finished"), id=request_id
    )
