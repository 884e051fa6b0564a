"""`tierflow temporal replay-check` names the running requests this build cannot replay.

Real dev server, stand-in activities. One request runs as today's type; the other as
``ServiceRequestV4`` with its admission's lookup held past a renewed workflow task, which
makes its history one that code does not reproduce once its first deadline has fired (the
fault ``ServiceRequestV5`` mends, tests/workflows/test_clock_on_replay.py). The command runs
as an operator runs it: its own process, its settings from the environment.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from temporalio.client import Client

from schemas.domain import Tier
from schemas.lifecycle import WORKFLOW_TYPE, WORKFLOW_TYPE_V4
from schemas.policy import PinnedPolicy, SlaTarget
from tests.utils.eventually import eventually
from tests.utils.factories import ALWAYS_OPEN, make_policy
from tests.workflows.dev_server import SECOND, renewed_after, start_renewing
from tests.workflows.harness import StandIns
from tierflow_dev.devstack.temporal import TemporalDevServer

ROOT = Path(__file__).resolve().parents[2]


async def replay_check(server: TemporalDevServer, *args: str) -> tuple[int, str]:
    """Run the command in a process of its own; return its exit code and output."""
    env = {
        **os.environ,
        "TIERFLOW_TEMPORAL_ADDRESS": server.address,
        "TIERFLOW_TEMPORAL_NAMESPACE": server.namespace,
        "TIERFLOW_LANG": "en",
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tierflow.cli",
        "temporal",
        "replay-check",
        *args,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode()


def quiet_after_the_county(response_hours: float) -> PinnedPolicy:
    """The county answers within ``response_hours``; every tier above within a day."""
    policy = make_policy(response_hours, 2 * response_hours, response_hours, ALWAYS_OPEN)
    day = SlaTarget(response_seconds=86_400, resolution_seconds=86_400)
    targets = dict.fromkeys(Tier, day) | {Tier.COUNTY: policy.targets[Tier.COUNTY]}
    return policy.model_copy(update={"targets": targets})


async def test_the_requests_a_build_cannot_replay_are_named(
    temporal_client: Client, temporal_dev_server: TemporalDevServer, task_queue: str
) -> None:
    # the first warning falls 2 s after the submission; the tiers it escalates to keep it for
    # hours, so that its history stays short of continue-as-new (a new run replays) however
    # long a loaded machine takes over the checks
    stand_ins = StandIns(policy=quiet_after_the_county(4 * SECOND))
    async with stand_ins.worker(temporal_client, task_queue):
        gate = stand_ins.admission_gate = asyncio.Event()
        wedged = await start_renewing(temporal_client, task_queue, WORKFLOW_TYPE_V4)
        started = (await wedged.describe()).start_time
        assert started is not None
        await eventually(lambda: renewed_after(wedged, started), timeout=10, what="a renewal")
        gate.set()
        healthy = await start_renewing(temporal_client, task_queue, WORKFLOW_TYPE)
        for handle in (wedged, healthy):
            request_id = handle.id.removeprefix("request-")
            await eventually(
                lambda rid=request_id: stand_ins.of_type(rid, "sla_warning"),
                timeout=10,
                what="the first warning",
            )
        wedged_id = wedged.id.removeprefix("request-")
        healthy_id = healthy.id.removeprefix("request-")

        code, out = await replay_check(temporal_dev_server)
        assert code == 1, out
        # its replay diverges; or, when the worker itself replayed it first (its cache lost
        # it under load), the worker's failed task is named, since the replay then passes
        assert f"{wedged.id} (run " in out and (
            f"{WORKFLOW_TYPE_V4}) cannot replay: [TMPRL1100] Nondeterminism error: " in out
            or f"{WORKFLOW_TYPE_V4}) is stuck: a worker failed its last task: " in out
        ), out
        assert "Failing workflow task" not in out, out  # nothing failed on the server
        assert healthy.id not in out, out

        code, out = await replay_check(temporal_dev_server, "--request", healthy_id)
        assert (code, out.strip()) == (0, "1 run replays on this build"), out
        code, out = await replay_check(
            temporal_dev_server, "--request", healthy_id, "--request", wedged_id
        )
        assert code == 1 and "1 of 2 runs cannot replay on this build" in out, out
        # a limit that leaves runs unchecked is no pass, whatever the runs it checked did
        code, out = await replay_check(
            temporal_dev_server, "--request", healthy_id, "--request", wedged_id, "--limit", "1"
        )
        assert code == 1 and "--limit 1: more runs match; those beyond it" in out, out
        assert (await wedged.describe()).run_id == wedged.result_run_id  # not continued as new
        code, out = await replay_check(temporal_dev_server, "--request", "x' OR 'a'='a")
        assert code == 2 and "--request: \"x' OR 'a'='a\" is not a request id" in out, out
        for handle in (wedged, healthy):
            await handle.terminate("test over")
