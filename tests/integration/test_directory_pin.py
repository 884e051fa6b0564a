"""On the real worker: a request pins the directory version the worker routes with, and that
version is recorded in the database, so the request can route by it after the next import."""

from __future__ import annotations

from tests.utils.factories import make_request
from tests.utils.stack_helpers import start_request
from tierflow.directory import Directory
from tierflow.directory_store import is_recorded, load_version
from workflows.service_request import ServiceRequestWorkflow


async def test_a_request_pins_a_recorded_directory_version(stack) -> None:
    handle = await start_request(stack, make_request(division_code="330106"))
    view = await handle.query(ServiceRequestWorkflow.view)
    pinned = view.directory_version
    assert pinned == Directory.load(stack.settings.directory_file).version
    assert is_recorded(stack.engine, pinned)  # the worker recorded the one it started with
    earlier = load_version(stack.engine, pinned)
    assert earlier is not None and earlier.get(view.summary.institution_id or "") is not None
