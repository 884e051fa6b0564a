"""The lifecycle workflow on the real time-skipping server: states, clocks, escalation."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from schemas.domain import ClockKind, Role, State, Tier
from schemas.lifecycle import ActionKind, ActionRequest, Institution, RequestView, WorkflowState
from schemas.request import Actor, RequestInput
from tests.utils.eventually import eventually
from tests.utils.factories import (
    ENTERPRISE,
    WORKED_AND_RESOLVED,
    action,
    caseworker,
    enterprise_uscc,
    make_request,
    supervisor,
    system_client,
)
from tests.workflows.harness import StandIns
from tierflow.constants import workflow_id
from workflows.business_time import add_business_seconds, business_seconds_between
from workflows.service_request import ServiceRequestWorkflow
from workflows.views import offered_to

CST = "+08:00"


async def start(env: WorkflowEnvironment, queue: str, req: RequestInput) -> WorkflowHandle:
    """Start the request's workflow; return at once."""
    return await env.client.start_workflow(
        ServiceRequestWorkflow.run,
        WorkflowState(request=req, search_attributes=False),
        id=workflow_id(req.request_id),
        task_queue=queue,
    )


async def submit(env: WorkflowEnvironment, queue: str, req: RequestInput) -> WorkflowHandle:
    """Start the request's workflow; return once it is assigned (or rejected)."""
    handle = await start(env, queue, req)
    await wait_for_state(handle, {State.ASSIGNED, State.REJECTED})
    return handle


async def view(handle: WorkflowHandle) -> RequestView:
    return await handle.query(ServiceRequestWorkflow.view)


async def wait_for_state(handle: WorkflowHandle, states: set[State]) -> RequestView:
    async def reached() -> RequestView | None:
        current = await view(handle)
        return current if current.summary.state in states else None

    return await eventually(reached, timeout=10, what=f"a state in {sorted(states)}")


async def act(handle: WorkflowHandle, request: ActionRequest):
    return await handle.execute_update(ServiceRequestWorkflow.act, request, id=request.action_id)


async def sleep_until(env: WorkflowEnvironment, moment: datetime) -> None:
    """Skip time to ``moment`` or just after: the server's clock counts whole milliseconds,
    while a time the workflow took after a local activity can carry microseconds."""
    now = await env.get_current_time()
    spare = moment.microsecond % 1000
    if spare:
        moment += timedelta(microseconds=1000 - spare)
    if moment > now:
        await env.sleep(moment - now)


async def test_happy_path_from_submission_to_auto_close(ts_worker, stand_ins: StandIns) -> None:
    env, queue = ts_worker
    req = make_request()
    handle = await submit(env, queue, req)
    state = await view(handle)
    county = state.summary.institution_id
    assert state.summary.tier is Tier.COUNTY and county == "county-330106"
    cw = caseworker(county)

    assert (await act(handle, action(ActionKind.ACKNOWLEDGE, cw))).state is State.ACKNOWLEDGED
    assert (await act(handle, action(ActionKind.START, cw))).state is State.IN_PROGRESS
    assert (await act(handle, action(ActionKind.COMMENT, cw, text="Called the CFO"))).state is (
        State.IN_PROGRESS
    )
    resolved = await act(handle, action(ActionKind.RESOLVE, cw, text="Loan matched with bank"))
    assert resolved.state is State.RESOLVED
    rated = await act(handle, action(ActionKind.RATE, ENTERPRISE, rating=5))
    assert rated.state is State.RESOLVED

    summary = await handle.result()  # time skips past the reopen window
    assert summary.state is State.CLOSED
    events = stand_ins.events(req.request_id)
    assert events == [*WORKED_AND_RESOLVED, "rated", "closed"]
    ids = [r.event_id for r in stand_ins.persisted if r.request_id == req.request_id]
    assert ids == [f"{req.request_id}:{n}" for n in range(1, 9)]
    assert [r.event_id for r in stand_ins.published] == ids  # published in order, once each
    assert stand_ins.persisted[0].request == req  # the submitted event carries the request


