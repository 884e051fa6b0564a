"""Temporal's workflow sandbox, without a trip into it for every payload's context.

The SDK (1.35) asks a workflow instance for a serialization context, and for an external-store
context, for every payload container of every activation and every completion, in each of
its decode and encode passes. A sandboxed instance answers by executing code inside the
sandbox, about 150 us a question: about a tenth of a worker's CPU per request lifecycle
(``tierflow bench lifecycle``, docs/benchmarks/README.md). The answers only matter to a data
converter that takes a context (a codec, external payload storage, a context-aware payload
converter). tierflow's converter takes none, so for it the answers are given outside the
sandbox, at once: no context, and no external-store target. Everything else runs in the
sandbox as before.
"""

from __future__ import annotations

from typing import Any

from temporalio.bridge.proto.workflow_activation import WorkflowActivation
from temporalio.bridge.proto.workflow_completion import WorkflowActivationCompletion
from temporalio.converter import (
    ActivitySerializationContext,
    DataConverter,
    SerializationContext,
    StorageDriverStoreContext,
    WorkflowSerializationContext,
)
from temporalio.worker import WorkflowInstance, WorkflowInstanceDetails
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner
from temporalio.workflow import Info

_PROBES: tuple[SerializationContext, ...] = (
    WorkflowSerializationContext(namespace="probe", workflow_id="probe"),
    ActivitySerializationContext(
        namespace="probe",
        workflow_id="probe",
        workflow_type="probe",
        activity_type="probe",
        activity_id="probe",
        activity_task_queue="probe",
        is_local=True,
    ),
)


def takes_no_context(converter: DataConverter) -> bool:
    """Whether no serialization or store context can change what ``converter`` encodes."""
    if converter.external_storage is not None:
        return False
    return all(converter.with_context(context) is converter for context in _PROBES)


class ContextFreeSandboxRunner(SandboxedWorkflowRunner):
    """The sandbox runner for a worker whose data converter takes no context.

    Only for such a converter (``takes_no_context``): with any other, the answers given here
    would be wrong, so ``workers.worker.workflow_runner`` picks the plain sandbox instead.
    """

    def create_instance(self, det: WorkflowInstanceDetails) -> WorkflowInstance:
        return _ContextFree(super().create_instance(det))


class _ContextFree(WorkflowInstance):
    """A sandboxed instance that answers the context questions itself."""

    def __init__(self, sandboxed: WorkflowInstance) -> None:
        self._sandboxed = sandboxed

    def activate(self, act: WorkflowActivation) -> WorkflowActivationCompletion:
        return self._sandboxed.activate(act)

    def get_serialization_context(self, command_info: Any) -> SerializationContext | None:
        return None

    def get_external_store_context(self, command_info: Any) -> StorageDriverStoreContext:
        return StorageDriverStoreContext(target=None)

    def get_info(self) -> Info:
        return self._sandboxed.get_info()

    def get_thread_id(self) -> int | None:
        return self._sandboxed.get_thread_id()
