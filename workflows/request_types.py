"""Every type a request runs under; the older ones are defined here, not beside today's.

The sandbox runs the module of a run's workflow type afresh for every new run, and each
``@workflow.defn`` there checks every method of its class (and of its bases) again: a
subclass in the same module as today's type made every new run pay for it
(``tierflow bench lifecycle``). Runs of today's type import only ``service_request``; runs of
an older type import this module, and it imports that one.

Each older type is the one after it, but for what its own class sets: a V3 run is a V4 run
whose local activities may overlap, and so on down to the first name.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from schemas.lifecycle import (
        WORKFLOW_TYPE_STARTED_BEFORE,
        WORKFLOW_TYPE_V2,
        WORKFLOW_TYPE_V3,
        WORKFLOW_TYPE_V4,
        RequestSummary,
        WorkflowState,
    )

from workflows.service_request import ServiceRequestWorkflow


@workflow.defn(name=WORKFLOW_TYPE_V4)
class ServiceRequestV4(ServiceRequestWorkflow):
    """Requests started as ``ServiceRequestV4``: the same lifecycle, admitted on the instant
    of their first workflow task (``ServiceRequestWorkflow._admission_instant``), and
    continued as new where the run loop reads the server's suggestion
    (``ServiceRequestWorkflow._note_suggestion``).

    Their histories were made so, so they replay only on code that does the same; they
    continue as new under this type.
    """

    admits_at_start = False
    latches_continue_suggestion = False

    @workflow.run
    async def run(self, state: WorkflowState) -> RequestSummary:
        return await super().run(state)


@workflow.defn(name=WORKFLOW_TYPE_V3)
class ServiceRequestV3(ServiceRequestV4):
    """Requests started as ``ServiceRequestV3``: a V4 run, its local activities free to
    overlap (an update's lookup while the outbox records).

    Their histories may hold overlapping local activities, so they replay only on code that
    lets them overlap (``activity_calls.OneAtATime``); they continue as new under this type.
    """

    one_local_activity_at_a_time = False

    @workflow.run
    async def run(self, state: WorkflowState) -> RequestSummary:
        return await super().run(state)


@workflow.defn(name=WORKFLOW_TYPE_V2)
class ServiceRequestV2(ServiceRequestV3):
    """Requests started as ``ServiceRequestV2``: a V3 run, without kept timers.

    Their histories cancel a timer as soon as its deadline moves, so they replay only on code
    that does; they continue as new under this type too.
    """

    keeps_later_timers = False

    @workflow.run
    async def run(self, state: WorkflowState) -> RequestSummary:
        return await super().run(state)


@workflow.defn(name=WORKFLOW_TYPE_STARTED_BEFORE)
class ServiceRequestStartedBefore(ServiceRequestV2):
    """Requests started under the first type name: a V2 run, its paths chosen by patches.

    Their histories hold the patch markers their code took, so they replay only on code that
    asks for the same patches; they continue as new under this type too.
    """

    takes_patches = True

    @workflow.run
    async def run(self, state: WorkflowState) -> RequestSummary:
        return await super().run(state)


# every type a request runs under: a worker registers them all, a replayer too
REQUEST_WORKFLOWS = (
    ServiceRequestWorkflow,
    ServiceRequestV4,
    ServiceRequestV3,
    ServiceRequestV2,
    ServiceRequestStartedBefore,
)