async def test_response_breaches_climb_every_tier_then_alert(ts_worker, stand_ins) -> None:
    env, queue = ts_worker
    req = make_request()
    handle = await submit(env, queue, req)
    await env.sleep(timedelta(days=14))  # nobody answers anywhere
    state = await view(handle)
    assert state.summary.tier is Tier.NATIONAL
    assert state.summary.escalation_count == 3
    escalations = stand_ins.of_type(req.request_id, "escalated")
    assert [(e.from_tier, e.to_tier) for e in escalations] == [
        (Tier.COUNTY, Tier.MUNICIPAL),
        (Tier.MUNICIPAL, Tier.PROVINCIAL),
        (Tier.PROVINCIAL, Tier.NATIONAL),
    ]
    assert all(e.reason == "sla_breach:response" for e in escalations)
    breaches = stand_ins.of_type(req.request_id, "sla_breached")
    assert [b.to_tier for b in breaches][:4] == list(Tier)
    alerts = stand_ins.of_type(req.request_id, "supervisor_alert")
    assert alerts and alerts[0].to_tier is Tier.NATIONAL
    # the alert at the top says why as the escalations did
    why = {"cause": "sla_breach", "reason_code": "sla_breach", "clock": "response"}
    assert alerts[0].details == why and why.items() <= escalations[-1].details.items()
    # each tier's hold records who held it and that its response SLA was missed
    assert [h.tier for h in state.holds] == list(Tier)
    assert all(h.response_breached for h in state.holds)
    # warnings at 50 % and 80 % at the county, at the instants business time predicts
    cal = stand_ins.policy.calendar
    (assigned,) = stand_ins.of_type(req.request_id, "assigned")
    assigned_at = assigned.occurred_at
    # a replay (what-if) pins the grade the admission applied, not the registry's later say
    assert assigned.details["grade_applied"] == stand_ins.policy.grade_applied
    target = stand_ins.policy.targets[Tier.COUNTY].response_seconds
    county_warnings = [
        w
        for w in stand_ins.of_type(req.request_id, "sla_warning")
        if w.to_tier is Tier.COUNTY and w.details["clock"] == "response"
    ]
    assert [w.details["threshold"] for w in county_warnings] == [0.5, 0.8]
    for warning in county_warnings:
        expected = add_business_seconds(
            assigned_at, int(target * warning.details["threshold"]), cal
        )
        assert abs((warning.occurred_at - expected).total_seconds()) < 2
    breach_at = breaches[0].occurred_at
    assert abs((breach_at - add_business_seconds(assigned_at, target, cal)).total_seconds()) < 2


async def test_missing_tier_is_skipped_on_escalation(ts_worker, stand_ins) -> None:
    env, queue = ts_worker
    stand_ins.tiers_without_institution.add(Tier.MUNICIPAL)
    handle = await submit(env, queue, make_request())
    county = (await view(handle)).summary.institution_id
    result = await act(handle, action(ActionKind.ESCALATE, caseworker(county), text="Beyond us"))
    assert result.tier is Tier.PROVINCIAL and result.state is State.ASSIGNED


async def test_pause_resumes_with_exact_remaining_time(ts_worker, stand_ins) -> None:
    env, queue = ts_worker
    handle = await submit(env, queue, make_request())
    cw = caseworker((await view(handle)).summary.institution_id)
    await act(handle, action(ActionKind.ACKNOWLEDGE, cw))
    await env.sleep(timedelta(hours=2))
    await act(handle, action(ActionKind.REQUEST_INFO, cw, text="Please send the balance sheet"))
    paused = await view(handle)
    resolution = next(c for c in paused.clocks if c.kind is ClockKind.RESOLUTION)
    assert paused.summary.state is State.AWAITING_ENTERPRISE
    assert resolution.running_since is None and resolution.deadline is None
    used = resolution.consumed_seconds

    await env.sleep(timedelta(days=20))  # far beyond the target: a paused clock cannot breach
    assert not stand_ins.of_type((await view(handle)).summary.request_id, "sla_breached")
    resumed = await act(handle, action(ActionKind.PROVIDE_INFO, ENTERPRISE, text="Attached"))
    assert resumed.state is State.IN_PROGRESS
    after = await view(handle)
    clock = next(c for c in after.clocks if c.kind is ClockKind.RESOLUTION)
    cal = stand_ins.policy.calendar
    assert clock.deadline == add_business_seconds(
        clock.running_since, clock.target_seconds - used, cal
    )
    assert after.holds[-1].paused_seconds > 0


