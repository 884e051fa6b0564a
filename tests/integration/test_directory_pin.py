"""On the real worker: a request pins the directory version the worker routes with, and that
version is recorded in the database, so the request can route by it after the next import.
The database is the only thing the console and the workers share: an import on an API
without the workers' directory file reaches them, and new requests route by it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from prometheus_client import CollectorRegistry

from schemas.domain import Role, Tier
from schemas.lifecycle import ActionKind, RequestView
from schemas.request import Actor
from tests.fixtures.console import Console, page_csrf, signed_in
from tests.utils.eventually import eventually
from tests.utils.factories import caseworker, make_request
from tests.utils.fast_policy import Targets, policy_worker
from tests.utils.stack_helpers import act, start_request
from tierflow.directory import Directory, DirectoryWatch
from tierflow.directory_csv import export_csv
from tierflow.directory_source import RecordedDirectory
from tierflow.directory_store import is_recorded, load_version
from tierflow.metrics import WorkerMetrics
from workflows.service_request import ServiceRequestWorkflow

PACKAGED = Directory.load()
NEW_OFFICES = (
    "gd-440106-sme,广州市天河区中小企业服务中心,county,440106,,,0\n"
    "gd-440100-sme,广州市中小企业服务中心,municipal,440100,,,0\n"
)


async def test_a_request_pins_a_recorded_directory_version(stack) -> None:
    handle = await start_request(stack, make_request(division_code="330106"))
    view = await handle.query(ServiceRequestWorkflow.view)
    pinned = view.directory_version
    assert pinned == Directory.load(stack.settings.directory_file).version
    assert is_recorded(stack.engine, pinned)  # the worker recorded the one it started with
    earlier = load_version(stack.engine, pinned)
    assert earlier is not None and earlier.get(view.summary.institution_id or "") is not None


async def view_of(handle) -> RequestView:
    return await handle.query(ServiceRequestWorkflow.view)


async def escalated_to(handle) -> str | None:
    """Escalate a routed request to the municipal tier; return who serves it there."""
    view = await view_of(handle)
    cw = caseworker(view.summary.institution_id or "")
    await act(handle, ActionKind.ACKNOWLEDGE, cw)
    await act(handle, ActionKind.ESCALATE, cw, text="需要市级银企对接")

    async def municipal() -> str | None:
        summary = (await view_of(handle)).summary
        return summary.institution_id if summary.tier is Tier.MUNICIPAL else None

    return await eventually(municipal, what="routed to the municipal tier")


async def test_a_console_import_without_the_workers_file_reaches_the_worker(
    stack, console: Console
) -> None:
    """The worker (the packaged directory as its file) and the console (no directory file at
    all) on one database: after an admin's import, a new request pins and routes by the new
    version; one started before keeps the version it pinned, also when it escalates."""
    worker = RecordedDirectory(console.engine, DirectoryWatch(None), interval=0.05)
    metrics = WorkerMetrics(CollectorRegistry())
    try:
        async with policy_worker(
            stack, Targets(), metrics, "dir", engine=console.engine, directory=worker
        ) as queue:
            before = await start_request(stack, make_request(division_code="440106"), queue)
            pinned = await view_of(before)
            assert pinned.directory_version == PACKAGED.version
            assert pinned.summary.institution_id == "gen-440106"
            assert is_recorded(console.engine, PACKAGED.version)  # the worker recorded it

            console.clock.now = datetime.now(UTC) + timedelta(minutes=1)  # after that record
            body = export_csv(e for e in PACKAGED.entries if not e.generated) + NEW_OFFICES
            async with signed_in(console, "admin") as client:
                csrf = await page_csrf(client)
                done = await client.post(
                    "/console/directory/import",
                    data={"csrf_token": csrf, "version": "2026.12"},
                    files={"file": ("广州.csv", body.encode("utf-8"), "text/csv")},
                )
            assert done.status_code == 303, done.text
            await eventually(lambda: worker.current().version == "2026.12", what="import seen")

            after = await start_request(stack, make_request(division_code="440106"), queue)
            routed = await view_of(after)
            assert routed.directory_version == "2026.12"
            assert routed.summary.institution_id == "gd-440106-sme"

            kept = await view_of(before)
            assert kept.directory_version == PACKAGED.version
            assert kept.summary.institution_id == "gen-440106"
            assert await escalated_to(before) == "gen-440100"  # by the version it pinned
            assert await escalated_to(after) == "gd-440100-sme"
            # a person may send it on to a unit imported since (the placeholder's real one)
            admin = Actor(id="admin", role=Role.ADMIN)
            moved = await act(
                before, ActionKind.REASSIGN, admin, institution_id="gd-440100-sme", text="实体机构"
            )
            assert moved.institution_id == "gd-440100-sme"
    finally:
        worker.close()
    assert not worker.failed
