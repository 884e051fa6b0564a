"""One Temporal call per command, and what its answer means for the Kafka offset.

Every call is idempotent, so a redelivered message is harmless: a submit starts the workflow
with ``USE_EXISTING`` (and refuses to start a second run of a closed one), and an action is
an Update whose id is the CloudEvent id (the workflow also dedupes by ``action_id``), sent
again under an id of its own when an operator hold that refused it has been released
(``tierflow.held_actions``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import timedelta

from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from schemas.dlq import DeadLetterReason as Reason
from schemas.events import ParsedCommand
from schemas.lifecycle import ActionRequest, ActionResult, Wording
from tierflow import held_actions
from tierflow.constants import workflow_id
from tierflow.submission import (
    Recorded,
    RequestFinished,
    SubmitConflict,
    Submitted,
    Trail,
    submit_request,
)
from workflows.refusals import reason_of, reused_id
from workflows.service_request import ServiceRequestWorkflow

# RPC errors that say "the input can never work", not "try again later".
PERMANENT_RPC = frozenset({RPCStatusCode.INVALID_ARGUMENT})
# the workflow's refusal types with a reason of their own (the rest: rejected)
REFUSAL_REASONS = {
    "Forbidden": Reason.FORBIDDEN,
    "IdempotencyConflict": Reason.CONFLICT,
    "NeedsOperator": Reason.NEEDS_OPERATOR,
}


class Verdict(enum.Enum):
    """What the ingress does with the offset after a call."""

    APPLIED = "applied"  # commit
    DUPLICATE = "duplicate"  # commit: the effect already existed
    DEAD_LETTER = "dead_lettered"  # park on the DLQ, then commit
    RETRY = "retry"  # transient: retry the same message, keep the partition's order
    NOT_FOUND = "not_found"  # no workflow yet: retry within a bounded budget


@dataclass(frozen=True)
class Outcome:
    verdict: Verdict
    reason: str = ""
    message: str = ""
    wording: Wording | None = None  # the workflow's refusal as a catalog entry, when it is one


async def apply_command(
    client: Client,
    cmd: ParsedCommand,
    task_queue: str,
    rpc_timeout: timedelta,
    recorded: Recorded,
) -> Outcome:
    """Make the command's Temporal call and classify its answer; never raises.

    ``recorded`` tells whether the read model already holds a request id (see
    ``tierflow.submission``).
    """
    try:
        if cmd.submit is not None:
            return await _submit(client, cmd, task_queue, rpc_timeout, recorded)
        return await _act(client, cmd, rpc_timeout)
    except WorkflowUpdateFailedError as exc:
        cause = exc.cause
        kind = cause.type if isinstance(cause, ApplicationError) else type(cause).__name__
        reason = REFUSAL_REASONS.get(kind or "", Reason.REJECTED)
        worded = Wording.of(reason_of(cause)) if isinstance(cause, ApplicationError) else None
        return Outcome(Verdict.DEAD_LETTER, reason, f"{kind}: {_message(cause)}", worded)
    except WorkflowUpdateRPCTimeoutOrCancelledError as exc:
        return Outcome(Verdict.RETRY, message=f"update call timed out: {exc}")
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND and cmd.action is not None:
            return await _not_found(client, cmd, exc, recorded)
        if exc.status in PERMANENT_RPC:
            return Outcome(Verdict.DEAD_LETTER, Reason.REJECTED, f"Temporal refused: {exc.message}")
        return Outcome(Verdict.RETRY, message=f"RPC {exc.status.name}: {exc.message}")
    except Exception as exc:  # noqa: BLE001 - unknown failures are retried, never dropped
        return Outcome(Verdict.RETRY, message=f"{type(exc).__name__}: {exc}")


async def _submit(
    client: Client,
    cmd: ParsedCommand,
    task_queue: str,
    rpc_timeout: timedelta,
    recorded: Recorded,
) -> Outcome:
    assert cmd.submit is not None
    try:
        submitted = await submit_request(
            client, cmd.submit, task_queue, rpc_timeout, recorded=recorded
        )
    except RequestFinished:
        return Outcome(Verdict.DUPLICATE, message="workflow already ran to completion")
    except SubmitConflict as exc:
        return Outcome(Verdict.DEAD_LETTER, Reason.CONFLICT, str(exc), Wording.of(exc))
    return Outcome(Verdict.APPLIED if submitted is Submitted.STARTED else Verdict.DUPLICATE)


async def _act(client: Client, cmd: ParsedCommand, rpc_timeout: timedelta) -> Outcome:
    assert cmd.action is not None
    handle = client.get_workflow_handle(workflow_id(cmd.request_id))
    action = cmd.action

    async def send(update_id: str) -> Outcome:  # the command's id and its content's digest
        return await _send(handle, action, update_id, rpc_timeout)

    return await held_actions.send(handle, action, send)


async def _send(
    handle: WorkflowHandle, action: ActionRequest, update_id: str, rpc_timeout: timedelta
) -> Outcome:
    if await _already_done(handle, update_id, rpc_timeout):
        return Outcome(Verdict.DUPLICATE)
    result: ActionResult = await handle.execute_update(
        ServiceRequestWorkflow.act, action, id=update_id, rpc_timeout=rpc_timeout
    )
    return Outcome(Verdict.DUPLICATE if result.duplicate else Verdict.APPLIED)


async def _already_done(handle: WorkflowHandle, update_id: str, rpc_timeout: timedelta) -> bool:
    """True if an Update with this id already completed in the current run.

    The server answers a repeated Update id with the first result, which cannot be told
    from a fresh one; asking first lets the metrics count redeliveries as duplicates.
    A failed earlier attempt re-raises its WorkflowUpdateFailedError (dead-lettered again).
    """
    try:
        await handle.get_update_handle(update_id, result_type=ActionResult).result(
            rpc_timeout=rpc_timeout
        )
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


async def _not_found(
    client: Client, cmd: ParsedCommand, exc: RPCError, recorded: Recorded
) -> Outcome:
    """Tell "no workflow yet" (retry, bounded) from "workflow completed" (dead letter, unless
    the audit trail holds the action: a copy Kafka delivered again after the request ended
    is the duplicate it is)."""
    try:
        desc = await client.get_workflow_handle(workflow_id(cmd.request_id)).describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return Outcome(Verdict.NOT_FOUND, message=f"no workflow for {cmd.request_id}")
        return Outcome(Verdict.RETRY, message=f"describe failed: {err.message}")
    if desc.status is not None and desc.status != WorkflowExecutionStatus.RUNNING:
        assert cmd.action is not None
        trail = await recorded.applied(cmd.request_id, cmd.action)
        if trail is Trail.SAME:
            return Outcome(Verdict.DUPLICATE, message="applied before the request ended")
        if trail is Trail.OTHER:
            reused = reused_id(cmd.action.action_id)
            return Outcome(Verdict.DEAD_LETTER, Reason.CONFLICT, str(reused), Wording.of(reused))
        return Outcome(
            Verdict.DEAD_LETTER,
            Reason.WORKFLOW_CLOSED,
            f"request {cmd.request_id} is closed (workflow {desc.status.name.lower()})",
        )
    return Outcome(Verdict.RETRY, message=f"update not found while running: {exc.message}")


def _message(exc: BaseException) -> str:
    return exc.message if isinstance(exc, ApplicationError) else str(exc)