async def test_reopen_inside_window_then_auto_close(ts_worker, stand_ins) -> None:
    env, queue = ts_worker
    req = make_request()
    handle = await submit(env, queue, req)
    cw = caseworker((await view(handle)).summary.institution_id)
    for kind in (ActionKind.ACKNOWLEDGE, ActionKind.START):
        await act(handle, action(kind, cw))
    await act(handle, action(ActionKind.RESOLVE, cw, text="Done"))
    await env.sleep(timedelta(hours=1))
    crm = system_client("crm", "reopen")
    reopened = await act(handle, action(ActionKind.REOPEN, crm, text="The bank withdrew"))
    assert reopened.state is State.IN_PROGRESS and reopened.tier is Tier.COUNTY
    await act(handle, action(ActionKind.RESOLVE, cw, text="Another bank"))
    concluded = await view(handle)
    resolved_at = concluded.summary.resolved_at
    # the conclusion's event says when the request closes (a portal shows it)
    last = stand_ins.of_type(req.request_id, "resolved")[-1]
    assert concluded.close_due_at is not None
    assert last.details["close_due_at"] == concluded.close_due_at.isoformat()
    summary = await handle.result()
    assert summary.state is State.CLOSED
    closed = stand_ins.of_type(req.request_id, "closed")[0]
    window = stand_ins.policy.reopen_window_seconds
    assert business_seconds_between(resolved_at, closed.occurred_at, stand_ins.policy.calendar) in (
        window,
        window + 1,
    )


@pytest.mark.parametrize(
    ("kind", "actor_is_enterprise", "final"),
    [(ActionKind.WITHDRAW, True, State.WITHDRAWN), (ActionKind.REJECT, False, State.REJECTED)],
)
async def test_withdraw_and_reject_end_the_request(
    ts_worker, stand_ins, kind, actor_is_enterprise, final
) -> None:
    env, queue = ts_worker
    handle = await submit(env, queue, make_request())
    cw = caseworker((await view(handle)).summary.institution_id)
    actor = ENTERPRISE if actor_is_enterprise else cw
    result = await act(handle, action(kind, actor, text="Out of scope"))
    assert result.state is final
    summary = await handle.result()
    assert summary.state is final


async def test_invalid_transitions_are_refused_and_change_nothing(ts_worker, stand_ins) -> None:
    env, queue = ts_worker
    req = make_request()
    handle = await submit(env, queue, req)
    before = await view(handle)
    cw = caseworker(before.summary.institution_id)
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await act(handle, action(ActionKind.RESOLVE, cw, text="too early"))
    cause = refused.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "InvalidTransition"
    assert "cannot resolve a request in state assigned" in cause.message
    with pytest.raises(WorkflowUpdateFailedError) as forbidden:
        await act(handle, action(ActionKind.ACKNOWLEDGE, caseworker("county-999999")))
    assert forbidden.value.cause.type == "Forbidden"
    with pytest.raises(WorkflowUpdateFailedError):
        await act(handle, action(ActionKind.HAND_BACK, cw, text="lower"))  # county is lowest
    after = await view(handle)
    assert after.timeline == before.timeline and after.summary.state is State.ASSIGNED


