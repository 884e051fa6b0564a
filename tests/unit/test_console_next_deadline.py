"""The deadline a page puts first is the one the reader must meet next: a dispatched
request's sign-for (签收) before its response, and a concluded one's follow-up (回访) for the
follow-up desk, on the case page and in the queue."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from api.console.views import iso as iso_z
from api.models import QueuePage, RequestItem
from schemas.domain import ClockKind, SlaStatus, State, Tier
from schemas.lifecycle import Institution, SlaClock, next_due
from tests.unit.test_console_operator_badge import render
from tests.utils.console_cases import case_page_context, county_case
from workflows import views

NOW = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)
COUNTY = Institution(id="zj-330106-sme", name="西湖区", tier=Tier.COUNTY, division_code="330106")
OPTIONS: dict[str, list[str]] = {"state": [], "category": [], "priority": [], "sla_status": []}


def case_page(state: State, **summary: object) -> str:
    case = county_case(NOW, state, COUNTY)
    shown = views.request_view(case, NOW).summary.model_copy(update=summary)
    context = case_page_context(case, NOW) | {"summary": shown, "next_due": next_due(shown)}
    return render("case.html", **context)


def queue_row(state: State, **summary: object) -> str:
    """The queue page with one row: a county request in ``state``, its summary updated."""
    next_due_at = summary.pop("next_due_at", None)
    shown = views.request_view(county_case(NOW, state, COUNTY), NOW).summary
    item = RequestItem(**shown.model_copy(update=summary).model_dump(), next_due_at=next_due_at)
    page = QueuePage(total=1, limit=50, offset=0, items=[item])
    return render("queue.html", page=page, filters={}, scope={}, options=OPTIONS)


def first_deadline(html: str) -> str:
    """The ``data-due`` of the case head's next deadline."""
    head = html.split('class="case-meta"')[1].split("</p>")[0]
    found = re.search(r'data-due="([^"]+)"', head)
    assert found, head
    return found.group(1)


def test_a_dispatched_request_shows_its_sign_for_deadline_first() -> None:
    sign_for, response = NOW + timedelta(hours=2), NOW + timedelta(hours=20)
    html = case_page(
        State.ASSIGNED,
        sign_for_due_at=sign_for,
        response_due_at=response,
        sla_status=SlaStatus.ON_TRACK,
    )
    assert first_deadline(html) == iso_z(sign_for)
    # the instant too, not only the business time left (剩余 … read the same at any hour)
    assert "（截止 3月2日 13:00）" in html.split('class="case-meta"')[1].split("</p>")[0]


def test_a_concluded_request_shows_when_its_follow_up_falls_due() -> None:
    due = NOW + timedelta(hours=5)
    html = case_page(State.RESOLVED, follow_up_due_at=due, sla_status=SlaStatus.STOPPED)
    assert first_deadline(html) == iso_z(due)
    assert "（回访时限，截止 3月2日 16:00）" in html.split('class="case-meta"')[1]
    queue = queue_row(State.RESOLVED, follow_up_due_at=due, sla_status=SlaStatus.STOPPED)
    assert f'data-due="{iso_z(due)}"' in queue and "回访时限" in queue
    assert "无计时" not in queue


@pytest.mark.parametrize(
    ("state", "field", "said"),
    [
        (State.SUSPENDED, "suspended_until", "暂停计时</span>（挂起至 2026年3月9日 17:30）"),
        (
            State.AWAITING_ENTERPRISE,
            "enterprise_reply_due_at",
            "暂停计时</span>（企业补充截止 2026年3月9日 17:30）",
        ),
    ],
)
def test_a_paused_request_says_until_when(state: State, field: str, said: str) -> None:
    """暂停计时 alone did not say when the clocks run again (挂起) or the enterprise's time to
    reply ends (待企业补充): the header names the instant."""
    until = datetime(2026, 3, 9, 9, 30, tzinfo=UTC)
    case = county_case(NOW, state, COUNTY)
    view = views.request_view(case, NOW).model_copy(update={field: until})
    shown = view.summary.model_copy(update={"sla_status": SlaStatus.PAUSED})
    context = case_page_context(case, NOW) | {"view": view, "summary": shown, "next_due": None}
    head = render("case.html", **context).split('class="case-meta"')[1].split("</p>")[0]
    assert said in head, head


def test_a_paused_row_in_the_queue_says_until_when() -> None:
    until = datetime(2026, 3, 9, 9, 30, tzinfo=UTC)
    queue = queue_row(State.SUSPENDED, paused_until=until, sla_status=SlaStatus.PAUSED)
    assert '暂停计时</span><br><small class="muted">至 3月9日 17:30</small>' in queue


def test_a_running_row_in_the_queue_says_by_when() -> None:
    """A countdown of business time alone (剩余 30 分) read the same on a Friday night as on
    a Monday morning: the row names the instant too, short (the year only if not this one)."""
    sign_for = datetime(2026, 3, 3, 1, 30, tzinfo=UTC)
    queue = queue_row(State.ASSIGNED, next_due_at=sign_for, sla_status=SlaStatus.ON_TRACK)
    assert f'data-due="{iso_z(sign_for)}"' in queue
    assert '<br><small class="muted">截止 3月3日 09:30</small>' in queue
    next_year = datetime(2027, 1, 4, 1, 30, tzinfo=UTC)
    queue = queue_row(State.ASSIGNED, next_due_at=next_year, sla_status=SlaStatus.ON_TRACK)
    assert "截止 2027年1月4日 09:30" in queue
    due = NOW + timedelta(hours=5)
    queue = queue_row(State.RESOLVED, follow_up_due_at=due, sla_status=SlaStatus.STOPPED)
    assert "回访时限，截止 3月2日 16:00" in queue


def test_the_clocks_table_names_each_running_deadline_and_the_time_left() -> None:
    """The 截止时间 column showed only the business time left (剩余 4 小时): the instant too."""
    due = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
    running = SlaClock(
        kind=ClockKind.RESPONSE,
        tier=Tier.COUNTY,
        target_seconds=4 * 3600,
        running_since=NOW,
        started_at=NOW,
        deadline=due,
    )
    case = county_case(NOW, State.ACKNOWLEDGED, COUNTY)
    bar = SimpleNamespace(tier=Tier.COUNTY, institution_id=COUNTY.id, since=NOW, until=None)
    bar.segments, bar.notes = [], []
    context = case_page_context(case, NOW, clock_rows=[running], bars=[bar], calendar=None)
    html = render("case.html", **context)
    cell = html.split('class="clocks"')[1].split("</tr>")[1].split("<td>")[-1]
    assert cell.startswith(f'<time datetime="{iso_z(due)}">2026年3月2日 15:00</time><br><small>')
    assert f'data-due="{iso_z(due)}"' in cell and "剩余" in cell
