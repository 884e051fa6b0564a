"""What an open request waits for besides its unit (the desks' and supervisors' worklists),
as the summary reports it to the read model, and how the read model's column holds it."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

from api.console.routes import queue_query
from api.models import QueuePage, RequestItem
from api.service.requests import requests_csv
from schemas.domain import Role, State, Tier
from schemas.lifecycle import (
    ActionKind,
    ActionRequest,
    Awaiting,
    Institution,
    RequestSummary,
    TierHold,
)
from schemas.request import Actor
from tests.unit.test_console_operator_badge import render
from tests.utils.console_cases import county_case
from tierflow.auth_store import Principal
from tierflow.db.models import awaiting_codes, awaiting_text
from workflows import applications, chasing, records

NOW = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)
COUNTY = Institution(id="zj-330106-sme", name="西湖区", tier=Tier.COUNTY, division_code="330106")
WORKER = Actor(
    id="cw-1",
    role=Role.CASEWORKER,
    institution_id=COUNTY.id,
    tier=Tier.COUNTY,
    division_code="330106",
)


def test_a_conclusion_waits_for_its_follow_up_until_it_is_made() -> None:
    case = county_case(NOW, State.RESOLVED, COUNTY)
    assert records.awaiting(case) == []  # no follow-up due (a policy without one)
    case.follow_up_due_at = NOW + timedelta(days=1)
    assert records.summary(case, NOW).awaiting == [Awaiting.FOLLOW_UP]
    case.followed_up = True
    assert records.awaiting(case) == []
    case.followed_up, case.state = False, State.IN_PROGRESS  # sent back to the unit: 重办
    assert records.awaiting(case) == []


def test_pending_applications_and_a_supervision_wait_for_their_deciders() -> None:
    case = county_case(NOW, State.IN_PROGRESS, COUNTY)
    case.holds = [TierHold(tier=Tier.COUNTY, institution_id=COUNTY.id, since=NOW)]
    asked = ActionRequest(
        action_id="a-1", kind=ActionKind.REQUEST_EXTENSION, actor=WORKER, days=3, text="等银行"
    )
    applications.ask(case, asked, NOW)
    chasing.open_supervision(case, "sup-1", "请说明进展", None, NOW, 3)
    assert records.awaiting(case) == [Awaiting.EXTENSION_DECISION, Awaiting.SUPERVISION_REPLY]
    case.applications[-1].decided_at = NOW  # decided: off the supervisors' worklist
    assert records.awaiting(case) == [Awaiting.SUPERVISION_REPLY]


def test_a_co_handlers_supervision_is_not_the_holding_units_reply_to_write() -> None:
    """督办 of a late 协办 part waits for the co-handler's reply (the read model's part keeps
    it), not the holder's: the request's own flag stays off."""
    case = county_case(NOW, State.IN_PROGRESS, COUNTY)
    chasing.open_supervision(case, "sup-1", "请说明协办进展", "part:zj-330105-sme", NOW, 3)
    assert records.awaiting(case) == []


def test_the_column_holds_each_code_between_spaces() -> None:
    codes = [Awaiting.RETURN_DECISION, Awaiting.SUPERVISION_REPLY]
    text = awaiting_text(codes)
    assert text == " return_decision supervision_reply "
    assert " supervision_reply " in text and awaiting_codes(text) == codes
    assert (awaiting_text([]), awaiting_codes(None)) == (None, [])


def test_a_desk_queue_opens_on_its_worklist() -> None:
    """The follow-up desk's queue opens on 待回访, the dispatch desk's on what it decides (退单
    and 延期); "any" (an empty choice) shows everything, and a caseworker's queue has no
    worklist by default."""
    desk = Principal("desk-1", Role.FOLLOW_UP, "zj-330100-sme", Tier.MUNICIPAL, "330100")
    dispatch = Principal("disp-1", Role.DISPATCHER, "zj-330100-sme", Tier.MUNICIPAL, "330100")
    worker = Principal("cw-1", Role.CASEWORKER, COUNTY.id, Tier.COUNTY, "330106")
    assert queue_query(desk)[0].awaiting == (Awaiting.FOLLOW_UP,)
    decides = (Awaiting.RETURN_DECISION, Awaiting.EXTENSION_DECISION)
    assert queue_query(dispatch)[0].awaiting == decides
    assert queue_query(dispatch, awaiting="return_decision")[0].awaiting == decides[:1]
    assert queue_query(dispatch, awaiting="desk")[0].awaiting == decides  # its own, chosen
    assert queue_query(desk, awaiting="")[0].awaiting == ()
    assert queue_query(worker)[0].awaiting == ()
    assert queue_query(worker, awaiting="appeal_decision")[0].awaiting == (
        Awaiting.APPEAL_DECISION,
    )


def test_the_queue_names_the_worklist_and_what_each_request_waits_for() -> None:
    case = county_case(NOW, State.RESOLVED, COUNTY)
    case.follow_up_due_at = NOW + timedelta(days=1)
    item = RequestItem(**records.summary(case, NOW).model_dump(), next_due_at=None)
    page = QueuePage(total=1, limit=50, offset=0, items=[item])
    options = {"state": [], "category": [], "priority": [], "sla_status": [], "awaiting": []}
    html = render(
        "queue.html",
        page=page,
        filters={},
        scope={},
        options=options,
        worklist=[Awaiting.FOLLOW_UP],
    )
    assert "<h1>待回访</h1>" in html
    both = [Awaiting.RETURN_DECISION, Awaiting.EXTENSION_DECISION]
    html = render("queue.html", page=page, filters={}, scope={}, options=options, worklist=both)
    assert "<h1>退单待决定、延期待审批</h1>" in html
    assert '<span class="tag awaiting">待回访</span>' in html


def test_the_csv_export_names_what_each_request_waits_for() -> None:
    case = county_case(NOW, State.IN_PROGRESS, COUNTY)
    chasing.open_supervision(case, "sup-1", "请说明进展", None, NOW, 3)
    item = RequestItem(**records.summary(case, NOW).model_dump(), next_due_at=None)
    (row,) = csv.DictReader(io.StringIO(requests_csv([item]).lstrip("\ufeff")))
    assert row["awaiting"] == "supervision_reply"


def test_a_code_of_a_newer_release_is_left_out_not_an_error() -> None:
    """During a rolling upgrade a newer release's worker may write a code this one does not
    know: reading the row leaves it out."""
    assert awaiting_codes(" return_decision waiting_for_the_moon ") == [Awaiting.RETURN_DECISION]


def test_a_summary_of_a_newer_release_reads_without_its_unknown_code() -> None:
    """An event a newer worker published during a rolling upgrade: the notifier and the
    API read its summary, leaving out the worklist code they do not know."""
    case = county_case(NOW, State.IN_PROGRESS, COUNTY)
    sent = records.summary(case, NOW).model_dump(mode="json")
    sent["awaiting"] = ["follow_up", "waiting_for_the_moon"]
    assert RequestSummary.model_validate(sent).awaiting == [Awaiting.FOLLOW_UP]