async def test_the_workflow_refuses_role_scope_and_grant_violations_from_any_caller(
    ts_worker, stand_ins
) -> None:
    """A direct Temporal client bypasses the API and the ingress: the workflow alone refuses
    an enterprise acknowledging, a system client without the grant, a supervisor below the
    holding tier or outside its region; the allowed ones go through."""
    env, queue = ts_worker
    handle = await submit(env, queue, make_request(division_code="330106"))
    held = (await view(handle)).summary.institution_id
    assert held is not None
    await act(handle, action(ActionKind.ESCALATE, caseworker(held), text="需市级统筹"))
    before = await view(handle)
    assert before.summary.tier is Tier.MUNICIPAL
    another = Actor(id=enterprise_uscc("330110"), role=Role.ENTERPRISE)
    refused = {
        "enterprise acknowledges": action(ActionKind.ACKNOWLEDGE, ENTERPRISE),
        "client without the grant": action(ActionKind.ACKNOWLEDGE, system_client("crm", "comment")),
        "county supervisor, municipal request": action(
            ActionKind.COMMENT, supervisor(Tier.COUNTY, "330106"), text="x"
        ),
        "supervisor of another province": action(
            ActionKind.COMMENT, supervisor(Tier.PROVINCIAL, "320000"), text="x"
        ),
        # an enterprise acts by its USCC on its own requests: not another's, nor by a name
        "another enterprise comments": action(ActionKind.COMMENT, another, text="x"),
        "another enterprise withdraws": action(ActionKind.WITHDRAW, another),
        "an enterprise by a name": action(
            ActionKind.COMMENT, Actor(id="ent-portal", role=Role.ENTERPRISE), text="x"
        ),
    }
    for name, attempt in refused.items():
        with pytest.raises(WorkflowUpdateFailedError) as forbidden:
            await act(handle, attempt)
        assert forbidden.value.cause.type == "Forbidden", name
    assert "this request is another enterprise's" in forbidden.value.cause.message
    assert (await view(handle)).timeline == before.timeline  # nothing happened
    await act(handle, action(ActionKind.COMMENT, supervisor(Tier.MUNICIPAL, "330100"), text="y"))
    await act(handle, action(ActionKind.COMMENT, system_client("crm", "comment"), text="z"))
    await act(handle, action(ActionKind.COMMENT, ENTERPRISE, text="its own"))
    assert len((await view(handle)).timeline) == len(before.timeline) + 3


async def test_duplicate_action_id_returns_first_answer(ts_worker, stand_ins) -> None:
    env, queue = ts_worker
    req = make_request()
    handle = await submit(env, queue, req)
    cw = caseworker((await view(handle)).summary.institution_id)
    ack = action(ActionKind.ACKNOWLEDGE, cw)
    first = await act(handle, ack)
    # a redelivered command gets a new update id but carries the same action id
    again = await handle.execute_update(ServiceRequestWorkflow.act, ack, id="other-update-id")
    assert again.duplicate and again.event_ids == first.event_ids
    assert stand_ins.events(req.request_id).count("acknowledged") == 1
    # another action reusing the id is refused, not answered with the first one's result
    other = action(ActionKind.COMMENT, cw, text="已联系").model_copy(
        update={"action_id": ack.action_id}
    )
    with pytest.raises(WorkflowUpdateFailedError) as reused:
        await handle.execute_update(ServiceRequestWorkflow.act, other, id="third-update-id")
    assert reused.value.cause.type == "IdempotencyConflict"
    assert f"action id {ack.action_id!r} was used on this request" in reused.value.cause.message
    assert "commented" not in stand_ins.events(req.request_id)


async def test_friday_evening_before_a_holiday_gets_business_deadline(ts_worker, stand_ins):
    env, queue = ts_worker
    # Friday 2027-04-02 18:00 in Shanghai; Monday 2027-04-05 is the Qingming holiday.
    await sleep_until(env, datetime.fromisoformat(f"2027-04-02T18:00:00{CST}"))
    handle = await submit(env, queue, make_request())
    clocks = {c.kind: c for c in (await view(handle)).clocks}
    # 4 business hours: Tuesday 09:00-12:00, then 13:30-14:30.
    expected = datetime.fromisoformat(f"2027-04-06T14:30:00{CST}")
    assert clocks[ClockKind.RESPONSE].deadline == expected


