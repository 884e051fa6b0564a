"""Generated traffic recorded by the real workflow and activities: the what-if's corpus.

The what-if's property test and its benchmark record with it. A worker on the time-skipping
server runs the live workflow with the real policy, directory,
admission and handler activities; its records go to the read model through the real
projection (no broker: the audit trail is what a what-if reads). People act at random
instants chosen from a seed: caseworkers of whichever unit holds the request, the enterprise,
a supervisor of the tier above. Some actions are refused; only applied ones reach the trail.
Once, a day into the traffic, an operator publishes a newer calendar (one more day off) to
every running request, as ``tierflow calendar publish`` does.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import random
import tomllib
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path

import tomli_w
from sqlalchemy import Engine
from sqlmodel import Session
from temporalio import activity
from temporalio.api.testservice.v1 import SleepRequest
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.admission import AdmissionActivities
from activities.directory import DirectoryActivities
from activities.handlers import HandlerActivities
from activities.persistence import TransitionWriter
from activities.policy import PolicyActivities
from schemas.domain import Role, State, Tier
from schemas.enterprise import division_for_tier
from schemas.lifecycle import (
    ActionKind,
    ActionRequest,
    CalendarUpdate,
    EscalationReason,
    TransitionBatch,
    WorkflowState,
)
from schemas.policy import CalendarData
from schemas.request import Actor
from tierflow.calendar_store import record_calendar, record_pinnable
from tierflow.constants import workflow_id
from tierflow.db.engine import make_engine
from tierflow.db.migrate import upgrade
from tierflow.db.models import ServiceRequest
from tierflow.db.repository import record_policy_version
from tierflow.directory import Directory
from tierflow.grades import GradeRegistry
from tierflow.policy import PACKAGED_POLICY, PolicyFile, parse_policy
from tierflow_dev.demo import demo_requests
from tierflow_dev.devstack.temporal import find_executable
from workers.worker import workflow_runner
from workflows.request_types import REQUEST_WORKFLOWS
from workflows.service_request import ServiceRequestWorkflow

DELAYS = (
    timedelta(minutes=20),
    timedelta(hours=2),
    timedelta(hours=6),
    timedelta(days=1),
    timedelta(days=3),
)


class Recorder:
    """``record_transitions`` without the broker: the real projection into the read model."""

    def __init__(self, engine: Engine) -> None:
        self.writer = TransitionWriter(engine)

    @activity.defn(name="record_transitions")
    async def record_transitions(self, batch: TransitionBatch) -> int:
        return await asyncio.to_thread(self.writer.persist, batch.records)


@contextlib.asynccontextmanager
async def recording_worker(
    env: WorkflowEnvironment, engine: Engine, policy: PolicyFile, policy_text: str
) -> AsyncIterator[str]:
    """Run the live workflow with real activities recording into ``engine``; yield its queue."""
    with Session(engine) as session:
        record_policy_version(session, policy.version, policy_text)
        session.commit()
    year = policy.local_year(await env.get_current_time())
    record_pinnable(engine, [policy], (year, year + 1))  # as a worker does at start
    pinning = PolicyActivities(policy, GradeRegistry(engine))
    directory = DirectoryActivities(Directory.load())
    handlers = HandlerActivities(engine)
    queue = f"whatif-{uuid.uuid4().hex[:8]}"
    with ThreadPoolExecutor(4) as executor:
        async with Worker(
            env.client,
            task_queue=queue,
            workflows=[*REQUEST_WORKFLOWS],
            workflow_runner=workflow_runner(env.client.data_converter),  # as a worker runs it
            # every open request stays cached: an evicted one replays its history each task
            max_cached_workflows=CACHED_WORKFLOWS,
            # no 2-second deadlock detector: on a loaded host (a recording beside a CI run) a
            # starved task tripped it, failed, and its retries (as starved) left the request's
            # history behind the events its local activities had recorded
            debug_mode=True,
            activities=[
                AdmissionActivities(
                    pinning.load_policy, directory.resolve_institution
                ).admit_request,
                pinning.load_policy,
                directory.resolve_institution,
                directory.check_target,
                handlers.check_handler,
                Recorder(engine).record_transitions,
            ],
            activity_executor=executor,
        ):
            yield queue


def packaged_policy_text() -> str:
    """The packaged SLA policy file, as a worker reads it."""
    return resources.files("tierflow.data").joinpath(PACKAGED_POLICY).read_text("utf-8")


def scaled_policy(version: str, factor: float = 1.0) -> str:
    """The packaged policy renamed ``version``, every tier's targets scaled by ``factor``
    (a candidate for a what-if: below 1 is stricter)."""
    data = tomllib.loads(packaged_policy_text())
    data["version"] = version
    tiers = data["targets"].setdefault("tier", {})
    for tier in Tier:
        factors = tiers.setdefault(tier.value, {})
        for name in ("response_factor", "resolution_factor"):
            factors[name] = factors.get(name, 1.0) * factor
    return tomli_w.dumps(data)


def _enterprise(uscc: str) -> Actor:
    """The enterprise itself: it acts by its unified social credit code."""
    return Actor(id=uscc, role=Role.ENTERPRISE)


def caseworker(institution_id: str) -> Actor:
    return Actor(id=f"cw-{institution_id}", role=Role.CASEWORKER, institution_id=institution_id)


def supervisor(tier: Tier, division_code: str) -> Actor:
    return Actor(
        id=f"sup-{tier.value}-{division_code}",
        role=Role.SUPERVISOR,
        tier=tier,
        division_code=division_code,
    )


def choose(
    rng: random.Random, state: State, tier: Tier, holder: str, division: str, enterprise: str
) -> ActionRequest | None:
    """A person's next action on a request in ``state`` held by ``holder`` (``enterprise``
    the USCC of the enterprise whose request it is), or None."""
    worker = caseworker(holder)
    above = tier.next_up()
    boss = supervisor(above, division_for_tier(division, above)) if above else None
    options: list[tuple[ActionKind, Actor, dict[str, object]]] = []
    if state is State.ASSIGNED:
        options = [
            (ActionKind.ACKNOWLEDGE, worker, {}),
            (ActionKind.ACKNOWLEDGE, worker, {}),
            (ActionKind.SIGN_FOR, worker, {}),
            (ActionKind.COMMENT, worker, {"text": "已电话联系企业"}),
        ]
        if above:
            code = EscalationReason.COMPLEX_CASE
            options.append(
                (ActionKind.ESCALATE, worker, {"text": "需上级协调", "reason_code": code})
            )
    elif state in (State.ACKNOWLEDGED, State.IN_PROGRESS):
        options = [
            (ActionKind.START, worker, {}),
            (ActionKind.RESOLVE, worker, {"text": "已办结"}),
            (ActionKind.RESOLVE, worker, {"text": "已办结"}),
            (ActionKind.REQUEST_INFO, worker, {"text": "请补充近三年财务报表"}),
            (ActionKind.REQUEST_EXTENSION, worker, {"text": "需现场核查", "days": 2}),
        ]
        if boss is not None:
            options.append((ActionKind.APPROVE_EXTENSION, boss, {"text": "同意延期"}))
            options.append((ActionKind.SUPERVISE, boss, {"text": "请加快办理"}))
    elif state is State.AWAITING_ENTERPRISE:
        options = [(ActionKind.PROVIDE_INFO, _enterprise(enterprise), {"text": "已上传"})]
    elif state is State.RESOLVED:
        options = [
            (ActionKind.RATE, _enterprise(enterprise), {"rating": rng.randint(1, 5)}),
            (ActionKind.REOPEN, worker, {"text": "企业反映问题未解决"}),
            (ActionKind.COMMENT, worker, {"text": "回访中"}),
        ]
    if not options:
        return None
    kind, actor, fields = rng.choice(options)
    return ActionRequest(action_id=f"g-{uuid.uuid4().hex[:12]}", kind=kind, actor=actor, **fields)


@dataclass
class Traffic:
    """What a run of generated traffic did."""

    requests: list[str] = field(default_factory=list)
    applied: int = 0
    refused: int = 0
    took_calendar: int = 0  # requests that took the published calendar


PUBLISH_AFTER = timedelta(days=1)  # when the operator publishes, after the first submission
OPERATOR = Actor(id="admin-calendar", role=Role.ADMIN)


def published_calendar(policy: PolicyFile, at: datetime) -> CalendarData:
    """The calendar of ``at``'s year with one more day off: the first working weekday two
    days after ``at`` (a day off the State Council added, say)."""
    pinned = policy.calendar_for(policy.local_year(at))
    day = (at + timedelta(days=2)).date()
    while day.weekday() in pinned.weekend_days or day in pinned.holidays:
        day += timedelta(days=1)
    return pinned.model_copy(
        update={
            "version": f"{pinned.version}-published-{day.isoformat()}",
            "holidays": sorted([*pinned.holidays, day]),
        }
    )


async def publish(
    env: WorkflowEnvironment, engine: Engine, handles: dict[str, WorkflowHandle], policy: PolicyFile
) -> int:
    """Record a newer calendar and hand it to every request; return how many took it (the
    others have ended)."""
    calendar = published_calendar(policy, await env.get_current_time())
    record_calendar(engine, calendar, OPERATOR.id)
    took = 0
    for handle in handles.values():
        try:
            await handle.execute_update(
                ServiceRequestWorkflow.publish_calendar,
                CalendarUpdate(calendar=calendar, actor=OPERATOR),
                id=calendar.version,
            )
            took += 1
        except WorkflowUpdateFailedError:
            continue
    return took


WAVE = timedelta(minutes=10)  # steps planned this close together are taken at once
CACHED_WORKFLOWS = 20_000
AT_ONCE = 16  # steps in flight at most: more only starve the worker's workflow tasks
SKIP = timedelta(minutes=30)  # the longest single time skip
SKIP_CALL = timedelta(minutes=10)  # how long one skip may take the server


async def generate(
    env: WorkflowEnvironment,
    queue: str,
    count: int,
    seed: int,
    engine: Engine,
    policy: PolicyFile,
) -> Traffic:
    """Submit ``count`` requests (the demo's, ``demo_requests(count, seed)``) at random
    instants and act on them until each ends or has had its last step; time skips between
    waves of steps (the server fires timers meanwhile), the steps of one wave run at once.
    ``PUBLISH_AFTER`` the first, a newer calendar is published (``publish``)."""
    rng = random.Random(seed)
    traffic = Traffic()
    now = await env.get_current_time()
    publish_at: datetime | None = now + PUBLISH_AFTER
    requests = {req.request_id: req for req in demo_requests(count, seed)}
    plan: list[tuple[datetime, int, str]] = []  # (when, tie-break, request id)
    offset = timedelta(0)
    for index, request_id in enumerate(requests):
        offset += timedelta(seconds=rng.randint(1, 5400) * 60 // max(count, 1) + 1)
        plan.append((now + offset, index, request_id))
    heapq.heapify(plan)
    handles: dict[str, WorkflowHandle] = {}
    steps: dict[str, int] = {}
    order = count

    async def take(request_id: str) -> bool:
        """One step of one request; whether it has more to come."""
        if request_id not in handles:
            req = requests[request_id]
            handles[request_id] = await env.client.start_workflow(
                ServiceRequestWorkflow.run,
                WorkflowState(request=req, search_attributes=False),
                id=workflow_id(request_id),
                task_queue=queue,
            )
            traffic.requests.append(request_id)
            steps[request_id] = rng.randint(2, 7)
            return True
        view = await handles[request_id].query(ServiceRequestWorkflow.view)
        summary = view.summary
        chosen = None
        if summary.institution_id is not None and not summary.state.is_terminal:
            ent = requests[request_id].enterprise
            chosen = choose(
                rng,
                summary.state,
                summary.tier,
                summary.institution_id,
                ent.division_code,
                ent.uscc,
            )
        if chosen is not None:
            try:
                await handles[request_id].execute_update(
                    ServiceRequestWorkflow.act, chosen, id=chosen.action_id
                )
                traffic.applied += 1
            except WorkflowUpdateFailedError:
                traffic.refused += 1
        steps[request_id] -= 1
        return chosen is not None and steps[request_id] > 0

    room = asyncio.Semaphore(AT_ONCE)

    async def limited(request_id: str) -> bool:
        async with room:
            return await take(request_id)

    while plan:
        first = plan[0][0]
        current = await env.get_current_time()
        if publish_at is not None and first > publish_at:
            while publish_at > current:
                await skip(env, min(publish_at - current, SKIP))
                current = await env.get_current_time()
            traffic.took_calendar = await publish(env, engine, handles, policy)
            publish_at = None
        while first > current:  # in short skips: every timer on the way fires in one
            await skip(env, min(first - current, SKIP))
            current = await env.get_current_time()
        wave = []
        while plan and plan[0][0] <= first + WAVE:
            wave.append(heapq.heappop(plan))
        more = await asyncio.gather(*(limited(request_id) for _, _, request_id in wave))
        for (at, _, request_id), again in zip(wave, more, strict=True):
            if again:
                # people act at odd moments: a step landing on a deadline's very millisecond
                # trips the time-skipping server ("invalid history builder state")
                jitter = timedelta(seconds=rng.randint(7, 3000), milliseconds=rng.randint(1, 999))
                order += 1
                heapq.heappush(plan, (at + rng.choice(DELAYS) + jitter, order, request_id))
    return traffic


async def skip(env: WorkflowEnvironment, duration: timedelta) -> None:
    """Skip the time-skipping server's clock by ``duration`` (``env.sleep``, with a call
    timeout long enough for thousands of timers to fire on the way)."""
    request = SleepRequest()
    request.duration.FromTimedelta(duration)
    await env.client.test_service.unlock_time_skipping_with_sleep(request, timeout=SKIP_CALL)


async def settled(env: WorkflowEnvironment, engine: Engine, traffic: Traffic) -> datetime:
    """Wait until the read model holds every event each workflow has recorded; return the
    server's time then (the instant the recording stands for)."""

    behind = ""

    async def recorded_all() -> bool:
        nonlocal behind
        with Session(engine) as session:
            for request_id in traffic.requests:
                handle = env.client.get_workflow_handle(workflow_id(request_id))
                view = await handle.query(ServiceRequestWorkflow.view)
                expected = len(view.timeline) + view.timeline_truncated
                row = session.get(ServiceRequest, request_id)
                if row is None or row.last_sequence != expected:
                    held = "no row" if row is None else f"{row.last_sequence} events"
                    behind = f"{request_id}: {expected} events in the workflow, {held} read"
                    return False
        return True

    for pause in _backoff(timeout=120):
        if await recorded_all():
            return await env.get_current_time()
        await asyncio.sleep(pause)
    raise TimeoutError(f"the read model did not catch up with the workflows in 120 s ({behind})")


