"""The console shows a request waiting for an operator: a badge in the queue and on the case
page, the failed step and its error, and a note when the timeline is shortened."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from api.console import language
from api.console.calendars import DisplayCalendars
from api.console.views import Clockwork
from api.models import QueuePage, RequestItem
from schemas.domain import Role, State, Tier
from schemas.lifecycle import Institution, OperatorHold, WorkflowState
from tests.utils.console_cases import case_page_context, county_case
from tierflow.auth_store import Principal
from workflows import views

NOW = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)
BADGE = "⚙</span> 待运维处理</span>"  # zh-CN, the console's default language


def held_case() -> WorkflowState:
    """A request whose escalation failed permanently, with a long shortened timeline."""
    county = Institution(
        id="county-330106", name="county centre", tier=Tier.COUNTY, division_code="330106"
    )
    case = county_case(NOW, State.ASSIGNED, county)
    case.operator = OperatorHold(
        step="resolve_institution",
        error_type="Permanent.KeyError",
        message="resolve_institution: KeyError: 'municipal entry missing'",
        since=NOW - timedelta(hours=2),
        redo="escalate",
    )
    return case


def render(name: str, now: datetime = NOW, **context: object) -> str:
    """The page as the console renders it at ``now``."""
    user = Principal(user_id="ops", role=Role.ADMIN)
    env = language.BY_LOCALE["zh-CN"].env
    clocks = Clockwork(env.globals["texts"], now, DisplayCalendars(None))  # type: ignore[arg-type]
    base = {"user": user, "csrf": "", "can_report": True, "can_submit": True, "now": now}
    named = {"unit": lambda unit: unit or ""}  # no directory table here: ids as they are
    return env.get_template(name).render(
        **base, **named, clocks=clocks, here="/console/", **context
    )


def test_queue_marks_requests_waiting_for_an_operator() -> None:
    view = views.request_view(held_case(), NOW)
    item = RequestItem(**view.summary.model_dump(), next_due_at=None)
    calm = item.model_copy(update={"request_id": "req-calm", "needs_operator": False})
    page = QueuePage(total=2, limit=50, offset=0, items=[item, calm])
    options: dict[str, list[str]] = {"state": [], "category": [], "priority": [], "sla_status": []}
    html = render("queue.html", page=page, filters={}, scope={}, options=options)
    assert view.summary.needs_operator
    assert html.count(BADGE) == 1


def test_case_page_names_the_failed_step_and_the_shortened_timeline() -> None:
    html = render("case.html", **case_page_context(held_case(), NOW))
    assert BADGE in html
    assert "municipal entry missing" in html and "resolve_institution" in html
    assert "更早的 900 条在审计记录中" in html
