"""An API replica started while Temporal is away serves the read model at once and connects
once Temporal answers: under a real uvicorn, as ``tierflow api`` runs it (the app connects in
the background), so a pod restarted during an outage does not crash-loop."""

from __future__ import annotations

import httpx

from activities.persistence import TransitionWriter
from api.app import create_app
from tests.utils.api_helpers import make_users, serve_in_thread
from tests.utils.eventually import eventually
from tests.utils.factories import RecordFactory, make_request
from tierflow.db.engine import make_engine
from tierflow.settings import Settings
from tierflow_dev.devstack.procs import free_port


async def test_a_replica_started_without_temporal_serves_the_read_model(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    users = make_users(engine)
    held = RecordFactory(make_request("req-held"))
    TransitionWriter(engine).persist([held.submitted(), held.assigned("zj-330106-sme")])
    away = f"127.0.0.1:{free_port()}"  # nothing listens there
    app = create_app(Settings(database_url=sqlite_url, temporal_address=away), None, engine)
    try:
        with serve_in_thread(app, temporal=False) as url:
            async with httpx.AsyncClient(base_url=url, headers=users.auth("cw_own")) as http:
                ready, alive = await http.get("/readyz"), await http.get("/livez")
                queue = await http.get("/api/v1/requests")
                detail = await http.get("/api/v1/requests/req-held")
                act = await http.post(
                    "/api/v1/requests/req-held/actions/comment", json={"text": "已联系企业"}
                )
    finally:
        engine.dispose()
    assert ready.status_code == 200 and ready.json()["status"] == "degraded"
    assert alive.status_code == 200
    assert [item["request_id"] for item in queue.json()["items"]] == ["req-held"]
    assert detail.status_code == 200 and detail.json()["view_missing"] == "unavailable"
    assert detail.json()["request"]["institution_id"] == "zj-330106-sme"
    assert act.status_code == 503, act.text  # actions wait for the workflow engine


async def test_a_replica_connects_in_the_background_when_temporal_answers(stack) -> None:
    app = create_app(stack.settings, None, stack.engine)
    with serve_in_thread(app, temporal=False) as url:
        async with httpx.AsyncClient(base_url=url) as http:

            async def healthy() -> bool:
                return (await http.get("/healthz")).status_code == 200

            await eventually(healthy, what="the API connected to Temporal")