def _backoff(timeout: float) -> list[float]:
    """Pauses between probes: 50 ms doubling to 1 s, adding up to ``timeout``."""
    pauses, total, pause = [], 0.0, 0.05
    while total < timeout:
        pauses.append(pause)
        total += pause
        pause = min(pause * 2, 1.0)
    return pauses


@dataclass
class Trail:
    """A read model holding recorded traffic."""

    url: str
    engine: Engine
    horizon: datetime  # when the traffic had settled: the instant the data stands for
    traffic: Traffic


@contextlib.asynccontextmanager
async def recorded_trail(folder: Path, count: int, seed: int) -> AsyncIterator[Trail]:
    """Record ``count`` generated requests, under the packaged policy, into a new SQLite read
    model under ``folder`` (a time-skipping server of its own, shut down once settled)."""
    url = f"sqlite:///{folder / 'trail.db'}"
    upgrade(url)
    engine = make_engine(url)
    try:
        env = await WorkflowEnvironment.start_time_skipping(
            test_server_existing_path=str(find_executable("temporal-test-server")),
            data_converter=pydantic_data_converter,
        )
        try:
            text = packaged_policy_text()
            policy = parse_policy(text)
            async with recording_worker(env, engine, policy, text) as queue:
                traffic = await generate(env, queue, count, seed, engine, policy)
                horizon = await settled(env, engine, traffic)
        finally:
            await env.shutdown()
        yield Trail(url, engine, horizon, traffic)
    finally:
        engine.dispose()
