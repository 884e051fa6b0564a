"""The test factories: requests, actors, actions, pinned policies, and the TransitionRecords
a workflow would emit for a request."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from schemas.domain import Category, Grade, Priority, Role, SlaStatus, State, Tier
from schemas.enterprise import Enterprise
from schemas.lifecycle import (
    ActionKind,
    ActionRequest,
    EventType,
    RequestSummary,
    TransitionRecord,
)
from schemas.policy import CalendarData, PinnedPolicy, SlaTarget
from schemas.request import SYSTEM_ACTOR, Actor, RequestInput
from tierflow.calendar_data import build_calendar
from tierflow_dev.demo import make_uscc

T0 = datetime(2025, 10, 9, 1, 30, tzinfo=UTC)  # a Thursday, 09:30 in Shanghai
HOUR = 3600


def enterprise_uscc(division_code: str = "330106") -> str:
    """The USCC of the test enterprise registered in ``division_code`` (one per division)."""
    return make_uscc(division_code, random.Random(f"enterprise-{division_code}"))


# The enterprise of make_request's requests (an enterprise acts by its USCC, on its own)
ENTERPRISE = Actor(id=enterprise_uscc(), role=Role.ENTERPRISE)
# The events of a request a caseworker acknowledges, starts, comments on and resolves.
WORKED_AND_RESOLVED = ["submitted", "assigned", "acknowledged", "started", "commented", "resolved"]
# the same under a policy with a sign-for clock (the packaged one): the unit signs for it first
SIGNED_WORKED_AND_RESOLVED = [*WORKED_AND_RESOLVED[:2], "signed_for", *WORKED_AND_RESOLVED[2:]]
# every second a business second, so real seconds on the dev server are business seconds
ALWAYS_OPEN = CalendarData(
    version="always-open",
    working_periods=[("00:00", "24:00")],
    weekend_days=[],
    first_year=2025,
    last_year=2030,
)

# A published grade list as the ministry's CSV has it: a little giant in Hangzhou and an
# innovative SME in Changshu (their USCCs are valid and fixed).
GIANT = make_uscc("330106", random.Random("giant"))
SMALL = make_uscc("320581", random.Random("small"))
GRADE_LIST = (
    "统一社会信用代码,企业名称,等级,级别,认定单位,认定日期,有效期至\n"
    f"{GIANT},杭州启明智能科技有限公司,专精特新“小巨人”企业,国家级,工业和信息化部,2025-07-01,2028-06-30\n"
    f"{SMALL},常熟精工机械有限公司,创新型中小企业,省级,江苏省工业和信息化厅,2025-03-01,2028-02-29\n"
)


def make_request(
    request_id: str | None = None,
    *,
    division_code: str = "330106",
    category: Category = Category.FINANCING,
    priority: Priority = Priority.NORMAL,
    grade: Grade = Grade.INNOVATIVE,
    uscc: str | None = None,
) -> RequestInput:
    """Return a valid request from an enterprise registered in ``division_code`` (the test
    enterprise of that division, ``ENTERPRISE`` for the default one, unless ``uscc``)."""
    rid = request_id or f"req-{uuid.uuid4().hex[:12]}"
    enterprise = Enterprise(
        uscc=uscc or enterprise_uscc(division_code),
        name="杭州启明智能科技有限公司",
        division_code=division_code,
        grade=grade,
        contact_name="王芳",
        contact_phone="13800000000",
        contact_email="wang@example.com",
    )
    return RequestInput(
        request_id=rid,
        enterprise=enterprise,
        category=category,
        priority=priority,
        subject="申请科技型中小企业信用贷款对接",
        description="需要500万元流动资金贷款",
        channel="portal",
    )


class RecordFactory:
    """Emit the records of one request step by step, like the workflow's outbox does."""

    def __init__(self, request: RequestInput | None = None, start: datetime = T0) -> None:
        self.request = request or make_request()
        self.now = start
        self.sequence = 0
        self.state: State | None = None
        self.tier = Tier.COUNTY
        self.institution_id: str | None = None
        self.escalations = 0
        self.resolved_at: datetime | None = None
        self.closed_at: datetime | None = None
        self.rating: int | None = None  # the conclusion's, as the summary carries it
        self.scope_division: str | None = None  # set when a step sends it outside its division
        self.policy_version = "test-1"

    def emit(
        self,
        event: EventType,
        to_state: State | None = None,
        *,
        actor: Actor = SYSTEM_ACTOR,
        tier: Tier | None = None,
        institution_id: str | None = None,
        reason: str | None = None,
        details: dict[str, Any] | None = None,
        after: timedelta = timedelta(minutes=10),
    ) -> TransitionRecord:
        """Advance time by ``after`` and return the next record."""
        self.now += after if self.sequence else timedelta(0)
        self.sequence += 1
        from_state, from_tier = self.state, self.tier
        self.state = to_state or self.state or State.SUBMITTED
        self.tier = tier or self.tier
        self.institution_id = institution_id or self.institution_id
        if event is EventType.ESCALATED:
            self.escalations += 1
        if self.state is State.RESOLVED:
            self.resolved_at = self.resolved_at or self.now
        if self.state is State.CLOSED:
            self.closed_at = self.now
        if event is EventType.RATED and (details or {}).get("stage") is None:
            self.rating = int(str((details or {})["rating"]))
        req = self.request
        running = self.state not in (State.RESOLVED, State.CLOSED, State.REJECTED, State.WITHDRAWN)
        summary = RequestSummary.of_request(
            req,
            state=self.state,
            tier=self.tier,
            institution_id=self.institution_id,
            policy_version=self.policy_version,
            sla_status=SlaStatus.ON_TRACK if running else SlaStatus.STOPPED,
            resolution_due_at=self.now + timedelta(days=3) if running else None,
            submitted_at=req.submitted_at or T0,
            updated_at=self.now,
            resolved_at=self.resolved_at,
            closed_at=self.closed_at,
            escalation_count=self.escalations,
            rating=self.rating,
            scope_division=self.scope_division,
        )
        return TransitionRecord(
            event_id=f"{req.request_id}:{self.sequence}",
            request_id=req.request_id,
            sequence=self.sequence,
            event_type=event,
            occurred_at=self.now,
            actor=actor,
            from_state=from_state if event is not EventType.SUBMITTED else None,
            to_state=self.state,
            from_tier=from_tier,
            to_tier=self.tier,
            institution_id=self.institution_id,
            reason=reason,
            details=details or {},
            policy_version=self.policy_version,
            summary=summary,
            request=req if event is EventType.SUBMITTED else None,
        )

    # ------------------------------------------------------------------ common steps
    def submitted(self) -> TransitionRecord:
        return self.emit(EventType.SUBMITTED, State.SUBMITTED, actor=self.request.submitted_by)

    def assigned(self, institution_id: str, tier: Tier = Tier.COUNTY) -> TransitionRecord:
        return self.emit(
            EventType.ASSIGNED, State.ASSIGNED, tier=tier, institution_id=institution_id
        )

    def breached(self, clock: str = "response") -> TransitionRecord:
        return self.emit(EventType.SLA_BREACHED, details={"clock": clock})

    def escalated(
        self, institution_id: str, tier: Tier, reason: str = "sla_breach:response"
    ) -> TransitionRecord:
        breach = reason.startswith("sla_breach")  # the details the workflow records
        return self.emit(
            EventType.ESCALATED,
            State.ASSIGNED,
            tier=tier,
            institution_id=institution_id,
            reason=reason,
            details={
                "cause": "sla_breach" if breach else "manual",
                "reason_code": "sla_breach" if breach else "other",
            },
        )

    def commented(self, text: str, author: Actor | None = None) -> TransitionRecord:
        actor = author or caseworker(self.institution_id or "")
        return self.emit(EventType.COMMENTED, actor=actor, reason=text)

    def resolved(self, text: str = "已对接合作银行并获批授信") -> TransitionRecord:
        actor = caseworker(self.institution_id or "")
        return self.emit(EventType.RESOLVED, State.RESOLVED, actor=actor, reason=text)

    def rated(
        self, rating: int, text: str | None = None, stage: str | None = None
    ) -> TransitionRecord:
        """The enterprise's rating: of the conclusion, or with ``stage="intake"`` the intake's."""
        actor = Actor(id=self.request.enterprise.uscc, role=Role.ENTERPRISE)
        details: dict[str, object] = {"rating": rating}
        if stage is not None:
            details["stage"] = stage
        return self.emit(EventType.RATED, actor=actor, reason=text, details=details)

    def closed(self) -> TransitionRecord:
        return self.emit(EventType.CLOSED, State.CLOSED, reason="reopen window elapsed")


