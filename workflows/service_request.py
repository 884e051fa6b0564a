"""ServiceRequestWorkflow: one enterprise service request from submission to closure."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import SearchAttributeUpdate
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from schemas import engine_reasons as reasons
    from schemas import permissions
    from schemas.chased import part_clock
    from schemas.domain import ClockKind, Role, State, Tier
    from schemas.lifecycle import (
        FIELD_REASON,
        OPERATOR_ACTIONS,
        OWN_CALENDAR,
        WORKFLOW_TYPE,
        ActionKind,
        ActionRequest,
        ActionResult,
        Admission,
        AdmitRequest,
        CalendarUpdate,
        EscalationReason,
        EventType,
        FollowUpOutcome,
        HandlerAnswer,
        HandlerCheck,
        Institution,
        OperatorHold,
        RatingStage,
        RequestSummary,
        RequestView,
        RouteRequest,
        SlaClock,
        TargetAnswer,
        TargetCheck,
        WorkflowState,
        missing_field,
    )
    from schemas.messages import N_, Said
    from schemas.policy import (
        BreachAction,
        PinnedPolicy,
        PolicyRequest,
        SignForBreach,
        WaitExpiry,
        engine_rules,
    )
    from schemas.request import SYSTEM_ACTOR, Actor
    from workflows import (
        applications,
        calendar_change,
        chasing,
        clocks,
        follow_up,
        handlers,
        jurisdiction,
        parts,
        pauses,
        records,
        rectification,
        rules,
        sla,
        views,
    )
    from workflows.activity_calls import OneAtATime, Outbox, StepFailed, lookup
    from workflows.business_time import business_seconds_between
    from workflows.refusals import refused, reused_id
    from workflows.versions import Versions

# Moves by which a tier above sends the request to the unit it names (改派, an approved 退单)
SENT_BY_DECISION = frozenset({EventType.REASSIGNED, EventType.RETURN_APPROVED})
IDLE_WAIT = timedelta(days=30)  # longest sleep when nothing is due; keeps every wait timed
# A deadline fired within this of its instant has its events at the deadline (a timer fires a
# little late); fired later (the engine was down), they occur when it fires, as they always did.
ON_TIME = timedelta(minutes=1)
STEPS_AT_ONCE = 4 * len(Tier) + 8  # deadlines one _fire_due takes in turn at most
# An action handled after a deadline passed (e.g. after a worker outage) first records the breach.
LATE_ACTION_PATCH = "breach-before-late-action"
# A reassignment's target is checked against the directory (runs before it took the id as given).
REASSIGN_TARGET_PATCH = "reassign-target-check"
# An appeal filed under a policy with appeal_decision_days gets a decision deadline, and a
# timer that reminds the supervisors when it passes undecided (runs before: no deadline).
APPEAL_DECISION_PATCH = "appeal-decision-deadline"
# An action accepted while the request was being routed meets the unit-step rule once its
# holder is known (the validator could not know it). Taken only when the rule refuses, so a
# marker is recorded then alone; runs that accepted such an action before replay as they were.
UNIT_STEP_AFTER_ROUTING_PATCH = "unit-step-after-routing"
# A caseworker (or a unit's lead) records the enterprise's materials (provide_info). One that
# the validator accepted while the request was being routed was refused once routed, before
# this: runs that refused one replay as they were. Taken only on that path.
STAFF_RECORDS_INFO_PATCH = "staff-records-enterprise-info"
# Two actions sharing an id, let in together before either was answered: the second is
# refused as the validator refuses it later (before, it got the first's answer as a repeat).
REUSED_ID_PATCH = "reused-id-refused-in-handler"
# 重办 (a reopen) goes back to the unit's handler, signed for already: runs from before opened
# the redo's hold without either, so the request left its handler's list (mine) and showed as
# waiting to be signed for, which no one could do.
REOPEN_KEEPS_HANDLER_PATCH = "reopen-keeps-handler"
# A missed resolution deadline the request stays at (in place, or at the top tier) lapses a
# pending extension or suspension, as a move does; before, they waited for ever.
BREACH_LAPSES_PATCH = "breach-lapses-applications"
# The dispatch desk records a withdrawal the enterprise asked for (撤单); likewise.
DESK_RECORDS_WITHDRAWAL_PATCH = "desk-records-withdrawal"
# The dispatch desk decides extensions (延期审批), as the network's rules say; likewise.
DESK_DECIDES_EXTENSIONS_PATCH = "desk-decides-extensions"
# A reply to 督办 answers the oldest supervision of the replying unit (a late part's
# co-handler has its own); before, the oldest of any unit.
REPLY_OF_OWN_UNIT_PATCH = "reply-of-own-unit"
# The handler judges an action again by the validator's later rules (the unit's own steps,
# 督办 by a higher tier, redo limits) on the state it applies it to; before, only by the rules
# of _check, so an action validated before an earlier one moved the request went through.
LATER_RULES_RECHECKED_PATCH = "later-rules-rechecked"
# 督办 by hand while another waits for the unit's reply is refused: by the validator, and by
# the handler when steps taken since opened one (its own patch, taken only when it refuses,
# so runs that applied such an action before replay as they were).
ONE_SUPERVISION_PATCH = "one-supervision-at-a-time"
# A written reply after the reprimand (通报) for none is recorded (it was refused before): the
# handler answers the reprimanded supervision only where this marker is (requests replayed
# from before it had no such reply)
LATE_REPLY_PATCH = "late-supervision-reply"
# The newer rules (_newer_rules_refusal): checked by the validator, and by the handler when
# steps taken since changed the state (its own patch, taken only when it refuses)
DECIDED_ABOVE_PATCH = "decided-above-the-unit"
# 改派 and 提级 are a tier above's (the holding unit's own lead returns the request, and
# escalates it; the unit moves it, 提级 or 交回, only once it answered its 督办), 指派承办人
# the unit's own lead's: checked like the newer rules, the handler's recheck behind this
# marker
OVERSIGHT_PATCH = "moved-from-above"
# 整改 and 申诉 while a 重办 handles the request again, and a bad rating's call back after the
# close, are allowed since this patch (taken only where the states before would refuse them)
WIDER_STATES_PATCH = "rectification-and-call-back-in-more-states"
# the states those steps were allowed in before
STATES_BEFORE = {
    ActionKind.CONCLUDE_RECTIFICATION: frozenset({State.RESOLVED, State.CLOSED}),
    ActionKind.APPEAL_RATING: frozenset({State.RESOLVED, State.CLOSED}),
    ActionKind.UPHOLD_APPEAL: frozenset({State.RESOLVED, State.CLOSED}),
    ActionKind.REJECT_APPEAL: frozenset({State.RESOLVED, State.CLOSED}),
    ActionKind.FOLLOW_UP: frozenset({State.RESOLVED}),
}
NO_SUPERVISION_WAITS = N_("cannot reply: no supervision waits for a reply")
NO_CALL_BACK = N_("cannot follow up: the request is closed and no bad rating waits for a call back")
# A published calendar moves every pending deadline (a suspension's end, the chasing rungs,
# a reply deadline, parts, the follow-up, the windows, a rectification's); before, the
# running clocks alone.
CALENDAR_MOVES_DEADLINES_PATCH = "calendar-moves-deadlines"
# A 挂起 asked before a 退单 was approved while the 退单 waited, which left the return waiting
# in a state where it could not be decided, and a reassignment let the return lapse uncounted;
# both refused since, by validator and handler (a run that took one replays as it was)
RETURN_FIRST_PATCH = "suspension-approved-after-return"
# A follow-up desk recorded the 回访 of its own unit's conclusion; refused since, by validator
# and handler (a run that recorded one replays as it was)
OWN_FOLLOW_UP_PATCH = "follow-up-not-of-own-unit"
# The rated unit's 整改 and 申诉 were in the holding unit's scope only; they are the rated
# unit's wherever the request is since. A step the validator accepted while the unit held the
# request, then refused by the handler because it had moved, is refused so where the run
# predates this
RATED_UNIT_SCOPE_PATCH = "rated-unit-rectifies-anywhere"
# Who may take an action kind since a patch, and the patch: one such action the validator
# accepted while the request was being routed was refused, by its role, in runs from before.
GRANTED_SINCE = {
    ActionKind.PROVIDE_INFO: ((Role.CASEWORKER, Role.SUPERVISOR), STAFF_RECORDS_INFO_PATCH),
    ActionKind.WITHDRAW: ((Role.DISPATCHER,), DESK_RECORDS_WITHDRAWAL_PATCH),
    ActionKind.APPROVE_EXTENSION: ((Role.DISPATCHER,), DESK_DECIDES_EXTENSIONS_PATCH),
    ActionKind.REFUSE_EXTENSION: ((Role.DISPATCHER,), DESK_DECIDES_EXTENSIONS_PATCH),
}


@workflow.defn(name=WORKFLOW_TYPE)
class ServiceRequestWorkflow:
    """The lifecycle of one request: routing, SLA clocks, escalation, closure.

    Update ``act(ActionRequest) -> ActionResult``: every caseworker, enterprise and system
    action (validated before it enters history; a repeated ``action_id`` returns the first
    answer). Update ``publish_calendar(CalendarUpdate) -> str``: an admin hands over a newer
    business calendar; running clocks are re-timed on it. Query ``view() -> RequestView``:
    state, clocks, tier holds, timeline.
    A step whose activity fails permanently holds the request for an operator (``operator``,
    ``operator_needed``); SLA clocks keep firing; an admin's operator_retry / operator_resolve
    ends the hold.
    """

    takes_patches = False  # see workflows/versions.py
    keeps_later_timers = True
    one_local_activity_at_a_time = True  # see workflows/activity_calls.OneAtATime
    admits_at_start = True  # see _admission_instant
    latches_continue_suggestion = True  # see _note_suggestion

    @workflow.init
    def __init__(self, state: WorkflowState) -> None:
        self.case = state  # the request as this workflow knows it; carried across continue-as-new
        self._versions = Versions(
            patches=self.takes_patches, keeps_later_timers=self.keeps_later_timers
        )
        self._one = OneAtATime(on=self.one_local_activity_at_a_time)
        self._outbox = Outbox(persisted=state.sequence, versions=self._versions, one=self._one)
        self._lock = asyncio.Lock()
        self._upserted: list[SearchAttributeUpdate] | None = None  # a lean run's last upsert
        self._alarm: asyncio.Task[None] | None = None  # a lean run's timer, kept across waits
        self._alarm_due: datetime | None = None  # the deadline it is set for (None: idle)
        # a V3 run's timers by deadline (None: idle), each with the instant it fires
        self._alarms: dict[datetime | None, tuple[datetime, asyncio.Task[None]]] = {}
        self._step_at: datetime | None = None  # the instant the current step reads
        self._suggested = False  # the server suggested continue-as-new (see _note_suggestion)

    # ------------------------------------------------------------------ run loop
    @workflow.run
    async def run(self, state: WorkflowState) -> RequestSummary:
        self._versions.start()
        if self.case.policy is None and self.case.operator is None:
            await self._admit(self._admission_instant())
            if self._versions.lean:
                # actions that waited for the routing apply first: one batch records them all
                await workflow.wait_condition(lambda: True)
        while not self.case.state.is_terminal:
            await self._drain_outbox()
            if self._continue_suggested() and not self._outbox.blocked:
                await self._settle()
                workflow.continue_as_new(self.case)
            if self._retry_requested():
                await self._redo()
                continue
            if self._overdue():
                async with self._lock:  # a deadline passed while draining: no timer round trip
                    await self._fire_due()
                if self._outbox:
                    continue
            await self._wait_for_work()
            async with self._lock:
                await self._fire_due()
        await self._rating_window()
        await self._after_close()
        await self._settle()
        return self._summary()

    async def _after_close(self) -> None:
        """Stay while a bad rating's rectification or appeal, or a supervision, is open.

        Only policies pinned with rectification open one, and only runs that were supervised
        have a supervision; older requests end as they did.
        """
        while self._open_after_close():
            await self._drain_outbox()
            self._cancel_timers(until=workflow.now() + self._time_to_next_due())
            try:
                await workflow.wait_condition(
                    lambda: self._outbox.ready or not self._open_after_close(),
                    timeout=self._time_to_next_due(),
                    timeout_summary="rectification",
                )
            except TimeoutError:
                pass
            async with self._lock:
                now = workflow.now()
                due = sla.next_due(self.case)
                at = self._when_due(due, now) if due is not None and due <= now else now
                with self._step(at):
                    self._fire_rectification(self._now())

    async def _rating_window(self) -> None:
        """After an automatic close, stay open until the enterprise rates or the window ends.

        Only policies pinned with a rating window set ``rating_due_at``; older requests end at
        the close as they did, so their histories replay unchanged.
        """
        while self._rating_open():
            await self._drain_outbox()
            due = self.case.rating_due_at
            assert due is not None
            self._cancel_timers(until=due)
            try:
                await workflow.wait_condition(
                    lambda: self._outbox.ready or self.case.rating is not None,
                    timeout=max(due - workflow.now(), timedelta(milliseconds=1)),
                    timeout_summary="rating window",
                )
            except TimeoutError:
                pass

    def _open_after_close(self) -> bool:
        return (
            rectification.active(self.case)
            or chasing.awaiting_reply(self.case) is not None
            or (self.case.calling_back and not self.case.followed_up)  # 差评回访 (pinned)
        )

    def _rating_open(self) -> bool:
        """Whether a closed request still takes a rating now."""
        due = self.case.rating_due_at
        return (
            self.case.state is State.CLOSED
            and self.case.rating is None
            and due is not None
            and workflow.now() < due
        )

    async def _settle(self) -> None:
        """Drain the outbox until every handler has finished (they wait on persistence).

        A blocked outbox waits here for an operator: its records are not carried across
        continue-as-new.
        """
        while True:
            await self._drain_outbox()
            if workflow.all_handlers_finished() and not self._outbox:
                return
            await workflow.wait_condition(
                lambda: (
                    self._outbox.ready or (workflow.all_handlers_finished() and not self._outbox)
                )
            )

    def _admission_instant(self) -> datetime | None:
        """The instant a new request is admitted on: the run's start, as its history holds it
        (runs of ``ServiceRequestV4`` and before: None, their first task's instant).

        The first task's instant is not the one a replay reads when the SDK completed that
        task empty while the admission's lookup ran (to renew it, or to answer a query that
        came with it): the replay runs the admission at the next task's instant, its clocks
        start later, and the first deadline's step finds nothing due (a nondeterminism error).
        """
        return workflow.info().workflow_start_time if self.admits_at_start else None

    async def _admit(self, at: datetime | None = None) -> None:
        """Pin the SLA policy, record the submission and route to the first tier (on ``at``,
        else now: an operator's retry admits when it is asked)."""
        with self._step(at):  # one instant, whatever its local activities take
            now = self._now()
            req = self.case.request
            failed: StepFailed | None = None
            first: Admission | None = None  # a lean run pins and routes the first tier at once
            try:
                if self.case.policy is None:  # an operator's retry after routing failed skips it
                    first = await self._pin_policy(now)
            except StepFailed as exc:
                failed = exc
            if self.case.sequence == 0:
                self._emit(EventType.SUBMITTED, req.submitted_by, to_state=State.SUBMITTED)
            if failed is not None:
                self._hold(failed, redo="admit")
                return
            async with self._lock:
                try:
                    found = await self._first_route(first)
                except StepFailed as exc:
                    self._hold(exc, redo="admit")
                    return
                if found is None:
                    self._finish_unroutable()
                    return
                tier, institution = found
                pinned: dict[str, object] = {  # a replay (what-if) pins them so
                    "engine_rules": engine_rules(self._policy),
                    "grade_applied": self._policy.grade_applied,
                    "calendar_version": self._policy.calendar.version,
                }
                self._move(
                    tier, institution, EventType.ASSIGNED, SYSTEM_ACTOR, None, None, details=pinned
                )

    async def _pin_policy(self, now: datetime) -> Admission | None:
        """Pin the SLA policy and calendar of the request (load_policy).

        A lean run routes the first tier in the same call (admit_request) and returns that.
        """
        req = self.case.request
        claimed = req.submitted_at
        # Shown as the client sent it (the edge bounds it); a time without a zone, accepted
        # before the edge refused those, means nothing: the workflow start instead.
        self.case.submitted_at = claimed if claimed and claimed.utcoffset() is not None else now
        asked = PolicyRequest(
            category=req.category,
            priority=req.priority,
            grade=req.enterprise.grade,
            uscc=req.enterprise.uscc,
            division_code=req.enterprise.division_code,
            # The workflow's own clock picks the calendar's years, never the client's
            # time. Replay reuses the recorded result, so no patch is needed.
            submitted_at=now,
        )
        if not self._versions.lean:
            self.case.policy = await lookup("load_policy", asked, PinnedPolicy, self._one)
            return None
        route = RouteRequest(
            division_code=self._division(Tier.COUNTY), category=req.category, tier=Tier.COUNTY
        )
        try:
            admission: Admission = await lookup(
                "admit_request", AdmitRequest(policy=asked, route=route), Admission, self._one
            )
        except StepFailed as exc:  # only the policy fails it: the routing answers as data
            raise StepFailed("load_policy", exc.failure, exc.event_ids) from None
        self.case.policy = admission.policy
        return admission

    async def _first_route(self, first: Admission | None) -> tuple[Tier, Institution] | None:
        """Route from the first tier up; a lean admission has asked the first tier already."""
        if first is None:
            return await self._route(Tier.COUNTY, upward=True)
        if first.route_error is not None:
            failure = ApplicationError(
                first.route_error, type=first.route_error_type, non_retryable=True
            )
            raise StepFailed("resolve_institution", failure, [])
        if first.institution is not None:
            return Tier.COUNTY, first.institution
        above = Tier.COUNTY.next_up()
        return await self._route(above, upward=True) if above is not None else None

    # ------------------------------------------------------------------ update
    @workflow.update
    async def act(self, action: ActionRequest) -> ActionResult:
        self._note_suggestion()
        judged_at = self.case.sequence  # the state the validator judged the action on
        if action.action_id in self.case.results:
            return self._repeat(action)
        routing = self.case.state is State.SUBMITTED  # validated before the holder was known
        await workflow.wait_condition(
            lambda: self.case.state is not State.SUBMITTED or self.case.operator is not None
        )
        async with self._locked():
            if action.action_id in self.case.results:
                return self._repeat(action)
            if self._overdue() and self._versions.taken(LATE_ACTION_PATCH):
                await self._fire_overdue()  # the breach and its escalation come first
            self._check_operator(action)
            if routing:
                self._check_granted_since(action)
            self._check(action)
            self._check_wider_states(action)
            self._check_rated_unit_scope(action)
            if routing:
                self._check_unit_step(action)
            if self.case.sequence != judged_at:  # steps were taken since: judge it again
                self._recheck_later_rules(action)
            first = self.case.sequence + 1
            await self._apply(action)
            result = ActionResult(
                action_id=action.action_id,
                kind=action.kind,
                state=self.case.state,
                tier=self.case.tier,
                institution_id=self._institution_id,
                event_ids=[self._event_id(seq) for seq in range(first, self.case.sequence + 1)],
            )
            records.remember_result(self.case, action, result)
        last = self.case.sequence
        await workflow.wait_condition(
            lambda: self._outbox.persisted >= last or self._outbox.blocked is not None
        )
        return result

    def _repeat(self, action: ActionRequest) -> ActionResult:
        """The answer of an action id answered before: the first answer again, for a repeat.
        Another action that reused the id was let in by the validator beside the first (both
        before either was answered); it is refused here, as the validator refuses it later.
        Taken only on that path, so runs that answered it as a repeat replay as they were."""
        if records.reused_for_another(self.case, action) and workflow.patched(REUSED_ID_PATCH):
            raise self._reused(action)
        return self.case.results[action.action_id].model_copy(update={"duplicate": True})

    @staticmethod
    def _reused(action: ActionRequest) -> ApplicationError:
        return refused(reused_id(action.action_id), "IdempotencyConflict")

    @act.validator
    def _validate_act(self, action: ActionRequest) -> None:
        if action.action_id in self.case.results:
            if records.reused_for_another(self.case, action):
                raise self._reused(action)
            return
        self._check_operator(action)
        # before acceptance only: enterprises' actions accepted before this rule replay as
        # they were
        other = permissions.enterprise_refusal(action.actor, self.case.request.enterprise.uscc)
        if other:
            raise refused(other, "Forbidden")
        if self.case.state is State.SUBMITTED:
            # Not routed yet: refuse now what could not apply even once assigned, so the
            # refusal is not recorded as this update's answer (a later redelivery can apply).
            refusal = rules.transition_refusal(action, State.ASSIGNED, Tier.COUNTY, None, False)
            if refusal:
                raise refused(refusal, "InvalidTransition")
            self._check_fields(action)
            return
        self._check(action)
        self._check_fields(action)
        # The fields staff add (an administrator's withdrawal once needed no text), and the
        # rules below, are checked before acceptance, so that actions accepted before them
        # replay as they were.
        for check, _ in self._later_checks():
            if late := check(action):
                raise late

    def _later_checks(
        self,
    ) -> tuple[tuple[Callable[[ActionRequest], ApplicationError | None], str], ...]:
        """The rules added after the first runs, in order, each with the patch under which
        the handler checks it again (``_recheck_later_rules``)."""
        return (
            (self._later_rules_refusal, LATER_RULES_RECHECKED_PATCH),
            (self._repeat_supervision, ONE_SUPERVISION_PATCH),
            (self._newer_rules_refusal, DECIDED_ABOVE_PATCH),
            (self._oversight_refusal, OVERSIGHT_PATCH),
            (self._return_first, RETURN_FIRST_PATCH),
            (self._own_follow_up, OWN_FOLLOW_UP_PATCH),
        )

    def _later_rules_refusal(self, action: ActionRequest) -> ApplicationError | None:
        """Rules added after the first runs: the unit's own steps are its own (a reply to 督办
        among them), 督办 is a higher tier's, and a redo (重办) is the concluded request
        again, not a new dispatch (no return past the window from its dispatch, no intake
        rating after its conclusion). The validator checks them; the handler again, on the
        state it applies the action to (``_recheck_later_rules``)."""
        other = permissions.unit_step_refusal(action.actor, action.kind, self._institution_id)
        if action.kind is ActionKind.REPLY_SUPERVISION:
            other = other or chasing.reply_refusal(self.case.supervisions, action.actor)
        if action.kind is ActionKind.SUPERVISE:  # 督办 is a higher tier's
            other = other or chasing.supervisor_refusal(action.actor, self.case.tier)
        if other:
            return refused(other, "Forbidden")
        late = None
        if action.kind is ActionKind.RETURN:
            late = applications.redo_return_refusal(self.case, workflow.now())
        elif rules.rates_intake(action) and records.redone(self.case):
            late = Said(
                N_("cannot rate with stage intake: the request was concluded (and is redone)")
            )
        return refused(late, "InvalidTransition") if late else None

    def _recheck_later_rules(self, action: ActionRequest) -> None:
        """The validator judged the action on the state of its own workflow task; steps taken
        since (an earlier action's: a reassignment waiting on its directory check holds the
        lock across tasks; a deadline's) may have changed it, so the handler judges it again
        under the lock. Taken only when that refuses, so runs that applied such an action
        replay as they were. Not when nothing happened in between: a what-if, delivering the
        recorded actions one by one, does not judge who took them again (docs/whatif.md)."""
        for check, patch in self._later_checks():
            refusal = check(action)
            if refusal and workflow.patched(patch):
                raise refusal

    def _own_follow_up(self, action: ActionRequest) -> ApplicationError | None:
        """回访, and the rating a desk records, are the tier above's check on the unit: not
        its own desk's (``follow_up.own_unit_refusal``)."""
        own = follow_up.own_unit_refusal(
            self._institution_id, self.case.tier, action.actor, action.kind
        )
        return refused(own, "Forbidden") if own else None

    def _return_first(self, action: ActionRequest) -> ApplicationError | None:
        """A 挂起 is approved, and the request reassigned, only once the unit's waiting 退单
        is decided (``applications.return_first``)."""
        first = applications.return_first(self.case, action.kind)
        return refused(first, "InvalidTransition") if first else None

    def _newer_rules_refusal(self, action: ActionRequest) -> ApplicationError | None:
        """Rules added after the later ones: a decision (an application's, an appeal's) is a
        supervisor's above the unit, never the unit's own; and while a 退单 waits, the unit
        does not ask the enterprise or suspend (the desk could not decide it). Checked like
        the later rules, with a patch of their own."""
        kind = action.kind
        if kind in applications.ASKS or kind in applications.APPEAL_DECISIONS:
            tier, unit = rectification.decided_above(
                self.case.rectification, self.case.holds, kind, self.case.tier, self._institution_id
            )
            decider = applications.decider_refusal(action.actor, kind, tier, unit)
            if decider:
                return refused(decider, "Forbidden")
        held = applications.return_holds(self.case, kind)
        return refused(held, "InvalidTransition") if held else None

    def _oversight_refusal(self, action: ActionRequest) -> ApplicationError | None:
        """Who moves the request: a step the supervisor does not take
        (``permissions.oversight_refusal``), or the unit's own 提级 or 交回 while its 督办
        waits for its reply (``chasing.own_move_refusal``)."""
        refusal = permissions.oversight_refusal(
            action.actor, action.kind, self.case.tier, self._institution_id
        )
        if refusal:
            return refused(refusal, "Forbidden")
        pinned = self.case.policy
        owed = chasing.own_move_refusal(
            self.case.supervisions,
            action.actor,
            action.kind,
            self._institution_id,
            ends_on_move=pinned is not None and pinned.supervision_ends_on_move,
        )
        return refused(owed, "InvalidTransition") if owed else None

    def _check_rated_unit_scope(self, action: ActionRequest) -> None:
        """The rated unit's 整改 and 申诉 out of the holder's scope, which ``_check`` accepts
        since ``RATED_UNIT_SCOPE_PATCH``: the handler refuses it as before where the run
        predates the patch."""
        if not rectification.rated_units_own_step(
            self.case.rectification, action.actor, action.kind
        ):
            return
        before = self._holder_scope_refusal(action)
        if before and not workflow.patched(RATED_UNIT_SCOPE_PATCH):
            raise refused(before, "Forbidden")

    def _holder_scope_refusal(self, action: ActionRequest) -> str | None:
        """Why the actor may not take the action on the request where it is held now: role,
        grants and scope (``rules.forbidden_reason``)."""
        return rules.forbidden_reason(
            action,
            self.case.tier,
            self._institution_id,
            self.case.request.enterprise.division_code,
            records.scope_division(self.case),
        )

    def _check_wider_states(self, action: ActionRequest) -> None:
        """A step allowed in more states since ``WIDER_STATES_PATCH``: the handler refuses it
        as before where the run predates the patch (a validator let it in, then the state
        changed before the handler ran)."""
        before = STATES_BEFORE.get(action.kind)
        if before is None or self.case.state in before:
            return
        if workflow.patched(WIDER_STATES_PATCH):
            return
        refusal = N_("cannot %(kind)s a request in state %(state)s (allowed in: %(states)s)")
        raise refused(
            Said(
                refusal,
                kind=action.kind.value,
                state=self.case.state.value,
                states=", ".join(sorted(state.value for state in before)),
            ),
            "InvalidTransition",
        )

    def _repeat_supervision(self, action: ActionRequest) -> ApplicationError | None:
        """督办 by hand while another of the holding unit waits for its reply."""
        if action.kind is not ActionKind.SUPERVISE:
            return None
        repeat = chasing.repeat_refusal(self.case.supervisions, self._institution_id)
        return refused(repeat, "InvalidTransition") if repeat else None

    def _check_unit_step(self, action: ActionRequest) -> None:
        """The validator's unit-step rule, for an action it accepted while the request was
        being routed: a supervisor's sign-for then went through before its holder was known."""
        other = permissions.unit_step_refusal(action.actor, action.kind, self._institution_id)
        if other and workflow.patched(UNIT_STEP_AFTER_ROUTING_PATCH):
            raise refused(other, "Forbidden")

    def _check_granted_since(self, action: ActionRequest) -> None:
        """Before staff could record the enterprise's materials (or the desk its withdrawal),
        such an action accepted while the request was being routed was refused here, by its
        role: it still is in those runs (``GRANTED_SINCE``)."""
        roles, patch = GRANTED_SINCE.get(action.kind, ((), ""))
        if action.actor.role not in roles:
            return
        if not workflow.patched(patch):
            refusal = N_("role %(role)s may not %(kind)s a request")
            said = Said(refusal, role=action.actor.role.value, kind=action.kind.value)
            raise refused(said, "Forbidden")

    def _check_fields(self, action: ActionRequest) -> None:
        """What the actor's role adds to the action's fields (the desk's withdrawal says how
        the enterprise asked); the model checked the rest when it was read."""
        missing = missing_field(action.kind, action, action.actor.role)
        if missing:
            name, why = missing
            raise refused(Said(FIELD_REASON, field=name, reason=why), "MissingField", name)

    def _check(self, action: ActionRequest) -> None:
        """Raise a non-retryable ApplicationError if the action is not allowed now."""
        if action.kind in parts.CO_HANDLER_ACTIONS and action.actor.role is Role.CASEWORKER:
            # a co-handler does not hold the request: its part is its scope
            forbidden = permissions.kind_refusal(action.actor, action.kind) or (
                parts.scope_refusal(self.case, action)
            )
        elif action.kind is ActionKind.REPLY_SUPERVISION and chasing.replies_for_own_unit(
            self.case.supervisions, action.actor
        ):  # a late part's co-handler replies to its supervision: that is its scope
            forbidden = permissions.kind_refusal(action.actor, action.kind)
        elif rectification.rated_units_own_step(self.case.rectification, action.actor, action.kind):
            # the rated unit's 整改 and 申诉 are its scope wherever the request is (the handler
            # refuses as before in runs that predate it: ``_check_rated_unit_scope``)
            forbidden = permissions.kind_refusal(action.actor, action.kind)
        else:
            forbidden = self._holder_scope_refusal(action)
        if forbidden:
            raise refused(forbidden, "Forbidden")
        refusal = rules.transition_refusal(
            action,
            self.case.state,
            self.case.tier,
            self._institution_id,
            self.case.rating is not None,
            self.case.intake_rating is not None,
        )
        if refusal:
            raise refused(refusal, "InvalidTransition")
        signed = records.signed_for_at(self.case)
        if action.kind is ActionKind.SIGN_FOR and signed is not None:
            signed_already = N_("cannot sign for: %(institution)s signed for it at %(at)s")
            raise refused(
                Said(signed_already, institution=str(self._institution_id), at=signed.isoformat()),
                "InvalidTransition",
            )
        decider = applications.decider_refusal(action.actor, action.kind, self.case.tier)
        if decider:
            raise refused(decider, "Forbidden")
        refusal = (
            applications.refusal(self.case, action, workflow.now())
            or handlers.refusal(self.case, action)
            or parts.refusal(self.case, action)
        )
        if (
            action.kind is ActionKind.REPLY_SUPERVISION
            and chasing.to_answer(self.case.supervisions) is None
        ):
            refusal = Said(NO_SUPERVISION_WAITS)
        if action.kind is ActionKind.FOLLOW_UP and self.case.followed_up:
            refusal = Said(N_("cannot follow up: this resolution was followed up already"))
        after_close = self.case.state is State.CLOSED
        if action.kind is ActionKind.FOLLOW_UP and after_close and not self.case.calling_back:
            refusal = refusal or Said(NO_CALL_BACK)
        if action.kind is ActionKind.FOLLOW_UP:  # unreachable calls are spaced (pinned)
            refusal = refusal or follow_up.spacing_refusal(
                self.case, action.outcome, workflow.now()
            )
        refusal = refusal or rectification.refusal(self.case, action, workflow.now())
        if refusal:
            raise refused(refusal, "InvalidTransition")
        if action.kind is ActionKind.RATE and self.case.state is State.CLOSED:
            if not self._rating_open():
                due = self.case.rating_due_at
                closed = (
                    Said(
                        N_("cannot rate: the rating window after the close ended at %(at)s"),
                        at=due.isoformat(),
                    )
                    if due
                    else Said(N_("cannot rate: the rating window after the close is not open"))
                )
                raise refused(closed, "InvalidTransition")

    def _check_operator(self, action: ActionRequest) -> None:
        """Operator actions need an admin and a waiting step; other actions wait for them."""
        hold = self.case.operator
        if action.kind in OPERATOR_ACTIONS:
            if action.actor.role is not Role.ADMIN:
                admins_only = N_("only an admin may %(kind)s")
                raise refused(Said(admins_only, kind=action.kind.value), "Forbidden")
            if hold is None or hold.retry_requested:
                why = (
                    N_("cannot %(kind)s: nothing waits for an operator")
                    if hold is None
                    else N_("cannot %(kind)s: a retry is under way")
                )
                raise refused(Said(why, kind=action.kind.value), "InvalidTransition")
        elif hold is not None:
            waits = N_("the request waits for an operator: %(step)s failed (%(message)s)")
            raise refused(Said(waits, step=hold.step, message=hold.message), "NeedsOperator")

    @workflow.update
    async def publish_calendar(self, update: CalendarUpdate) -> str:
        """Take a newer business calendar (an operator published the days off of a year).

        Running clocks keep the business time they have used; their remaining time is counted
        on the new calendar from now, so deadlines move to its days off; so do the request's
        other pending deadlines (``workflows.calendar_change``). Recorded as a
        ``calendar_updated`` event. Returns the calendar version in force.
        """
        self._note_suggestion()
        async with self._locked():
            policy = self._policy
            old = policy.calendar
            if update.calendar.version != old.version:
                now = self._now()
                # a policy counting other working hours keeps them, with the published days
                # off (the validator let only such a calendar through: histories from before
                # hold same-week ones only, which are taken as they are)
                newer = (
                    update.calendar
                    if update.calendar.same_week(old)
                    else old.with_days_off_of(update.calendar)
                )
                running = [c for c in self._current_clocks() if clocks.is_running(c)]
                for clock in running:
                    clocks.pause(clock, now, old)
                policy.calendar = newer
                for clock in running:
                    clocks.resume(clock, now, newer)
                if workflow.patched(CALENDAR_MOVES_DEADLINES_PATCH):
                    calendar_change.move_deadlines(self.case, now, old, newer)
                self._emit(
                    EventType.CALENDAR_UPDATED,
                    update.actor,
                    to_state=self.case.state,
                    reason=reasons.calendar_changed(old.version, update.calendar.version),
                    details={
                        "from_version": old.version,
                        "to_version": update.calendar.version,
                        "estimated_years": update.calendar.estimated_years,
                    },
                )
        last = self.case.sequence
        await workflow.wait_condition(
            lambda: self._outbox.persisted >= last or self._outbox.blocked is not None
        )
        return self._policy.calendar.version

    @publish_calendar.validator
    def _validate_calendar(self, update: CalendarUpdate) -> None:
        if update.actor.role is not Role.ADMIN:
            admins_only = N_("role %(role)s may not publish a calendar")
            raise refused(Said(admins_only, role=update.actor.role.value), "Forbidden")
        pinned = self.case.policy.calendar if self.case.policy else None
        # a closed request still counts working days while its rating window, 整改, appeal or
        # 督办 runs (validator only: a refused update leaves no history to replay)
        ended = self.case.state.is_terminal and not (
            self._rating_open() or self._open_after_close()
        )
        if pinned is None or ended:
            raise refused(Said(N_("the request has no running calendar")), "InvalidTransition")
        if not pinned.observes_public_holidays or not update.calendar.same_days(pinned):
            own = N_(
                "the request keeps its own calendar %(version)s: its policy counts other "
                "working days, or no public holidays"
            )
            raise refused(Said(own, version=pinned.version), OWN_CALENDAR)
        if not update.calendar.covers(pinned):
            short = N_("calendar: covers %(first)d-%(last)d, the request needs %(need)s")
            need = f"{pinned.first_year}-{pinned.last_year}"
            covers = {"first": update.calendar.first_year, "last": update.calendar.last_year}
            raise refused(Said(short, **covers, need=need), "InvalidCalendar")

    @workflow.query
    def view(self) -> RequestView:
        return views.request_view(self.case, workflow.now())

    # ------------------------------------------------------------------ actions
    async def _apply(self, action: ActionRequest) -> None:
        kind, actor, now = action.kind, action.actor, self._now()
        if kind in OPERATOR_ACTIONS:
            self._operator_action(action)
            return
        event = rules.EVENT_OF_ACTION[kind]
        to_state = rules.target_state(action, self.case.state)
        cal = self._policy.calendar
        if kind is ActionKind.ESCALATE:
            code = action.reason_code or EscalationReason.OTHER
            await self._escalate(actor, action.text, action.action_id, code)
            return
        if kind is ActionKind.HAND_BACK:
            await self._hand_back(actor, action.text or "", action.action_id)
            return
        if kind is ActionKind.REASSIGN:
            assert action.institution_id is not None
            institution = await self._reassign_target(action)
            self._move(
                tier=self.case.tier,
                institution=institution,
                event=EventType.REASSIGNED,
                actor=actor,
                reason=action.text,
                action_id=action.action_id,
                fresh=self._policy.reassign_starts_fresh,  # pinned: before, the old clocks
            )
            return
        if kind is ActionKind.SIGN_FOR:
            self._sign_for(actor, action.action_id)
            return
        if kind in applications.ASKS or kind in applications.NAMES:
            await self._application(action)
            return
        if kind in handlers.HANDLER_ACTIONS:
            await self._change_handler(action)
            return
        if kind in parts.PART_ACTIONS:
            await self._part(action)
            return
        if kind in (ActionKind.SUPERVISE, ActionKind.REPLY_SUPERVISION):
            self._supervise(action)
            return
        if kind is ActionKind.FOLLOW_UP:
            self._follow_up(action)
            return
        if kind in rectification.ACTIONS:
            case = rectification.apply(self.case, action, now)
            if not case.open:
                chasing.end(self.case, rectification.CLOCK, now)
            settled: dict[str, object] = {
                "rating": case.rating,
                "rectifying_institution": case.institution_id,
            }
            if kind is ActionKind.CONCLUDE_RECTIFICATION:
                settled["on_time"] = now <= case.due_at  # 整改 in time counts in 考核
            if (
                kind is ActionKind.APPEAL_RATING
                and self._policy.appeal_decision_days is not None
                and self._versions.taken(APPEAL_DECISION_PATCH)
            ):
                case.appeal_decide_by = rectification.decide_by(self.case, now)
                settled["decide_by"] = _iso(case.appeal_decide_by)
            self._record_action(action, settled)
            return
        details: dict[str, object] = {}
        if kind is ActionKind.ACKNOWLEDGE:
            if self._awaits_sign_for():  # answering the enterprise takes the request too
                self._sign_for(actor, None, along_with=kind)
            details["response_business_seconds"] = sla.stop_clock(
                self.case, ClockKind.RESPONSE, now
            )
            chasing.end(self.case, ClockKind.RESPONSE.value, now)
        elif kind is ActionKind.REQUEST_INFO:
            self.case.paused_at = now
            for clock in self._current_clocks():
                clocks.pause(clock, now, cal)
        elif kind is ActionKind.PROVIDE_INFO and self.case.state is State.AWAITING_ENTERPRISE:
            details["paused_seconds"] = sla.resume_clocks(self.case, now)
        elif kind is ActionKind.RESUME:
            details["paused_seconds"] = sla.resume_clocks(self.case, now)
            self.case.suspended_until = None
        elif kind is ActionKind.RESOLVE:
            applications.lapse(self.case, now, "resolved")
            chasing.end(self.case, None, now)
            details["resolution_business_seconds"] = sla.stop_clock(
                self.case, ClockKind.RESOLUTION, now
            )
            for clock in self._current_clocks():
                clocks.stop(clock, now, cal)
            self.case.resolved_at = now
            self.case.close_due_at = sla.close_due(self.case, now)
            if self.case.close_due_at is not None:  # until when the enterprise may answer it
                details["close_due_at"] = self.case.close_due_at.isoformat()
            follow_up.after_resolution(self.case, now)
            records.close_hold(self.case, now, "resolved")
        elif kind is ActionKind.REOPEN:
            self._reopen(now)
            if permissions.sends_back(actor, self.case.tier, self._institution_id):
                self.case.redo_count += 1  # 重办 a supervisor above ordered: the unit's mark
                details |= {"cause": "supervisor", "redo": self.case.redo_count}
        elif kind in (ActionKind.REJECT, ActionKind.WITHDRAW):
            applications.lapse(self.case, now, event.value)
            chasing.end(self.case, None, now)
            for clock in self._current_clocks():
                clocks.stop(clock, now, cal)
            records.close_hold(self.case, now, event.value)
            if ended := parts.end(self.case, event.value):  # 协办 ends with the request
                details["ended_parts"] = ended
        elif rules.rates_intake(action):  # 受理评价: counted apart, opens no rectification
            self.case.intake_rating = action.rating
            details["rating"] = action.rating
            details["stage"] = RatingStage.INTAKE.value
        elif kind is ActionKind.RATE:
            self.case.rating = action.rating
            details["rating"] = action.rating
            closed = self.case.state is State.CLOSED
            if closed and follow_up.call_back(self.case, action.rating or 0, now):
                details["follow_up_due_at"] = _iso(self.case.follow_up_due_at)
        if action.attachments:  # 补充材料, 办结 documents: in the audit trail, not the state
            details["attachments"] = [a.model_dump(mode="json") for a in action.attachments]
        self._record_action(action, details, to_state)
        if kind is ActionKind.RATE and not rules.rates_intake(action):
            assert action.rating is not None
            opened = rectification.open_for(self.case, action.rating, now)
            if opened is not None:  # 整改 after a bad rating
                self._note(
                    EventType.RECTIFICATION_OPENED,
                    reasons.rectification_opened(action.rating),
                    rectifying_institution=opened.institution_id,
                    due_at=_iso(opened.due_at),
                    appeal_until=_iso(opened.appeal_until),
                )

    async def _application(self, action: ActionRequest) -> None:
        """退单 and 延期: a unit applies; a tier above approves or refuses."""
        kind, actor, now = action.kind, action.actor, self._now()
        event = rules.EVENT_OF_ACTION[kind]
        if kind is ActionKind.APPROVE_RETURN:  # the directory judges the target first
            institution = await self._reassign_target(action)
            app = applications.decide(self.case, action, now)
            self.case.holds[-1].returned = True  # the time is charged to routing
            self._move(
                self.case.tier,
                institution,
                event,
                actor,
                action.text,
                action.action_id,
                details={
                    "return_reason": app.return_reason or "",
                    "returned_by": app.institution_id,
                },
            )
            return
        details: dict[str, str | int | None] = {}
        if kind in applications.NAMES:
            app = applications.ask(self.case, action, now)
        else:
            app = applications.decide(self.case, action, now)
            details["asked_by"] = app.asked_by
        if app.return_reason:
            details["return_reason"] = app.return_reason.value
        if app.suspend_reason:
            details["suspend_reason"] = app.suspend_reason.value
        if app.days:
            details["days"] = app.days
        if kind is ActionKind.APPROVE_EXTENSION:
            assert app.days is not None
            details["resolution_due_at"] = _iso(applications.extend(self.case, app.days, now))
        if kind is ActionKind.APPROVE_SUSPENSION:
            assert app.days is not None
            details["suspended_until"] = _iso(applications.suspend(self.case, app.days, now))
        self._record_action(action, details, rules.target_state(action, self.case.state))

    def _supervise(self, action: ActionRequest) -> None:
        """督办 by hand, or the unit's written reply to the oldest open supervision."""
        now = self._now()
        if action.kind is ActionKind.SUPERVISE:
            days = action.days or self._policy.supervision_reply_days
            supervision = chasing.open_supervision(
                self.case, action.actor.id, action.text or "", None, now, days
            )
            details = {
                "cause": "manual",
                "supervised_institution": supervision.institution_id,
                "reply_due_at": _iso(supervision.reply_due_at),
                "days": action.days,  # as asked (None: the policy's); a what-if replays it
            }
        else:
            unit = action.actor.institution_id
            waiting = chasing.awaiting_reply(self.case)
            own = chasing.waiting_for_reply(self.case.supervisions, unit)
            if own is not None and own is not waiting and workflow.patched(REPLY_OF_OWN_UNIT_PATCH):
                waiting = own  # the unit answers its own supervision, not another unit's older
            if waiting is None or (unit is not None and own is None):  # its own, reprimanded
                late = chasing.to_answer(self.case.supervisions, unit)
                if late is not None and late is not waiting:
                    if not workflow.patched(LATE_REPLY_PATCH):  # refused before the patch
                        raise refused(Said(NO_SUPERVISION_WAITS), "InvalidTransition")
                    waiting = late
            if waiting is None:
                raise refused(Said(NO_SUPERVISION_WAITS), "InvalidTransition")
            waiting.replied_at, waiting.replied_by = now, action.actor.id
            waiting.reply = action.text
            details = {
                "opened_at": _iso(waiting.opened_at),
                "clock": waiting.clock,
                "opened_by": waiting.opened_by,  # who is told of the reply
                "supervised_institution": waiting.institution_id,  # whose reply it is
            }
            if waiting.reprimanded_at is not None:  # the reprimand stands; owed no more
                details["late"] = True
        self._record_action(action, details)

    async def _part(self, action: ActionRequest) -> None:
        """协办: add a co-handler (checked against the directory), or settle a part."""
        now = self._now()
        if action.kind is ActionKind.ADD_CO_HANDLER:
            assert action.institution_id is not None and self.case.institution is not None
            holder = self.case.institution
            around = self.case.tier.next_up() or self.case.tier  # e.g. a county's city
            check = TargetCheck(
                institution_id=action.institution_id,
                tier=self.case.tier,
                category=None,  # it serves another part of the request
                region_prefix=permissions.region_prefix(around, holder.division_code) or "",
                directory_version=self._policy.directory_version,
            )
            answer: TargetAnswer = await lookup("check_target", check, TargetAnswer, self._one)
            if answer.institution is None:
                reason = answer.reason() or "institution_id: not a valid co-handler"
                raise refused(reason, "InvalidTarget", field="institution_id")
            part = parts.add(self.case, action, answer.institution, now)
        else:
            part = parts.settle(self.case, action, now)
            if not part.open:
                chasing.end(self.case, part_clock(part.institution_id), now)
        details: dict[str, object] = {
            "co_handler": part.institution_id,
            "part_due_at": _iso(part.due_at),
        }
        if action.kind is ActionKind.ADD_CO_HANDLER:
            details["days"] = action.days  # as asked: a what-if replays it
        self._record_action(action, details)

    async def _change_handler(self, action: ActionRequest) -> None:
        """承办人: claim, assign or transfer, once the accounts confirm the new handler."""
        hold, new = self.case.holds[-1], handlers.new_handler(action)
        check = HandlerCheck(handler_id=new, institution_id=hold.institution_id)
        answer: HandlerAnswer = await lookup("check_handler", check, HandlerAnswer, self._one)
        if reason := answer.reason():
            raise refused(reason, "InvalidTarget", field="handler_id")
        previous, hold.handler = hold.handler, new
        self._record_action(
            action, {"handler_id": new, "previous": previous, "how": action.kind.value}
        )

    def _awaits_sign_for(self) -> bool:
        """Whether the holding unit still has to sign for the request under its policy."""
        return self._policy.sign_for_seconds is not None and (
            records.signed_for_at(self.case) is None
        )

    def _sign_for(
        self, actor: Actor, action_id: str | None, along_with: ActionKind | None = None
    ) -> None:
        """签收: the holding unit takes the request; its response clock may start now.

        Signed for ``along_with`` another action, the record carries no action id of its own:
        each action id names one audit record.
        """
        now, policy, hold = self._now(), self._policy, self.case.holds[-1]
        sla.stop_clock(self.case, ClockKind.SIGN_FOR, now)
        chasing.end(self.case, ClockKind.SIGN_FOR.value, now)
        hold.signed_for_at = now
        if hold.handler is None and actor.role is Role.CASEWORKER:
            hold.handler = actor.id  # who signs for it handles it, until someone reassigns it
        waited = None
        if policy.sign_for_seconds is not None:
            waited = business_seconds_between(hold.since, now, policy.calendar)
        started = {clock.kind for clock in records.tier_clocks(self.case)}
        if policy.response_from_sign_for and ClockKind.RESPONSE not in started:
            target = policy.targets[self.case.tier].response_seconds
            self.case.clocks.append(
                clocks.start_clock(ClockKind.RESPONSE, self.case.tier, target, now, policy.calendar)
            )
        self._emit(
            EventType.SIGNED_FOR,
            actor,
            to_state=self.case.state,
            action_id=action_id,
            details={
                "sign_for_business_seconds": waited,
                "handler_id": hold.handler,
                **({"along_with": along_with.value} if along_with else {}),
            },
        )

    async def _reassign_target(self, action: ActionRequest) -> Institution:
        """The institution a reassignment names, checked against the directory.

        It must exist, be at the request's tier, serve its category and lie in the actor's
        region; otherwise the update fails (InvalidTarget) and nothing changes. Runs started
        before the check (``REASSIGN_TARGET_PATCH``) took the id as given.
        """
        assert action.institution_id is not None
        if not self._versions.taken(REASSIGN_TARGET_PATCH):
            return Institution(
                id=action.institution_id,
                name=action.institution_id,
                tier=self.case.tier,
                division_code=self._division(self.case.tier),
            )
        actor = action.actor
        prefix = (
            permissions.region_prefix(actor.tier, actor.division_code) or ""
            if actor.role in permissions.REGIONAL_ROLES  # supervisors and the dispatch desk
            else ""
        )
        check = TargetCheck(
            institution_id=action.institution_id,
            tier=self.case.tier,
            category=self.case.request.category,
            region_prefix=prefix,
            directory_version=self._policy.directory_version,
        )
        answer: TargetAnswer = await lookup("check_target", check, TargetAnswer, self._one)
        if answer.institution is None:
            reason = answer.reason() or "institution_id: not a valid target"
            raise refused(reason, "InvalidTarget", field="institution_id")
        return answer.institution

    async def _escalate(
        self,
        actor: Actor,
        reason: str | None,
        action_id: str | None,
        code: EscalationReason,
        clock: ClockKind | None = None,
    ) -> None:
        """Move the request to the next tier up with fresh clocks, or alert at the top.

        ``code`` (and for a breach, ``clock``) go into the record's details, which reports
        and metrics read; ``reason`` is the free text.
        """
        next_tier = self.case.tier.next_up()
        try:
            found = await self._route(next_tier, upward=True) if next_tier else None
        except StepFailed as failed:  # the request stays at this tier; its clocks keep running
            self._hold(failed, redo="escalate", reason=reason, code=code)
            return
        cause = "sla_breach" if code is EscalationReason.SLA_BREACH else "manual"
        details = {"cause": cause, "reason_code": code.value}
        if clock is not None:
            details["clock"] = clock.value
        if found is None:  # the top: the alert says why as an escalation would (content only)
            self._emit(
                EventType.SUPERVISOR_ALERT,
                actor,
                to_state=self.case.state,
                reason=reason,
                action_id=action_id,
                details=details,
            )
            if code is EscalationReason.SLA_BREACH:
                self._lapse_at_breach(clock)
            return
        tier, institution = found
        self.case.escalation_count += 1
        self._move(
            tier, institution, EventType.ESCALATED, actor, reason, action_id, details=details
        )

    async def _hand_back(self, actor: Actor, reason: str, action_id: str) -> None:
        """Move the request one tier down (skipping tiers without an institution)."""
        lower = self.case.tier.next_down()
        try:
            found = await self._route(lower, upward=False) if lower else None
        except StepFailed as failed:  # the caller's action fails; the request stays as it was
            not_routed = Said(N_("cannot hand back: %(reason)s"), reason=failed.failure.message)
            raise refused(not_routed, "RoutingFailed") from None
        if found is None:
            nobody = N_("cannot hand back: no institution below this tier serves the request")
            raise refused(Said(nobody), "InvalidTransition")
        tier, institution = found
        self._move(tier, institution, EventType.HANDED_BACK, actor, reason, action_id)

    # ------------------------------------------------------------------ continue-as-new
    def _note_suggestion(self) -> None:
        """Note whether the server suggests continuing as new, in a task an update or a timer
        started (runs of ``ServiceRequestV4`` and before read it where the run loop decides).

        The suggestion is a flag of the workflow task. A local activity's result that the SDK
        holds while it completes a task to answer a query is handed over in the next task, with
        that task's flag; a replay hands it over in the task the result is recorded in, with
        that one's. Read there, a run continued as new where its replay does not (a
        nondeterminism error); an update's or a timer's task is the same in both.
        """
        self._suggested = self._suggested or workflow.info().is_continue_as_new_suggested()

    def _continue_suggested(self) -> bool:
        if self.latches_continue_suggestion:
            return self._suggested
        return workflow.info().is_continue_as_new_suggested()

    # ------------------------------------------------------------------ the steady clock
    def _now(self) -> datetime:
        """The instant of the step under way (``workflow.now()`` outside a step, and in runs
        started before the steady clock)."""
        return self._step_at if self._step_at is not None else workflow.now()

    @contextlib.contextmanager
    def _step(self, at: datetime | None = None) -> Iterator[None]:
        """Run one step on one instant (``at``, else now): a local activity's round trip
        inside it does not move the clock its records and deadlines read."""
        if not self._versions.steady_clock:
            yield
            return
        outer, self._step_at = self._step_at, at or workflow.now()
        try:
            yield
        finally:
            self._step_at = outer

    @contextlib.asynccontextmanager
    async def _locked(self) -> AsyncIterator[None]:
        """Hold the lock for one step on one instant (taken once the lock is held)."""
        async with self._lock:
            with self._step():
                yield

    def _when_due(self, due: datetime, now: datetime) -> datetime:
        """The instant a deadline's events occur: the deadline, unless fired late (outage)."""
        return due if now - due <= ON_TIME else now

    # ------------------------------------------------------------------ timers
    def _work_waits(self) -> bool:
        return self._outbox.ready or self.case.state.is_terminal or self._retry_requested()

    async def _wait_for_work(self) -> None:
        """Wait until records wait, the request ends, an operator retries, or a deadline.

        A lean run keeps its timer while the next deadline stays where it was (an update
        that moves no clock costs no timer events); other runs start one per wait.
        """
        if self._versions.keeps_later_timers:
            alarm = self._timer_for(sla.next_due(self.case))
            await workflow.wait_condition(lambda: self._work_waits() or alarm.done())
            if alarm.done():
                self._note_suggestion()
            return
        if not self._versions.lean:
            try:
                await workflow.wait_condition(
                    self._work_waits,
                    timeout=self._time_to_next_due(),
                    timeout_summary="next SLA deadline",
                )
            except TimeoutError:
                pass
            return
        due = sla.next_due(self.case)
        if self._alarm is None or self._alarm.done() or self._alarm_due != due:
            if self._alarm is not None:
                self._alarm.cancel()
            self._alarm_due = due
            self._alarm = asyncio.create_task(
                workflow.sleep(self._time_to_next_due(), summary="next SLA deadline")
            )
        alarm = self._alarm
        await workflow.wait_condition(lambda: self._work_waits() or alarm.done())

    def _timer_for(self, due: datetime | None) -> asyncio.Task[None]:
        """The timer that wakes the run at ``due`` (None: nothing due, the idle wait).

        A timer set for a deadline that an earlier one overtook (a resolve's SLA timer, once
        the reopen window ends sooner) is kept, not cancelled: the run often ends before it
        fires, which costs nothing, where a cancel costs a history event. Kept timers that
        would fire by ``due`` are cancelled then: they would wake the run for nothing.
        """
        kept = self._alarms.pop(due, None)
        if kept is not None and not kept[1].done():
            self._cancel_timers(until=kept[0])
            self._alarms[due] = kept
            return kept[1]
        wait = self._time_to_next_due()
        fires_at = workflow.now() + wait
        self._cancel_timers(until=fires_at)
        alarm = asyncio.create_task(workflow.sleep(wait, summary="next SLA deadline"))
        self._alarms[due] = (fires_at, alarm)
        return alarm

    def _cancel_timers(self, *, until: datetime) -> None:
        """Cancel a V3 run's kept timers that would fire by ``until``.

        A timer due by now may have fired on the server already (the event not yet here): it
        is left to fire, and forgotten like one that fired.
        """
        now = workflow.now()
        for due, (fires_at, alarm) in list(self._alarms.items()):
            if alarm.done() or fires_at <= now:
                del self._alarms[due]
            elif fires_at <= until:
                alarm.cancel()
                del self._alarms[due]

    def _time_to_next_due(self) -> timedelta:
        due = sla.next_due(self.case)
        if due is None:
            return IDLE_WAIT
        wait = due - workflow.now()
        return max(wait, timedelta(milliseconds=1))

    def _overdue(self) -> bool:
        due = sla.next_due(self.case)
        return due is not None and due <= workflow.now()

    async def _fire_due(self) -> None:
        """Send warnings, escalate breaches and auto-close whatever is due by now.

        On the steady clock each deadline is a step of its own, in order, at its instant.
        """
        if not self._versions.steady_clock:
            await self._fire_due_at(workflow.now())
            return
        now = workflow.now()
        for _ in range(STEPS_AT_ONCE):
            due = sla.next_due(self.case)
            if due is None or due > now:
                return
            sequence = self.case.sequence
            with self._step(self._when_due(due, now)):
                await self._fire_due_at(self._now())
            if self.case.sequence == sequence and sla.next_due(self.case) == due:
                return  # nothing it could fire: never loop on it

    async def _fire_due_at(self, now: datetime) -> None:
        """Fire whatever is due by ``now``."""
        if self.case.policy is None:  # admission waits for an operator: no clocks yet
            return
        self._fire_rectification(now)
        if self.case.state is State.RESOLVED:
            close_due = sla.close_due_now(self.case)
            if close_due is not None and close_due <= now:
                self._close(SYSTEM_ACTOR, reasons.REOPEN_WINDOW_ELAPSED, None)
            return
        wait_ends = pauses.enterprise_wait_ends(self.case)
        if wait_ends is not None and wait_ends <= now:
            self._enterprise_wait_expired(now)
            return
        for part in parts.overdue(self.case, now):
            part.reminded = True
            self._remind(
                part_clock(part.institution_id),
                reasons.part_late(part.institution_id),
                clock="part",
                co_handler=part.institution_id,
                deadline=_iso(part.due_at),
            )
        for app in applications.overdue_decisions(self.case, now):
            app.overdue_at = now  # reminded once; a later decision is still taken
            self._note(
                EventType.DECISION_OVERDUE,
                reasons.DECISION_NOT_TAKEN,
                kind=app.kind.value,
                asked_at=_iso(app.asked_at),
                decide_by=_iso(app.decide_by),
                applicant_institution=app.institution_id,
            )
        self._chase(now)
        until = pauses.suspension_ends(self.case)
        if until is not None and until <= now:
            paused = sla.resume_clocks(self.case, now)
            self.case.suspended_until = None
            self._emit(
                EventType.RESUMED,
                SYSTEM_ACTOR,
                to_state=State.IN_PROGRESS,
                reason=reasons.SUSPENSION_ENDED,
                details={"cause": "suspension_ended", "paused_seconds": paused},
            )
            return
        cal = self._policy.calendar
        for clock in self._current_clocks():
            for threshold in self._policy.warning_thresholds:
                at = clocks.warning_at(clock, threshold, cal)
                if at is not None and at <= now:
                    clock.warnings_sent.append(threshold)
                    self._emit(
                        EventType.SLA_WARNING,
                        SYSTEM_ACTOR,
                        to_state=self.case.state,
                        details={
                            "clock": clock.kind.value,
                            "threshold": threshold,
                            "deadline": _iso(clock.deadline),
                        },
                    )
            if clocks.is_running(clock) and clock.deadline is not None and clock.deadline <= now:
                clock.breached = True
                clocks.stop(clock, now, cal)
                records.mark_hold_breach(self.case, clock.kind)
                self._emit(
                    EventType.SLA_BREACHED,
                    SYSTEM_ACTOR,
                    to_state=self.case.state,
                    details={"clock": clock.kind.value, "deadline": _iso(clock.deadline)},
                )
                await self._after_breach(clock)
                return

    async def _after_breach(self, clock: SlaClock) -> None:
        """Do what the pinned policy says a missed deadline does: escalate, remind, alert."""
        policy = self._policy
        details = {"clock": clock.kind.value, "deadline": _iso(clock.deadline)}
        if clock.kind is ClockKind.SIGN_FOR and policy.sign_for_breach is SignForBreach.REMIND:
            self._remind(clock.kind.value, reasons.SIGN_FOR_MISSED, **details)
            return
        in_place = policy.breach_action is BreachAction.SUPERVISE_IN_PLACE
        if clock.kind is not ClockKind.SIGN_FOR and in_place:
            self._note(
                EventType.SUPERVISOR_ALERT,
                reasons.sla_breach(clock.kind.value),
                **details,
                cause="sla_breach",
                mode=policy.breach_action.value,
            )
            chasing.start(self.case, clock.kind.value, self._now(), reminded=False)
            self._lapse_at_breach(clock.kind)
            return
        await self._escalate(
            SYSTEM_ACTOR,
            reasons.sla_breach(clock.kind.value),
            None,
            EscalationReason.SLA_BREACH,
            clock.kind,
        )

    def _lapse_at_breach(self, clock: ClockKind | None) -> None:
        """A missed resolution deadline where the request stays ends the applications bound
        to that clock (the doc: an application open when the deadline passes lapses). Runs
        from before left them waiting for ever; taken only when one waits."""
        if clock is not ClockKind.RESOLUTION or not applications.clock_bound_pending(self.case):
            return
        if workflow.patched(BREACH_LAPSES_PATCH):
            applications.lapse(self.case, self._now(), "sla_breached", applications.CLOCK_BOUND)

    def _close(self, actor: Actor, reason: str, action_id: str | None, **details: str) -> None:
        """Close a resolved request; a rating is taken within the policy's window after."""
        now = self._now()
        self.case.closed_at = now
        self.case.rating_due_at = sla.rating_due(self.case, now)
        if self.case.rating_due_at:
            details["rating_due_at"] = self.case.rating_due_at.isoformat()
        self._emit(
            EventType.CLOSED,
            actor,
            to_state=State.CLOSED,
            reason=reason,
            action_id=action_id,
            details=details or None,
        )

    def _reopen(self, now: datetime) -> None:
        """Back to handling at the holding unit with a fresh resolution clock."""
        self.case.resolved_at = None
        self.case.close_due_at = None
        follow_up.clear(self.case)
        target = self._policy.targets[self.case.tier].resolution_seconds
        self.case.clocks.append(
            clocks.start_clock(
                ClockKind.RESOLUTION, self.case.tier, target, now, self._policy.calendar
            )
        )
        self.case.clocks_since = now
        before = self.case.holds[-1] if self.case.holds else None
        records.open_hold(self.case, self.case.tier, self._institution_id or "", now)
        redo = self.case.holds[-1]
        # 重办: the same caseworker redoes it, signed for already
        if before and before.institution_id == redo.institution_id:
            if workflow.patched(REOPEN_KEEPS_HANDLER_PATCH):
                redo.handler, redo.signed_for_at = before.handler, before.signed_for_at

    def _follow_up(self, action: ActionRequest) -> None:
        """回访: satisfied closes, unsatisfied reopens at the unit (重办), unreachable retries."""
        now, outcome = self._now(), action.outcome
        assert outcome is not None
        attempt = follow_up.record(self.case, outcome, now)
        if self.case.calling_back:  # 差评回访 after the close: recorded, the request stays closed
            self.case.calling_back = not self.case.followed_up
            self._record_action(
                action, {"outcome": outcome.value, "attempt": attempt, "call_back": True}
            )
            return
        self._record_action(action, {"outcome": outcome.value, "attempt": attempt}, State.RESOLVED)
        if outcome is FollowUpOutcome.UNSATISFIED:
            self.case.redo_count += 1
            self._reopen(now)
            self._emit(
                EventType.REOPENED,
                action.actor,
                to_state=State.IN_PROGRESS,
                reason=action.text,
                details={"cause": "follow_up", "redo": self.case.redo_count},
            )
        elif self.case.followed_up:  # satisfied, or unreachable too often
            self._close(action.actor, reasons.followed_up(outcome.value), None, cause=outcome.value)

    def _fire_rectification(self, now: datetime) -> None:
        """A rectification past its deadline is reminded and chased; an appeal undecided by its
        deadline is reminded once to the deciding supervisors; chase rungs that are due."""
        if rectification.appeal_overdue(self.case, now):
            appealed = self.case.rectification
            assert appealed is not None
            appealed.appeal_overdue_at = now
            self._note(
                EventType.APPEAL_DECISION_OVERDUE,
                reasons.APPEAL_NOT_DECIDED,
                appealed_at=_iso(appealed.appealed_at),
                decide_by=_iso(appealed.appeal_decide_by),
                rectifying_institution=appealed.institution_id,  # decided above it
            )
        if rectification.overdue(self.case, now):
            case = self.case.rectification
            assert case is not None
            case.reminded = True
            self._remind(
                rectification.CLOCK,
                reasons.RECTIFICATION_LATE,
                clock=rectification.CLOCK,
                rectifying_institution=case.institution_id,
                deadline=_iso(case.due_at),
            )
        if self.case.state.is_terminal or self.case.state is State.RESOLVED:
            self._chase(now)  # open states take their rungs in _fire_due

    def _remind(self, chase: str, reason: str, **details: str | None) -> None:
        """催办 at once for a late step the unit keeps (``details`` name it), and chase it."""
        self._note(EventType.REMINDED, reason, **details)
        chasing.start(self.case, chase, self._now(), reminded=True)

    def _chase(self, now: datetime) -> None:
        """Take the chasing ladder's rungs that are due: reminder, supervision, reprimand."""
        for chase in chasing.due_reminders(self.case, now):
            chase.reminded_at = now
            self._note(
                EventType.REMINDED,
                reasons.late_since(chase.clock, chase.late_since),
                clock=chase.clock,
                late_since=_iso(chase.late_since),
            )
        for chase in chasing.due_supervisions(self.case, now):
            chase.supervised_at = now
            if self._policy.one_supervision_per_unit and chasing.owes_reply(self.case, chase):
                continue  # the unit answers the supervision it owes a reply to for this too
            opened = chasing.open_supervision(
                self.case,
                SYSTEM_ACTOR.id,
                reasons.late_since(chase.clock, chase.late_since),
                chase.clock,
                now,
                self._policy.supervision_reply_days,
            )
            self._note(
                EventType.SUPERVISION_OPENED,
                opened.reason,
                cause="chase",
                clock=chase.clock,
                supervised_institution=opened.institution_id,
                reply_due_at=_iso(opened.reply_due_at),
            )
        for supervision in chasing.due_reprimands(self.case, now):
            supervision.reprimanded_at = now
            self._note(
                EventType.REPRIMANDED,
                reasons.NO_SUPERVISION_REPLY,
                clock=supervision.clock,
                supervised_institution=supervision.institution_id,
                reply_due_at=_iso(supervision.reply_due_at),
                opened_by=supervision.opened_by,
            )

    def _enterprise_wait_expired(self, now: datetime) -> None:
        """The enterprise did not reply within the policy's longest wait: close or resume."""
        waited = {"waited_business_seconds": self._policy.enterprise_wait_max_seconds}
        if self._policy.enterprise_wait_expiry is WaitExpiry.RESUME:
            waited["paused_seconds"] = sla.resume_clocks(self.case, now)
            self._emit(
                EventType.ENTERPRISE_WAIT_EXPIRED,
                SYSTEM_ACTOR,
                to_state=State.IN_PROGRESS,
                reason=reasons.WAIT_EXPIRED_RESUMES,
                details=waited,
            )
            return
        for clock in self._current_clocks():
            clocks.stop(clock, now, self._policy.calendar)
        self.case.paused_at = None
        applications.lapse(self.case, now, "closed: no reply from the enterprise")
        chasing.end(self.case, None, now)
        records.close_hold(self.case, now, EventType.CLOSED.value)
        details: dict[str, object] = {"cause": "no_reply", **waited}
        if ended := parts.end(self.case, EventType.CLOSED.value):  # 协办 ends with the request
            details["ended_parts"] = ended
        self._emit(
            EventType.CLOSED,
            SYSTEM_ACTOR,
            to_state=State.CLOSED,
            reason=reasons.WAIT_EXPIRED_CLOSES,
            details=details,
        )

    async def _fire_overdue(self) -> None:
        """Fire everything already due, one breach (and escalation) at a time."""
        for _ in range(2 * len(Tier) + 2):
            if not self._overdue():
                return
            await self._fire_due()

    # ------------------------------------------------------------------ operator
    def _hold(
        self,
        failed: StepFailed,
        redo: str,
        reason: str | None = None,
        code: EscalationReason | None = None,
    ) -> None:
        """Record a permanently failed step and wait for an operator; clocks keep running."""
        if self.case.operator is not None:
            return  # already waiting: one operator_needed per hold
        error_type = failed.failure.type or "ApplicationError"
        self.case.operator = OperatorHold(
            step=failed.step,
            error_type=error_type,
            message=failed.failure.message[:500],
            since=self._now(),
            redo=redo,
            reason=reason,
            reason_code=code.value if code else None,
            event_ids=failed.event_ids,
        )
        self._emit(
            EventType.OPERATOR_NEEDED,
            SYSTEM_ACTOR,
            to_state=self.case.state,
            reason=failed.failure.message[:500],
            details={"step": failed.step, "error_type": error_type, "event_ids": failed.event_ids},
        )

    def _retry_requested(self) -> bool:
        return self.case.operator is not None and self.case.operator.retry_requested

    def _operator_action(self, action: ActionRequest) -> None:
        """Retry the failed step (the run loop redoes lookups) or settle it without the step."""
        hold = self.case.operator
        assert hold is not None
        blocked = self._outbox.blocked
        if action.kind is ActionKind.OPERATOR_RESOLVE and blocked is not None:
            self._outbox.withhold(blocked.event_ids, f"withheld by operator: {hold.error_type}")
        self._outbox.blocked = None
        if action.kind is ActionKind.OPERATOR_RETRY and hold.redo != "record":
            hold.retry_requested = True
        else:
            self.case.operator = None
        self._record_action(action, {"step": hold.step, "error_type": hold.error_type})
        if action.kind is ActionKind.OPERATOR_RESOLVE and hold.redo == "admit":
            self._emit(  # never admitted (no policy or no institution): it ends here
                EventType.REJECTED,
                action.actor,
                to_state=State.REJECTED,
                reason=action.text,
                action_id=action.action_id,
            )

    async def _redo(self) -> None:
        """Run again the step an operator asked to retry; a new permanent failure holds again."""
        hold = self.case.operator
        assert hold is not None
        self.case.operator = None
        if hold.redo == "admit":
            await self._admit()
            return
        async with self._locked():
            code = EscalationReason(hold.reason_code or EscalationReason.OTHER)
            await self._escalate(SYSTEM_ACTOR, hold.reason, None, code)

    # ------------------------------------------------------------------ helpers
    async def _route(self, tier: Tier, upward: bool) -> tuple[Tier, Institution] | None:
        """Find the institution for the request at ``tier``, moving on past empty tiers."""
        current: Tier | None = tier
        while current is not None:
            institution = await lookup(
                "resolve_institution",
                RouteRequest(
                    division_code=self._division(current),
                    category=self.case.request.category,
                    tier=current,
                    # the directory the request pinned (None: pinned before versions, current)
                    directory_version=self._policy.directory_version,
                ),
                Institution | None,  # type: ignore[arg-type]
                self._one,
            )
            if institution is not None:
                return current, institution
            current = current.next_up() if upward else current.next_down()
        return None

    def _move(
        self,
        tier: Tier,
        institution: Institution,
        event: EventType,
        actor: Actor,
        reason: str | None,
        action_id: str | None,
        *,
        fresh: bool = True,
        details: Mapping[str, object] | None = None,
    ) -> None:
        """Hand the request to ``institution`` at ``tier``; fresh clocks unless ``fresh`` is off."""
        now = self._now()
        from_tier = self.case.tier if self.case.institution else None
        policy, cal = self._policy, self._policy.calendar
        applications.lapse(self.case, now, f"the request moved on ({event.value})")
        chasing.end(self.case, None, now)
        leaving = self.case.institution.id if self.case.institution else None
        if leaving and leaving != institution.id and policy.supervision_ends_on_move:
            if chasing.end_supervisions(self.case, leaving, now):  # 督办: no reply owed now
                details = {**(details or {}), "supervision_ended_for": leaving}
        records.close_hold(self.case, now, event.value)
        if fresh:
            for clock in self._current_clocks():
                clocks.stop(clock, now, cal)
            self.case.clocks.extend(
                clocks.start_clocks(policy, tier, now, response=not policy.response_from_sign_for)
            )
            self.case.clocks_since = now
        if policy.sign_for_seconds is not None:  # 派单: each new holder signs for it
            sla.stop_clock(self.case, ClockKind.SIGN_FOR, now)
            self.case.clocks.append(
                clocks.start_clock(ClockKind.SIGN_FOR, tier, policy.sign_for_seconds, now, cal)
            )
        self.case.tier = tier
        self.case.institution = institution
        if policy.scope_follows_holder:  # 属地: where it belongs now
            self.case.routed_division = jurisdiction.routed_after(
                self.case.routed_division,
                self.case.request.enterprise.division_code,
                institution.division_code,
                decided=event in SENT_BY_DECISION,
            )
        records.open_hold(self.case, tier, institution.id, now)
        moved = {"institution_name": institution.name, **(details or {})}
        if leaving and leaving != institution.id:  # the unit it left hears it is done with it
            moved["from_institution"] = leaving
        self._emit(
            event,
            actor,
            to_state=State.ASSIGNED,
            from_tier=from_tier,
            reason=reason,
            action_id=action_id,
            details=moved,
        )

    def _finish_unroutable(self) -> None:
        code = self.case.request.enterprise.division_code
        self._emit(
            EventType.REJECTED,
            SYSTEM_ACTOR,
            to_state=State.REJECTED,
            reason=reasons.unroutable(code, self.case.request.category.value),
            details={"cause": "unroutable"},  # no unit serves it: the region's staff hear
        )

    def _current_clocks(self) -> list[SlaClock]:
        return records.current_clocks(self.case)

    def _division(self, tier: Tier) -> str:
        return jurisdiction.division_at(
            self.case.request.enterprise.division_code, self.case.routed_division, tier
        )

    @property
    def _policy(self) -> PinnedPolicy:
        assert self.case.policy is not None
        return self.case.policy

    @property
    def _institution_id(self) -> str | None:
        return self.case.institution.id if self.case.institution else None

    def _event_id(self, sequence: int) -> str:
        return f"{self.case.request.request_id}:{sequence}"

    def _note(self, event: EventType, reason: str, **details: object) -> None:
        """Record an event of the engine's own that leaves the request's state as it is."""
        self._emit(event, SYSTEM_ACTOR, to_state=self.case.state, reason=reason, details=details)

    def _record_action(
        self, action: ActionRequest, details: dict, to_state: State | None = None
    ) -> None:
        """Record the event an action stands for, with its actor, text and action id; the
        request stays in its state unless ``to_state`` names another."""
        self._emit(
            rules.EVENT_OF_ACTION[action.kind],
            action.actor,
            to_state=self.case.state if to_state is None else to_state,
            reason=action.text,
            action_id=action.action_id,
            details=details,
        )

    def _emit(
        self,
        event: EventType,
        actor: Actor,
        *,
        to_state: State,
        from_tier: Tier | None = None,
        reason: str | None = None,
        action_id: str | None = None,
        details: dict | None = None,
    ) -> None:
        """Record one transition: state change, timeline entry and an outbox record."""
        self._outbox.append(
            records.record_transition(
                self.case,
                event,
                actor,
                self._now(),
                to_state=to_state,
                from_tier=from_tier,
                reason=reason,
                action_id=action_id,
                details=details or {},
            )
        )

    def _summary(self) -> RequestSummary:
        return records.summary(self.case, self._now())

    # ------------------------------------------------------------------ outbox
    async def _drain_outbox(self) -> None:
        """Persist, then publish, the records in order; retries until both succeed.

        A permanent failure blocks the outbox and holds the request for an operator; the
        operator_needed record goes out alone, ahead of the records it waits behind.
        """
        await self._outbox.drain(after_batch=self._upsert_search_attributes)
        failed = self._outbox.blocked
        if failed is not None and self.case.operator is None:
            async with self._locked():
                if self.case.operator is not None:
                    return
                self._hold(failed, redo="record")
                needed = self._outbox.pending[-1]
            await self._outbox.send_alone(needed)

    def _upsert_search_attributes(self) -> None:
        """Upsert the request's search attributes (a lean run: only when they changed)."""
        if not self.case.search_attributes:
            return
        attributes = views.search_attributes(self.case, sla.next_due(self.case))
        if self._versions.lean and attributes == self._upserted:
            return
        workflow.upsert_search_attributes(attributes)
        self._upserted = attributes


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
