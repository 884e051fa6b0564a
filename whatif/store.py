"""Saved what-if runs (table ``whatif_run``): who ran which candidate over which requests.

A policy promotion names the run that justified it (``tierflow.policy_store``), so a run is
kept whole: the candidate as given, the scope, and the report.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from tierflow.db.models import WhatIfRun
from whatif.report import Report
from whatif.trail import Scope


@dataclass(frozen=True)
class RunSummary:
    """A saved run as lists show it."""

    run_id: str
    created_at: datetime
    run_by: str
    candidate_version: str
    requests: int
    changed: int


def save_run(
    engine: Engine,
    report: Report,
    candidate_text: str,
    scope: Scope,
    run_by: str,
    candidate_calendar: str | None = None,
    held_above: int = 0,
) -> str:
    """Keep a run; return its id. ``candidate_calendar``: the calendar JSON the run tried
    instead of the policy's own (None: the policy's); ``held_above``: the requests of the
    region and period left out as tiers above the caller's hold them now (kept with the
    scope, so that the page says so)."""
    run_id = f"wi-{datetime.now(UTC):%Y%m%d%H%M%S}-{uuid.uuid4().hex[:6]}"
    data = report.as_dict()
    with Session(engine) as session:
        session.add(
            WhatIfRun(
                run_id=run_id,
                created_at=datetime.now(UTC),
                run_by=run_by,
                candidate_version=report.candidate_version,
                candidate_content=candidate_text,
                candidate_calendar=candidate_calendar,
                since=scope.since,
                until=scope.until,
                scope={
                    **scope.as_dict(),
                    **({"held_above": held_above} if held_above else {}),
                    # the instant the data stood for: with it the run can be made again
                    **({"as_of": data["as_of"]} if data.get("as_of") else {}),
                },
                requests=data["requests"],
                changed=len(data["changed"]),
                report=json.dumps(data, ensure_ascii=False, default=str),
            )
        )
        session.commit()
    return run_id


def list_runs(engine: Engine, limit: int = 50) -> list[RunSummary]:
    """The newest runs first."""
    query = select(WhatIfRun).order_by(col(WhatIfRun.created_at).desc()).limit(limit)
    with Session(engine) as session:
        return [
            RunSummary(
                run.run_id,
                run.created_at,
                run.run_by,
                run.candidate_version,
                run.requests,
                run.changed,
            )
            for run in session.exec(query)
        ]


def load_run(engine: Engine, run_id: str) -> tuple[WhatIfRun, dict[str, Any]] | None:
    """A saved run and its report, or None."""
    with Session(engine) as session:
        run = session.get(WhatIfRun, run_id)
        if run is None:
            return None
        session.expunge(run)
    return run, json.loads(run.report)
