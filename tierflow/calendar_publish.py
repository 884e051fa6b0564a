"""Hand a newer business calendar to running requests (``tierflow calendar publish``).

Calendars are pinned at submission. When the State Council publishes a year's days off, an
operator builds the calendar again from the upgraded ``holidays`` data and publishes it: each
running request takes it through its ``publish_calendar`` update, under its own lock (a safe
point between two actions), and records a ``calendar_updated`` event. The update id is the
calendar version, so publishing again is answered, not applied twice: a request that gave no
answer in time (its records wait for the database or Kafka) is reported as pending, and
publishing again settles it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from schemas.lifecycle import OWN_CALENDAR, WORKFLOW_TYPES, CalendarUpdate, Wording
from schemas.policy import CalendarData
from schemas.request import Actor
from tierflow.updates import NoAnswer, execute_update


@dataclass
class PublishReport:
    """Which requests took the calendar, which keep their own (their policy counts other
    working hours or days, or no public holidays), which refused it (workflow id -> why), and
    which gave no answer in time (it may still apply: publish again)."""

    updated: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)
    pending: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)


async def running_requests(client: Client, task_queue: str) -> list[str]:
    """Workflow ids of the requests running on ``task_queue``."""
    query = (
        f"WorkflowType IN ({', '.join(repr(t) for t in WORKFLOW_TYPES)}) "
        "AND ExecutionStatus = 'Running' "
        f"AND TaskQueue = '{task_queue}'"
    )
    return [wf.id async for wf in client.list_workflows(query)]


async def publish_calendar(
    client: Client,
    calendar: CalendarData,
    actor: Actor,
    workflow_ids: list[str],
    wait: timedelta = timedelta(seconds=30),
) -> PublishReport:
    """Send ``calendar`` to each workflow, waiting at most ``wait`` for each answer; a refusal
    or a missing answer is reported, never raised."""
    report = PublishReport()
    update = CalendarUpdate(calendar=calendar, actor=actor)
    for wf_id in workflow_ids:
        handle = client.get_workflow_handle(wf_id)
        try:
            await execute_update(
                handle,
                "publish_calendar",
                update,
                id=f"calendar-{calendar.version}",
                result_type=str,
                wait=wait,
            )
        except NoAnswer:
            report.pending.append(wf_id)
            continue
        except WorkflowUpdateFailedError as exc:
            cause = exc.cause
            if isinstance(cause, ApplicationError) and cause.type == OWN_CALENDAR:
                report.kept.append(wf_id)
                continue
            if isinstance(cause, ApplicationError) and len(cause.details) == 1:
                # its wording (workflows.refusals), read in a person's language
                report.refused[wf_id] = Wording.read(cause.details[0], cause.message)
            else:
                report.refused[wf_id] = getattr(cause, "message", None) or str(cause or exc)
            continue
        except RPCError as exc:  # e.g. it finished meanwhile
            report.refused[wf_id] = exc.message
            continue
        report.updated.append(wf_id)
    return report
