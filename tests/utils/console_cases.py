"""Requests the console tests render, built as the workflow holds them."""

from __future__ import annotations

from datetime import datetime, timedelta

from schemas.domain import OPEN_STATES, State, Tier
from schemas.lifecycle import Institution, WorkflowState, clocks_in_order, next_due
from tests.utils.factories import make_policy, make_request
from workflows import views


def county_case(now: datetime, state: State, institution: Institution) -> WorkflowState:
    """``req-held``, held by a county unit since a day before ``now``; 900 older entries cut."""
    case = WorkflowState(request=make_request("req-held"), policy=make_policy())
    case.state, case.tier, case.institution = state, Tier.COUNTY, institution
    case.submitted_at = now - timedelta(days=1)
    case.timeline_truncated = 900
    return case


def case_page_context(case: WorkflowState, now: datetime, **extra: object) -> dict[str, object]:
    """What the case route hands its template for ``case``, with ``extra`` on top."""
    view = views.request_view(case, now)
    return {
        "detail": {"request_id": "req-held", "allowed_actions": view.allowed_actions},
        "row": None,
        "view": view,
        "summary": view.summary,
        "next_due": next_due(view.summary),
        "bars": [],
        "clock_rows": clocks_in_order(view.clocks),
        "bar_width": 600,
        "actions": [],
        "role_kinds": [],
        "temporal_url": "http://temporal/",
        "workflow_id": "request-req-held",
        "field_errors": {},
        "open_states": {state.value for state in OPEN_STATES},
        "values": {},
        "unit_choices": [],
        "dispatch_choices": [],
        "part_choices": [],
        **extra,
    }
