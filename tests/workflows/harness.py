"""Stand-in activities for workflow-layer tests: a fixed policy, a small directory, a recorder.

The workflow runs on a real Temporal server; only the side-effecting activities are replaced,
by activities registered under the same names (integration tests use the real ones).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from temporalio import activity

from schemas.domain import Category, Priority, Role, Tier
from schemas.enterprise import Enterprise, division_for_tier, uscc_check_character
from schemas.lifecycle import (
    ActionKind,
    ActionRequest,
    Institution,
    RouteRequest,
    TransitionBatch,
    TransitionRecord,
)
from schemas.policy import CalendarData, PinnedPolicy, PolicyRequest, SlaTarget
from schemas.request import Actor, RequestInput
from tierflow.calendar_data import build_calendar

HOUR = 3600
COUNTY = "330106"  # Xihu District, Hangzhou


ALWAYS_OPEN = CalendarData(
    version="always-open",
    working_periods=[("00:00", "24:00")],
    weekend_days=[],
    first_year=2025,
    last_year=2030,
)


def make_policy(
    response_hours: float = 4,
    resolution_hours: float = 16,
    reopen_hours: float = 37.5,
    calendar: CalendarData | None = None,
) -> PinnedPolicy:
    """Return a policy with the same targets at every tier (easy to reason about in tests)."""
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


def make_uscc(division: str = COUNTY, serial: str = "MA2B3C4D5") -> str:
    first17 = "91" + division + serial
    return first17 + uscc_check_character(first17)


def make_request(
    request_id: str | None = None, division: str = COUNTY, **kw: object
) -> RequestInput:
    return RequestInput(
        request_id=request_id or f"r-{uuid.uuid4().hex[:12]}",
        enterprise=Enterprise(
            uscc=make_uscc(division),
            name="杭州云栖精密制造有限公司",
            division_code=division,
            contact_name="Zhang Wei",
            contact_phone="+86 571 0000 0000",
        ),
        category=kw.pop("category", Category.FINANCING),  # type: ignore[arg-type]
        priority=kw.pop("priority", Priority.NORMAL),  # type: ignore[arg-type]
        subject="Working capital loan for a new production line",
        **kw,  # type: ignore[arg-type]
    )


def caseworker(institution_id: str) -> Actor:
    return Actor(id=f"cw-{institution_id}", role=Role.CASEWORKER, institution_id=institution_id)


ENTERPRISE = Actor(id="ent-portal", role=Role.ENTERPRISE)


def action(kind: ActionKind, actor: Actor, **kw: object) -> ActionRequest:
    return ActionRequest(action_id=f"a-{uuid.uuid4().hex[:12]}", kind=kind, actor=actor, **kw)  # type: ignore[arg-type]


@dataclass
class StandIns:
    """Activities under the real names; records every transition the workflow emits."""

    policy: PinnedPolicy = field(default_factory=make_policy)
    tiers_without_institution: set[Tier] = field(default_factory=set)
    persisted: list[TransitionRecord] = field(default_factory=list)
    published: list[TransitionRecord] = field(default_factory=list)

    @activity.defn(name="load_policy")
    async def load_policy(self, req: PolicyRequest) -> PinnedPolicy:
        return self.policy

    @activity.defn(name="resolve_institution")
    async def resolve_institution(self, req: RouteRequest) -> Institution | None:
        tier = req.tier
        if tier in self.tiers_without_institution:
            return None
        code = division_for_tier(req.division_code, tier)
        return Institution(
            id=f"{tier.value}-{code}",
            name=f"{tier.value} centre {code}",
            tier=tier,
            division_code=code,
        )

    @activity.defn(name="record_transitions")
    async def record_transitions(self, batch: TransitionBatch) -> int:
        known = {r.event_id for r in self.persisted}
        new = [r for r in batch.records if r.event_id not in known]
        self.persisted.extend(new)
        self.published.extend(batch.records)
        return len(new)

    @property
    def activities(self) -> list:
        return [self.load_policy, self.resolve_institution, self.record_transitions]

    def events(self, request_id: str) -> list[str]:
        return [r.event_type.value for r in self.persisted if r.request_id == request_id]

    def of_type(self, request_id: str, event_type: str) -> list[TransitionRecord]:
        return [
            r
            for r in self.persisted
            if r.request_id == request_id and r.event_type.value == event_type
        ]


def aware(text: str) -> datetime:
    return datetime.fromisoformat(text)
