"""受理评价: the enterprise rates the intake while the request is open (real time-skipping server).

One intake rating per request, besides the one rating of the conclusion: the same ``rate``
action with ``stage="intake"``, recorded as ``rated`` with ``stage`` in its details. A bad one
opens no rectification; the conclusion's rating goes on as before.
"""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from schemas.domain import State
from schemas.lifecycle import ActionKind, FollowUpOutcome, RatingStage
from tests.utils.factories import ENTERPRISE, action, caseworker
from tests.workflows.test_follow_up import DESK
from tests.workflows.test_lifecycle import act, view
from tests.workflows.test_return_and_extension import refused
from tests.workflows.test_sign_for import dispatch, records


def intake(rating: int, actor=ENTERPRISE):
    return action(ActionKind.RATE, actor, rating=rating, stage=RatingStage.INTAKE, text="受理及时")


async def test_the_intake_is_rated_once_while_open_and_apart_from_the_conclusion(
    ts_worker, stand_ins
) -> None:
    req, env, handle, policy, holder = await dispatch(ts_worker, stand_ins)
    assert ActionKind.RATE in (await view(handle)).allowed_actions  # the intake's, while open
    answer = await act(handle, intake(2))  # a bad one: no rectification
    assert answer.state is State.ASSIGNED
    (rated,) = records(stand_ins, req, "rated")
    assert rated.details == {"rating": 2, "stage": "intake"} and rated.reason == "受理及时"
    state = await view(handle)
    assert (state.intake_rating, state.rating, state.rectification) == (2, None, None)
    assert ActionKind.RATE not in state.allowed_actions
    assert "cannot rate with stage intake: the intake has already been rated" in await refused(
        handle, intake(5, DESK)
    )
    assert "cannot rate the conclusion of a request in state assigned" in await refused(
        handle,
        action(ActionKind.RATE, ENTERPRISE, rating=5),  # the conclusion's: not yet
    )

    cw = caseworker(holder)
    await act(handle, action(ActionKind.ACKNOWLEDGE, cw))
    await act(handle, action(ActionKind.RESOLVE, cw, text="已办结"))
    assert "stage intake: the request is resolved" in await refused(handle, intake(4))
    await act(handle, action(ActionKind.RATE, ENTERPRISE, rating=5))
    conclusion = records(stand_ins, req, "rated")[-1]
    assert conclusion.details == {"rating": 5}  # as conclusion ratings always were
    closed = await act(
        handle, action(ActionKind.FOLLOW_UP, DESK, outcome=FollowUpOutcome.SATISFIED)
    )
    assert closed.state is State.CLOSED
    await handle.result()  # rated already: nothing keeps it open
    assert not records(stand_ins, req, "rectification_opened")
    assert [r.details.get("stage") for r in records(stand_ins, req, "rated")] == ["intake", None]


async def test_an_intake_rating_after_the_close_is_refused(ts_worker, stand_ins) -> None:
    req, env, handle, policy, holder = await dispatch(ts_worker, stand_ins)
    cw = caseworker(holder)
    await act(handle, action(ActionKind.ACKNOWLEDGE, cw))
    await act(handle, action(ActionKind.RESOLVE, cw, text="已办结"))
    await act(handle, action(ActionKind.FOLLOW_UP, DESK, outcome=FollowUpOutcome.SATISFIED))
    assert "cannot rate with stage intake: the request is closed" in await refused(
        handle, intake(5)
    )
    assert (await view(handle)).intake_rating is None
    await act(handle, action(ActionKind.RATE, ENTERPRISE, rating=4))  # the conclusion's: taken
    await handle.result()


def test_stage_belongs_to_rate_only() -> None:
    with pytest.raises(ValidationError, match="stage is only for rate, not for comment"):
        action(ActionKind.COMMENT, ENTERPRISE, text="x", stage=RatingStage.INTAKE)
    with pytest.raises(ValidationError, match="stage"):
        action(ActionKind.RATE, ENTERPRISE, rating=4, stage="reception")
