"""The workflow's own memory is bounded whatever callers do (pure record helpers)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from schemas.domain import ClockKind, State, Tier
from schemas.lifecycle import (
    ACTION_ATTACHMENTS_MAX,
    ActionKind,
    ActionRequest,
    ActionResult,
    EventType,
    WorkflowState,
)
from schemas.request import Attachment
from tests.utils.factories import T0, caseworker, make_policy, make_request
from workflows import clocks, records


def test_only_the_newest_action_ids_are_remembered() -> None:
    case = WorkflowState(request=make_request())
    cw = caseworker("county-330106")
    for n in range(records.MAX_ACTION_IDS + 5):
        action = ActionRequest(action_id=f"a-{n}", kind=ActionKind.COMMENT, actor=cw, text="x")
        result = ActionResult(
            action_id=f"a-{n}",
            kind=ActionKind.COMMENT,
            state=State.ASSIGNED,
            tier=Tier.COUNTY,
            institution_id=None,
            event_ids=[],
        )
        records.remember_result(case, action, result)
    assert len(case.results) == len(case.action_digests) == records.MAX_ACTION_IDS
    assert "a-4" not in case.results and "a-5" in case.results  # the horizon: oldest go first
    assert list(case.action_digests) == list(case.results)
    restored = WorkflowState.model_validate_json(case.model_dump_json())  # continue-as-new
    assert list(restored.results) == list(case.results)  # order survives, so does the horizon
    assert restored.action_digests == case.action_digests


def test_an_action_id_reused_for_another_action_is_told_from_a_repeat() -> None:
    case = WorkflowState(request=make_request())
    cw, other = caseworker("county-330106"), caseworker("county-330106", "cw-2")
    first = ActionRequest(action_id="k-1", kind=ActionKind.COMMENT, actor=cw, text="已联系")
    result = ActionResult(
        action_id="k-1",
        kind=ActionKind.COMMENT,
        state=State.ASSIGNED,
        tier=Tier.COUNTY,
        institution_id=None,
        event_ids=["r:3"],
    )
    records.remember_result(case, first, result)
    assert not records.reused_for_another(case, first.model_copy())  # a retry
    for changed in (
        {"text": "已办结"},
        {"kind": ActionKind.ACKNOWLEDGE, "text": None},
        {"actor": other},
    ):
        again = first.model_copy(update=changed)
        assert records.reused_for_another(case, again), changed
        assert again.update_id() != first.update_id()
    assert first.update_id() == f"k-1#{first.content_digest()}"
    assert len(first.content_digest()) == 16
    # as the release before documents were taken with actions computed it: a retry across
    # the upgrade keeps its update id
    assert first.content_digest() == "3a05a8a1b77a7098"
    del case.action_digests["k-1"]  # a result kept before digests were: a repeat, as it was
    assert not records.reused_for_another(case, first.model_copy(update={"text": "已办结"}))


def test_timeline_holds_and_clocks_keep_their_newest_entries() -> None:
    case = WorkflowState(request=make_request(), policy=make_policy())
    cw = caseworker("county-330106")
    long_text = "很长的评论" * 1000
    for n in range(records.MAX_TIMELINE + 30):
        now = T0 + timedelta(minutes=n)
        records.open_hold(case, Tier.COUNTY, "county-330106", now)
        case.clocks.extend(clocks.start_clocks(case.policy, Tier.COUNTY, now))  # type: ignore[arg-type]
        records.record_transition(
            case,
            EventType.COMMENTED,
            cw,
            now,
            to_state=State.ASSIGNED,
            from_tier=None,
            reason=long_text,
            action_id=None,
            details={},
        )
    assert len(case.timeline) == records.MAX_TIMELINE
    assert case.timeline_truncated == 30 and case.timeline[0].sequence == 31
    assert all(len(e.reason or "") == records.MAX_TIMELINE_TEXT for e in case.timeline)
    assert len(case.holds) == records.MAX_HOLDS and len(case.clocks) == records.MAX_CLOCKS
    newest = case.clocks[-2:]  # the current tier's clocks are never dropped
    assert [c.kind for c in newest] == [ClockKind.RESPONSE, ClockKind.RESOLUTION]
    assert newest[0].started_at == T0 + timedelta(minutes=records.MAX_TIMELINE + 29)


def test_only_provide_info_and_resolve_carry_documents() -> None:
    cw = caseworker("county-330106")
    report = Attachment(name="2025年度财务报表.pdf", url="https://files.example.gov.cn/a.pdf")
    for kind in (ActionKind.PROVIDE_INFO, ActionKind.RESOLVE):
        sent = ActionRequest(
            action_id="k", kind=kind, actor=cw, text="见附件", attachments=[report]
        )
        assert sent.attachments == [report]
        bare = sent.model_copy(update={"attachments": []})
        assert sent.content_digest() != bare.content_digest()  # another action, not a retry
    with pytest.raises(ValidationError, match="attachments.*only for provide_info and resolve"):
        ActionRequest(
            action_id="k", kind=ActionKind.COMMENT, actor=cw, text="x", attachments=[report]
        )
    too_many = [report] * (ACTION_ATTACHMENTS_MAX + 1)
    with pytest.raises(ValidationError, match="attachments"):
        ActionRequest(
            action_id="k", kind=ActionKind.PROVIDE_INFO, actor=cw, text="x", attachments=too_many
        )