async def test_hand_back_and_reassign_keep_per_tier_records(ts_worker, stand_ins) -> None:
    env, queue = ts_worker
    req = make_request()
    handle = await submit(env, queue, req)
    county = (await view(handle)).summary.institution_id
    up = await act(handle, action(ActionKind.ESCALATE, caseworker(county), text="Needs the city"))
    assert up.tier is Tier.MUNICIPAL
    lead = supervisor(Tier.MUNICIPAL, req.enterprise.division_code, up.institution_id)
    city = lead.model_copy(update={"id": "desk-3301", "role": Role.DISPATCHER})
    other = Institution(
        id="municipal-other",
        name="市中小企业服务中心二部",
        tier=Tier.MUNICIPAL,
        division_code="330100",
    )
    stand_ins.extra_institutions.append(other)
    for target, why in [
        ("municipal-ghost", "institution_id: municipal-ghost is not in the directory"),
        ("county-330106", "is a county institution; the request is at the municipal tier"),
    ]:
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await act(handle, action(ActionKind.REASSIGN, city, institution_id=target, text="x"))
        assert why in str(refused.value.cause)
    far = Institution(id="municipal-far", name="far", tier=Tier.MUNICIPAL, division_code="330200")
    stand_ins.extra_institutions.append(far)
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await act(handle, action(ActionKind.REASSIGN, city, institution_id=far.id, text="x"))
    assert "lies outside your region 3301" in str(refused.value.cause)
    # the unit's own lead returns it (退单); its desk or a tier above reassigns (改派)
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await act(handle, action(ActionKind.REASSIGN, lead, institution_id=other.id, text="x"))
    assert "may not reassign a request" in str(refused.value.cause)
    assert ActionKind.REASSIGN not in offered_to(await view(handle), lead)
    assert ActionKind.REASSIGN in offered_to(await view(handle), city)
    moved = await act(
        handle,
        action(
            ActionKind.REASSIGN, city, institution_id="municipal-other", text="Their financing desk"
        ),
    )
    assert moved.tier is Tier.MUNICIPAL and moved.institution_id == "municipal-other"
    back = await act(
        handle,
        action(ActionKind.HAND_BACK, caseworker("municipal-other"), text="County can handle it"),
    )
    assert back.tier is Tier.COUNTY and back.institution_id == county
    holds = (await view(handle)).holds
    assert [(h.tier, h.institution_id, h.left_by) for h in holds] == [
        (Tier.COUNTY, county, "escalated"),
        (Tier.MUNICIPAL, up.institution_id, "reassigned"),
        (Tier.MUNICIPAL, "municipal-other", "handed_back"),
        (Tier.COUNTY, county, None),
    ]
    crm = system_client("crm", "external_status")
    note = await act(handle, action(ActionKind.EXTERNAL_STATUS, crm, text="Bank visit booked"))
    assert note.state is State.ASSIGNED
    assert stand_ins.events(req.request_id)[-4:] == [
        "escalated",
        "reassigned",
        "handed_back",
        "external_status",
    ]


async def test_a_request_no_unit_serves_is_rejected_saying_so(ts_worker, stand_ins) -> None:
    """No tier of the directory has a unit for it: the engine rejects it, and its record says
    why (``cause`` ``unroutable``), for the notifier to tell the region's supervisors."""
    env, queue = ts_worker
    stand_ins.tiers_without_institution |= set(Tier)
    req = make_request()
    handle = await submit(env, queue, req)
    summary = await handle.result()
    assert summary.state is State.REJECTED
    (rejected,) = [r for r in stand_ins.persisted if r.event_type.value == "rejected"]
    assert rejected.details == {"cause": "unroutable"} and rejected.actor.id == "tierflow"
