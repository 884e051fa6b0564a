"""A lean run's history on the real dev server: no patch marker, no idle timer or upsert churn.

Runs of the types since ``ServiceRequestV2`` take every path without a patch marker; runs of the
first type name take the steady-clock patch once, and it stands for every patch before it. An
update that moves no deadline and changes no search attribute (a comment) costs no timer and no
upsert; the search attributes are upserted only when they change. Recorded histories of runs
from before replay unchanged (tests/workflows/test_replay.py).
"""

from __future__ import annotations

import json

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowHandle

from schemas.domain import State
from schemas.lifecycle import WORKFLOW_TYPE_STARTED_BEFORE, ActionKind
from tests.utils.factories import ALWAYS_OPEN, action, caseworker, make_policy
from tests.workflows.dev_server import SECOND, replay_and_maybe_record, running, started
from workflows.service_request import ServiceRequestWorkflow
from workflows.versions import STEADY_CLOCK_PATCH

TIMERS = {EventType.EVENT_TYPE_TIMER_STARTED, EventType.EVENT_TYPE_TIMER_CANCELED}
UPSERT = EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES


async def events(handle: WorkflowHandle) -> list[HistoryEvent]:
    return list((await handle.fetch_history()).events)


def patch_ids(history: list[HistoryEvent]) -> list[str]:
    """The ids of the patch markers in ``history``."""
    ids = []
    for event in history:
        marker = event.marker_recorded_event_attributes
        if event.event_type == EventType.EVENT_TYPE_MARKER_RECORDED and marker.marker_name == (
            "core_patch"
        ):
            (payloads,) = marker.details.values()
            ids.append(json.loads(payloads.payloads[0].data)["id"])
    return ids


def upserted(history: list[HistoryEvent]) -> list[dict[str, bytes]]:
    """Each upsert's tierflow attributes (Temporal's own change version left out)."""
    found = []
    for event in history:
        if event.event_type == UPSERT:
            fields = event.upsert_workflow_search_attributes_event_attributes.search_attributes
            found.append(
                {k: v.data for k, v in fields.indexed_fields.items() if k.startswith("Tierflow")}
            )
    return found


async def test_a_comment_costs_no_timer_and_no_upsert_and_a_run_takes_no_patch(
    temporal_client: Client, task_queue: str
) -> None:
    policy = make_policy(40 * SECOND, 80 * SECOND, 2 * SECOND, ALWAYS_OPEN)
    async with running(temporal_client, task_queue, policy) as (client, queue, _):
        handle, view = await started(client, queue)
        county = caseworker(view.summary.institution_id or "")
        ack = action(ActionKind.ACKNOWLEDGE, county)
        await handle.execute_update(ServiceRequestWorkflow.act, ack, id=ack.action_id)
        before = len(await events(handle))

        for text in ("已电话联系企业", "材料已收到"):
            note = action(ActionKind.COMMENT, county, text=text)
            await handle.execute_update(ServiceRequestWorkflow.act, note, id=note.action_id)
        by_comments = (await events(handle))[before:]
        kinds = {e.event_type for e in by_comments}
        assert not kinds & TIMERS, "a comment moves no deadline: the timer stays"
        assert UPSERT not in kinds, "a comment changes no search attribute"
        assert len(by_comments) == 2 * 6  # workflow task (3), accepted, record, completed

        done = action(ActionKind.RESOLVE, county, text="已办结")
        await handle.execute_update(ServiceRequestWorkflow.act, done, id=done.action_id)
        assert (await handle.result()).state is State.CLOSED  # after the 2 s reopen window

    history = await events(handle)
    assert patch_ids(history) == []
    assert all(upserted(history)), "no upsert of Temporal's change version alone"
    attributes = upserted(history)
    assert [json.loads(a["TierflowState"]) for a in attributes] == [
        "assigned",
        "acknowledged",
        "resolved",
        "closed",
    ]
    assert all(a != b for a, b in zip(attributes, attributes[1:], strict=False))


async def test_a_request_of_the_first_type_name_takes_one_patch_and_runs_the_same_lifecycle(
    temporal_client: Client, task_queue: str
) -> None:
    """Requests started under ``ServiceRequest`` (before the V2 type) still run to the end."""
    policy = make_policy(40 * SECOND, 80 * SECOND, 2 * SECOND, ALWAYS_OPEN)
    async with running(temporal_client, task_queue, policy) as (client, queue, _):
        handle, view = await started(client, queue, WORKFLOW_TYPE_STARTED_BEFORE)
        county = caseworker(view.summary.institution_id or "")
        for kind, text in ((ActionKind.ACKNOWLEDGE, None), (ActionKind.RESOLVE, "已办结")):
            step = action(kind, county, text=text)
            await handle.execute_update(ServiceRequestWorkflow.act, step, id=step.action_id)
        assert (await handle.result()).state is State.CLOSED
        described = await handle.describe()
    assert described.workflow_type == WORKFLOW_TYPE_STARTED_BEFORE
    history = await events(handle)
    assert patch_ids(history) == [STEADY_CLOCK_PATCH]
    assert {} in upserted(history), "the patch upserts Temporal's change version"
    await replay_and_maybe_record(client, handle, "started-before-v2")
