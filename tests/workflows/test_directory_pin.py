"""A request routes by the directory version it pinned at submission, whatever is imported
later: every routing call and target check names that version (and a request pinned before
directory versions names none, so it routes by the current directory)."""

from __future__ import annotations

import pytest
from temporalio.client import WorkflowUpdateFailedError

from schemas.domain import Role, Tier
from schemas.lifecycle import ActionKind, Institution
from tests.utils.factories import action, caseworker, make_request, supervisor
from tests.workflows.test_lifecycle import act, submit, view


async def test_every_routing_names_the_pinned_directory(ts_worker, stand_ins) -> None:
    env, queue = ts_worker
    stand_ins.policy = stand_ins.policy.model_copy(update={"directory_version": "dir-2026.1"})
    stand_ins.extra_institutions.append(
        Institution(id="municipal-other", name="二部", tier=Tier.MUNICIPAL, division_code="330100")
    )
    req = make_request(division_code="330106")
    handle = await submit(env, queue, req)
    county = (await view(handle)).summary.institution_id
    up = await act(handle, action(ActionKind.ESCALATE, caseworker(county), text="需市级统筹"))
    dispatcher = supervisor(Tier.MUNICIPAL, "330100").model_copy(update={"role": Role.DISPATCHER})
    moved = await act(
        handle,
        action(ActionKind.REASSIGN, dispatcher, institution_id="municipal-other", text="改派"),
    )
    assert (up.tier, moved.institution_id) == (Tier.MUNICIPAL, "municipal-other")
    # admission, the escalation, the reassignment's check: all by the pinned version
    assert stand_ins.directory_versions == ["dir-2026.1"] * 3


async def test_a_dispatcher_reassigns_only_inside_its_region(ts_worker, stand_ins) -> None:
    env, queue = ts_worker
    stand_ins.extra_institutions.append(
        Institution(id="municipal-far", name="far", tier=Tier.MUNICIPAL, division_code="330200")
    )
    handle = await submit(env, queue, make_request(division_code="330106"))
    county = (await view(handle)).summary.institution_id
    await act(handle, action(ActionKind.ESCALATE, caseworker(county), text="需市级统筹"))
    dispatcher = supervisor(Tier.MUNICIPAL, "330100").model_copy(update={"role": Role.DISPATCHER})
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await act(
            handle,
            action(ActionKind.REASSIGN, dispatcher, institution_id="municipal-far", text="x"),
        )
    assert "lies outside your region 3301" in str(refused.value.cause)
