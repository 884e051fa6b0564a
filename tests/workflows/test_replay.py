"""Replay every recorded history with today's workflow code: changes must stay deterministic.

Record new ones with ``TIERFLOW_RECORD_HISTORIES=1 pytest tests/workflows/<test file>`` (the
tests that call ``replay_and_maybe_record``) and keep the old ones: they stand for workflows
still running in production. Every update the workflow defines must be in one of them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from schemas.lifecycle import WORKFLOW_TYPES
from workflows.request_types import REQUEST_WORKFLOWS
from workflows.service_request import ServiceRequestWorkflow

HISTORIES = sorted(Path(__file__).with_name("histories").glob("*.json"))


def test_there_are_recorded_histories() -> None:
    assert len(HISTORIES) >= 3


def updates_in(path: Path) -> set[str]:
    """The names of the updates a recorded history accepted."""
    return {
        e["workflowExecutionUpdateAcceptedEventAttributes"]["acceptedRequest"]["input"]["name"]
        for e in json.loads(path.read_text())["events"]
        if "workflowExecutionUpdateAcceptedEventAttributes" in e
    }


def test_every_update_of_the_workflow_is_in_a_recorded_history() -> None:
    """A handler no history exercises could change without the replay suite noticing."""
    defined = set(workflow._Definition.must_from_class(ServiceRequestWorkflow).updates)
    recorded = set().union(*(updates_in(p) for p in HISTORIES))
    assert "publish_calendar" in defined
    assert defined <= recorded, f"no recorded history accepts {sorted(defined - recorded)}"


def test_recorded_histories_hold_runs_of_every_workflow_type() -> None:
    """Today's type and the first name's patched runs both replay on today's code."""
    types = {
        json.loads(p.read_text())["events"][0]["workflowExecutionStartedEventAttributes"][
            "workflowType"
        ]["name"]
        for p in HISTORIES
    }
    assert types == set(WORKFLOW_TYPES)


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_recorded_history_replays(path: Path) -> None:
    workflow_id = f"replay-{path.stem}"
    history = WorkflowHistory.from_json(workflow_id, json.loads(path.read_text()))
    replayer = Replayer(workflows=[*REQUEST_WORKFLOWS], data_converter=pydantic_data_converter)
    result = await replayer.replay_workflow(history, raise_on_replay_failure=True)
    assert result.replay_failure is None
