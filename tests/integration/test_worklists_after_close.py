"""What waits for someone after a request's close (an appeal of its rating, a supervision's
reply) is in the worklist of those who must act, though the queue leaves closed requests
out. The real projection and listing on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Engine

from activities.persistence import TransitionWriter
from api.service.requests import QueueFilter, list_requests
from schemas.domain import Role, Tier
from schemas.lifecycle import Awaiting, EventType
from tests.utils.factories import T0, RecordFactory, make_request
from tierflow.auth_store import Principal

COUNTY = "zj-330106-sme"
CITY = Principal(
    user_id="sup-city", role=Role.SUPERVISOR, tier=Tier.MUNICIPAL, division_code="330100"
)


def test_an_appeal_after_the_close_is_in_the_supervisors_worklist(db_engine: Engine) -> None:
    writer = TransitionWriter(db_engine)
    for request_id, appealed in (("req-closed-appealed", True), ("req-closed-done", False)):
        f = RecordFactory(make_request(request_id), T0)
        writer.persist([f.submitted(), f.assigned(COUNTY), f.resolved(), f.closed()])
        if appealed:
            appeal = f.emit(EventType.RATING_APPEALED)
            appeal.summary.awaiting = [Awaiting.APPEAL_DECISION]
            writer.persist([appeal])
    ctx: Any = SimpleNamespace(engine=db_engine, clock=lambda: T0 + timedelta(days=3))

    def listed(where: QueueFilter) -> list[str]:
        return sorted(item.request_id for item in list_requests(ctx, CITY, where).items)

    assert listed(QueueFilter(awaiting=(Awaiting.APPEAL_DECISION,))) == ["req-closed-appealed"]
    assert listed(QueueFilter()) == []  # the queue itself: open requests
