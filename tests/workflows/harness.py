"""Stand-in activities for workflow-layer tests: a fixed policy, a small directory, a recorder.

The workflow runs on a real Temporal server; only the side-effecting activities are replaced,
by activities registered under the same names (integration tests use the real ones). A test's
finished history replays with ``replay_and_keep``, which also saves it for the replay suite.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from temporalio import activity
from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer, Worker

from activities.admission import AdmissionActivities
from activities.failures import permanent_failure
from activities.handlers import refusal as handler_refusal
from schemas.domain import Role, Tier
from schemas.enterprise import division_for_tier
from schemas.lifecycle import (
    HandlerAnswer,
    HandlerCheck,
    Institution,
    RouteRequest,
    TargetAnswer,
    TargetCheck,
    TransitionBatch,
    TransitionRecord,
)
from schemas.policy import PinnedPolicy, PolicyRequest
from tests.utils.factories import make_policy
from tierflow.db.auth_models import ApiUser
from tierflow.directory import Directory, DirectoryEntry
from workflows.request_types import REQUEST_WORKFLOWS

HISTORIES = Path(__file__).with_name("histories")
# every StandIns a test made, so that its records can be checked after the test (conftest)
MADE: list[StandIns] = []


@dataclass
class StandIns:
    """Activities under the real names; records every transition the workflow emits."""

    policy: PinnedPolicy = field(default_factory=make_policy)
    tiers_without_institution: set[Tier] = field(default_factory=set)
    persisted: list[TransitionRecord] = field(default_factory=list)
    published: list[TransitionRecord] = field(default_factory=list)
    batches: list[TransitionBatch] = field(default_factory=list)
    # permanent (non-retryable) failures, raised as the real activities raise them
    policy_fails: bool = False
    route_fails_at: set[Tier] = field(default_factory=set)
    poison_text: str | None = None  # record_transitions refuses a batch with this reason
    # institutions a reassignment may name, beside the ones resolve_institution hands out
    extra_institutions: list[Institution] = field(default_factory=list)
    # caseworker accounts check_handler knows besides cw-<institution>: user id -> institution
    accounts: dict[str, str] = field(default_factory=dict)
    # the directory version each routing call and target check named
    directory_versions: list[str | None] = field(default_factory=list)
    # while set and not open, record_transitions waits for it (a record call held in flight)
    records_gate: asyncio.Event | None = None
    # while set and not open, the policy's lookup waits for it (a request held in routing)
    admission_gate: asyncio.Event | None = None
    # while set and not open, check_target waits for it (a reassignment's check held)
    target_gate: asyncio.Event | None = None
    # when record_transitions and check_target began and ended, in order
    calls: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        MADE.append(self)

    @activity.defn(name="load_policy")
    async def load_policy(self, req: PolicyRequest) -> PinnedPolicy:
        if self.admission_gate is not None:
            await self.admission_gate.wait()
        if self.policy_fails:
            raise permanent_failure("load_policy", ValueError("targets.normal: must be > 0"))
        return self.policy

    @activity.defn(name="resolve_institution")
    async def resolve_institution(self, req: RouteRequest) -> Institution | None:
        self.directory_versions.append(req.directory_version)
        tier = req.tier
        if tier in self.route_fails_at:
            raise permanent_failure("resolve_institution", KeyError(f"{tier.value} entry missing"))
        if tier in self.tiers_without_institution:
            return None
        code = division_for_tier(req.division_code, tier)
        return Institution(
            id=f"{tier.value}-{code}",
            name=f"{tier.value} centre {code}",
            tier=tier,
            division_code=code,
        )

    @activity.defn(name="check_target")
    async def check_target(self, check: TargetCheck) -> TargetAnswer:
        """The real directory's check over the stand-in directory's institutions."""
        self.calls.append("check_target")
        if self.target_gate is not None:
            await self.target_gate.wait()
        self.directory_versions.append(check.directory_version)
        known = {i.id: i for i in self.extra_institutions}
        code = check.institution_id.split("-", 1)[-1]
        for tier in Tier:  # the ids resolve_institution hands out: <tier>-<division code>
            exists = code.isdigit() and len(code) == 6 and division_for_tier(code, tier) == code
            if exists and check.institution_id == f"{tier.value}-{code}":
                known[check.institution_id] = Institution(
                    id=check.institution_id,
                    name=check.institution_id,
                    tier=tier,
                    division_code=code,
                )
        entries = [
            DirectoryEntry(id=i.id, name=i.name, tier=i.tier, division_code=i.division_code)
            for i in known.values()
        ]
        return Directory(entries).check_target(check)

    @activity.defn(name="check_handler")
    async def check_handler(self, check: HandlerCheck) -> HandlerAnswer:
        """The real rule over stand-in accounts: ``accounts`` (user -> institution), and
        ``cw-<institution>`` for the caseworker ``factories.caseworker`` names."""
        institution = self.accounts.get(check.handler_id, check.handler_id.removeprefix("cw-"))
        user = None
        if check.handler_id.startswith("cw-"):
            user = ApiUser(
                id=check.handler_id,
                role=Role.CASEWORKER,
                institution_id=institution,
                created_at=datetime.now(UTC),
            )
        return HandlerAnswer(refusal=handler_refusal(user, check))

    @activity.defn(name="record_transitions")
    async def record_transitions(self, batch: TransitionBatch) -> int:
        self.calls.append("record_transitions")
        if self.records_gate is not None:
            await self.records_gate.wait()
        self.calls.append("record_transitions done")
        self.batches.append(batch)
        for record in batch.records:
            if self.poison_text is not None and record.reason == self.poison_text:
                error = ValueError("value too long for type character varying(100)")
                raise permanent_failure("record_transitions", error, record.event_id)
        known = {r.event_id for r in self.persisted}
        new = [r for r in batch.records if r.event_id not in known]
        self.persisted.extend(new)
        self.published.extend(batch.records)
        return len(new)

    @property
    def activities(self) -> list:
        return [
            AdmissionActivities(self.load_policy, self.resolve_institution).admit_request,
            self.load_policy,
            self.resolve_institution,
            self.check_target,
            self.check_handler,
            self.record_transitions,
        ]

    def worker(
        self,
        client: Client,
        task_queue: str,
        workflows: Sequence[type] = REQUEST_WORKFLOWS,
        **options: Any,
    ) -> Worker:
        """A worker of the lifecycle workflow on ``task_queue`` with these activities.

        ``workflows``: the types it runs (all of today's unless a test plays an older worker).
        """
        return Worker(
            client,
            task_queue=task_queue,
            workflows=list(workflows),
            activities=self.activities,
            **options,
        )

    def events(self, request_id: str) -> list[str]:
        return [r.event_type.value for r in self.persisted if r.request_id == request_id]

    def of_type(self, request_id: str, event_type: str) -> list[TransitionRecord]:
        return [
            r
            for r in self.persisted
            if r.request_id == request_id and r.event_type.value == event_type
        ]


FAILED_HISTORIES = Path(tempfile.gettempdir()) / "tierflow-failed-histories"


async def replay_and_keep(history: WorkflowHistory, name: str, run_id: str) -> None:
    """Replay one run with today's code; with TIERFLOW_RECORD_HISTORIES=1 keep it for the
    replay suite (the whole run id: ids are time-ordered, so prefixes of one workflow's runs
    collide)."""
    try:
        await Replayer(
            workflows=[*REQUEST_WORKFLOWS], data_converter=pydantic_data_converter
        ).replay_workflow(history)
    except Exception as exc:  # a live run's race is gone once the test ends: keep its history
        FAILED_HISTORIES.mkdir(parents=True, exist_ok=True)
        kept = FAILED_HISTORIES / f"{name}-{run_id}.json"
        kept.write_text(history.to_json())
        exc.add_note(f"the history that failed to replay: {kept}")
        raise
    if os.environ.get("TIERFLOW_RECORD_HISTORIES"):
        HISTORIES.mkdir(exist_ok=True)
        (HISTORIES / f"{name}-{run_id}.json").write_text(history.to_json())
