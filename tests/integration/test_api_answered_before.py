"""The answer to an action retried after its request ended comes from the audit trail only
for the same action (every field): another action reusing the key (the rating 4 under the key
of a rating 5) is not told it was recorded."""

from __future__ import annotations

from types import SimpleNamespace

from sqlalchemy import Engine

from activities.persistence import TransitionWriter
from api.service.actions import answered_before
from schemas.domain import Role, State
from schemas.lifecycle import ActionKind, ActionRequest
from schemas.request import Actor
from tests.utils.factories import RecordFactory, make_request


def test_only_the_same_action_is_answered_from_the_trail(sqlite_engine: Engine) -> None:
    f = RecordFactory(make_request("req-retry-1"))
    records = [f.submitted(), f.assigned("zj-330106-sme"), f.resolved()]
    rated = f.rated(5).model_copy(update={"action_id": "portal-key-1"})
    records += [rated, f.closed()]
    TransitionWriter(sqlite_engine).persist(records)
    ctx = SimpleNamespace(engine=sqlite_engine)
    enterprise = Actor(id=f.request.enterprise.uscc, role=Role.ENTERPRISE)

    def rate(rating: int) -> ActionRequest:
        return ActionRequest(
            action_id="portal-key-1", kind=ActionKind.RATE, actor=enterprise, rating=rating
        )

    again = answered_before(ctx, "req-retry-1", rate(5))  # type: ignore[arg-type]
    assert again is not None and again.duplicate and again.event_ids == [rated.event_id]
    assert again.state is State.RESOLVED
    assert answered_before(ctx, "req-retry-1", rate(4)) is None  # type: ignore[arg-type]