def caseworker(institution_id: str, name: str | None = None) -> Actor:
    """Return a caseworker of ``institution_id`` (named after it unless ``name`` is given)."""
    return Actor(
        id=name or f"cw-{institution_id}", role=Role.CASEWORKER, institution_id=institution_id
    )


def supervisor(tier: Tier, division_code: str, institution_id: str | None = None) -> Actor:
    """Return a supervisor of the region of ``division_code`` at ``tier``."""
    return Actor(
        id=f"sup-{tier.value}-{division_code}",
        role=Role.SUPERVISOR,
        institution_id=institution_id,
        tier=tier,
        division_code=division_code,
    )


def dispatcher(tier: Tier, division_code: str, institution_id: str | None = None) -> Actor:
    """Return the dispatch desk (派单员) of the region of ``division_code`` at ``tier``."""
    return Actor(
        id=f"desk-{tier.value}-{division_code}",
        role=Role.DISPATCHER,
        institution_id=institution_id,
        tier=tier,
        division_code=division_code,
    )


def follow_up_desk(tier: Tier, division_code: str, institution_id: str | None = None) -> Actor:
    """Return the follow-up desk (回访员) of the region of ``division_code`` at ``tier``."""
    return dispatcher(tier, division_code, institution_id).model_copy(
        update={"id": f"follow-up-{tier.value}-{division_code}", "role": Role.FOLLOW_UP}
    )


def system_client(name: str, *grants: str) -> Actor:
    """Return a system client holding ``grants``."""
    return Actor(id=name, role=Role.SYSTEM, grants=list(grants))


def action(kind: ActionKind, actor: Actor, **fields: Any) -> ActionRequest:
    """Return an action with a fresh action id."""
    return ActionRequest(action_id=f"a-{uuid.uuid4().hex[:12]}", kind=kind, actor=actor, **fields)


def make_policy(
    response_hours: float = 4,
    resolution_hours: float = 16,
    reopen_hours: float = 37.5,
    calendar: CalendarData | None = None,
) -> PinnedPolicy:
    """Return a pinned policy with the same targets at every tier (easy to reason about).

    The default calendar has working hours, and a time-skipping session's clock may stand at
    any hour when a test runs (a break shifts every clock started in it): a test that pins
    exact timer events passes ``ALWAYS_OPEN`` unless the hour is what it tests.
    """
    target = SlaTarget(
        response_seconds=int(response_hours * HOUR), resolution_seconds=int(resolution_hours * HOUR)
    )
    return PinnedPolicy(
        version="test-1",
        targets=dict.fromkeys(Tier, target),
        warning_thresholds=[0.5, 0.8],
        reopen_window_seconds=int(reopen_hours * HOUR),
        calendar=calendar or build_calendar(2025, 2027),
    )
