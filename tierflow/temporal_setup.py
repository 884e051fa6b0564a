"""Prepare a Temporal namespace for tierflow through the server's APIs, as an operator does.

A real cluster has no ``--search-attribute`` start flags (only the dev server has them): the
namespace is created through the frontend (``RegisterNamespace``) and tierflow's search
attributes (``constants.SEARCH_ATTRIBUTES``) are registered through the operator API
(``OperatorService.AddSearchAttributes``). ``tierflow temporal setup`` runs both; each step
is idempotent, so it is safe to run on every deployment.

The SQL visibility store (PostgreSQL, MySQL) maps custom attributes per namespace onto a
fixed set of columns and silently accepts a name that is already registered, whatever its
type: the types are compared here first, and a clash is refused before anything is added.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from google.protobuf.duration_pb2 import Duration
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.api.workflowservice.v1 import (
    CountWorkflowExecutionsRequest,
    RegisterNamespaceRequest,
)
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from tierflow import constants
from tierflow.startup import wait_for_async

# Search attribute types as the Temporal CLI and constants.SEARCH_ATTRIBUTES name them.
INDEX_TYPES: dict[str, IndexedValueType.ValueType] = {
    "Text": IndexedValueType.INDEXED_VALUE_TYPE_TEXT,
    "Keyword": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "Int": IndexedValueType.INDEXED_VALUE_TYPE_INT,
    "Double": IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE,
    "Bool": IndexedValueType.INDEXED_VALUE_TYPE_BOOL,
    "Datetime": IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
    "KeywordList": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST,
}
_TYPE_NAMES = {value: name for name, value in INDEX_TYPES.items()}
# A value of each type for a query that only has to be accepted (see search_attributes_usable).
_PROBE_VALUES = {
    "Text": "'-'",
    "Keyword": "'-'",
    "KeywordList": "'-'",
    "Int": "0",
    "Double": "0",
    "Bool": "false",
    "Datetime": "'2000-01-01T00:00:00Z'",
}
DEFAULT_RETENTION = timedelta(days=30)


class SearchAttributeClash(RuntimeError):
    """Attributes already registered in the namespace with another type than tierflow's."""

    def __init__(self, namespace: str, clashes: Mapping[str, tuple[str, str]]) -> None:
        self.namespace = namespace
        self.clashes = dict(clashes)  # name -> (registered type, tierflow's type)
        said = ", ".join(
            f"{k} is {have}, tierflow needs {want}" for k, (have, want) in clashes.items()
        )
        super().__init__(f"search attributes of namespace {namespace!r} clash: {said}")


@dataclass(frozen=True)
class SearchAttributesRegistered:
    """What a registration did: the names it added and those already present (same type)."""

    added: tuple[str, ...]
    present: tuple[str, ...]


def _check_types(attributes: Mapping[str, str]) -> None:
    unknown = sorted({kind for kind in attributes.values() if kind not in INDEX_TYPES})
    if unknown:
        raise ValueError(f"unknown search attribute type(s) {unknown}; use {list(INDEX_TYPES)}")


async def ensure_namespace(
    client: Client, namespace: str, retention: timedelta = DEFAULT_RETENTION
) -> bool:
    """Create ``namespace`` unless it exists; return True if this call created it.

    An existing namespace is left as it is (its retention included).
    """
    request = RegisterNamespaceRequest(
        namespace=namespace,
        description="tierflow service-request lifecycles",
        workflow_execution_retention_period=Duration(seconds=int(retention.total_seconds())),
    )
    try:
        await client.workflow_service.register_namespace(request)
    except RPCError as exc:
        if exc.status == RPCStatusCode.ALREADY_EXISTS:
            return False
        raise
    return True


async def registered_search_attributes(client: Client, namespace: str) -> dict[str, str]:
    """Return the namespace's custom search attributes as name -> type (``Keyword``, ...)."""
    response = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace)
    )
    return {
        name: _TYPE_NAMES.get(kind, IndexedValueType.Name(kind))
        for name, kind in response.custom_attributes.items()
    }


async def register_search_attributes(
    client: Client,
    namespace: str,
    attributes: Mapping[str, str] = constants.SEARCH_ATTRIBUTES,
) -> SearchAttributesRegistered:
    """Register ``attributes`` (name -> type) in ``namespace`` through the operator API.

    Attributes already present with the same type are left alone; one present with another
    type raises SearchAttributeClash and nothing is added.
    """
    _check_types(attributes)
    have = await registered_search_attributes(client, namespace)
    clashes = {
        name: (have[name], kind)
        for name, kind in attributes.items()
        if name in have and have[name] != kind
    }
    if clashes:
        raise SearchAttributeClash(namespace, clashes)
    missing = {name: kind for name, kind in attributes.items() if name not in have}
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=namespace,
                search_attributes={name: INDEX_TYPES[kind] for name, kind in missing.items()},
            )
        )
    present = tuple(name for name in attributes if name in have)
    return SearchAttributesRegistered(added=tuple(missing), present=present)


async def search_attributes_usable(
    client: Client,
    namespace: str,
    attributes: Mapping[str, str] = constants.SEARCH_ATTRIBUTES,
) -> None:
    """Return once a visibility query naming every attribute is accepted, else raise RPCError.

    The frontends learn a namespace's new attributes when they refresh their namespace cache
    (seconds after the registration): until then a workflow started with them is refused.
    """
    _check_types(attributes)
    query = " AND ".join(f"{name} = {_PROBE_VALUES[kind]}" for name, kind in attributes.items())
    await client.workflow_service.count_workflow_executions(
        CountWorkflowExecutionsRequest(namespace=namespace, query=query)
    )


async def wait_search_attributes_usable(
    client: Client,
    namespace: str,
    attributes: Mapping[str, str] = constants.SEARCH_ATTRIBUTES,
    wait: float = 60.0,
) -> None:
    """Wait up to ``wait`` seconds until the frontend accepts queries on ``attributes``."""

    async def attempt() -> None:  # a coroutine function: tenacity awaits only those
        await search_attributes_usable(client, namespace, attributes)

    await wait_for_async(f"search attributes of namespace {namespace!r}", wait, attempt)
