"""The case page tells the holding unit until when it may return a request (退单), and that it
no longer may once the window ended: the form then vanished without a word, and a caseworker
could not tell "too late" from "not allowed"."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from api.console.routes import return_until
from schemas.domain import Role, State, Tier
from schemas.lifecycle import ActionKind, Institution, TierHold
from tests.unit.test_console_operator_badge import render
from tests.utils.console_cases import case_page_context, county_case
from tests.utils.factories import make_policy
from tierflow.auth_store import Principal
from workflows import applications, views
from workflows.business_time import business_day_seconds

NOW = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)  # Monday 11:00 in Shanghai
COUNTY = Institution(
    id="county-330106", name="county centre", tier=Tier.COUNTY, division_code="330106"
)
HOLDER = Principal("cw-1", Role.CASEWORKER, COUNTY.id)
OTHER = Principal("cw-2", Role.CASEWORKER, "county-330105")
TWO_DAYS = 2 * business_day_seconds(make_policy().calendar)  # two working days


def held_case(since: datetime, state: State = State.ACKNOWLEDGED):  # type: ignore[no-untyped-def]
    case = county_case(NOW, state, COUNTY)
    assert case.policy is not None
    case.policy = case.policy.model_copy(update={"return_window_seconds": TWO_DAYS})
    case.holds = [TierHold(tier=Tier.COUNTY, institution_id=COUNTY.id, since=since)]
    return case


def test_the_window_ends_two_working_days_after_the_unit_got_it() -> None:
    monday = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
    case = held_case(monday)
    tuesday_close = datetime(2026, 3, 3, 9, 30, tzinfo=UTC)  # 17:30 in Shanghai
    assert applications.return_until(case) == tuesday_close
    assert views.request_view(case, NOW).return_until == applications.return_until(case)
    without = held_case(monday)
    assert without.policy is not None
    without.policy = without.policy.model_copy(update={"return_window_seconds": None})
    assert applications.return_until(without) is None


def test_only_the_holding_units_people_are_told_and_only_while_it_is_open() -> None:
    view = views.request_view(held_case(NOW - timedelta(hours=1)), NOW)
    assert return_until(view, HOLDER) == view.return_until is not None
    assert return_until(view, OTHER) is None
    closed = views.request_view(held_case(NOW - timedelta(hours=1), State.CLOSED), NOW)
    assert return_until(closed, HOLDER) is None


def _page(since: datetime) -> str:
    case = held_case(since)
    view = views.request_view(case, NOW)
    offered = ActionKind.RETURN in view.allowed_actions
    return render(
        "case.html",
        **case_page_context(
            case, NOW, return_until=return_until(view, HOLDER), return_open=offered
        ),
    )


def test_the_page_says_until_when_or_that_the_window_ended() -> None:
    fresh = _page(NOW - timedelta(hours=1))
    assert 'id="return-window"' in fresh and "前申请退单" in fresh
    late = _page(NOW - timedelta(days=7))
    assert 'id="return-window"' in late and "退单期限已于" in late and "改派" in late


def test_a_redo_counts_the_window_from_the_dispatch_it_redoes() -> None:
    monday = datetime(2026, 2, 23, 1, 0, tzinfo=UTC)  # a week before
    case = held_case(monday)
    first = case.holds[0].model_copy(update={"left_by": "resolved", "until": NOW})
    redo = TierHold(tier=Tier.COUNTY, institution_id=COUNTY.id, since=NOW)
    case.holds = [first, redo]  # 重办: sent back to the unit that concluded it
    assert applications.return_until(case) == applications.return_until(held_case(monday))
    view = views.request_view(case, NOW)
    assert ActionKind.RETURN not in view.allowed_actions  # ended, as the page says
    page = render(
        "case.html",
        **case_page_context(case, NOW, return_until=return_until(view, HOLDER), return_open=False),
    )
    assert "退单期限已于" in page


def test_after_hours_past_the_end_still_offered_says_nothing_untrue() -> None:
    """At 20:00 the window that ended at 17:30 has used no business time since: the return is
    still offered until the next working morning, and the page names no past deadline."""
    tuesday_evening = datetime(2026, 3, 3, 12, 0, tzinfo=UTC)  # 20:00 in Shanghai
    case = held_case(datetime(2026, 3, 2, 1, 0, tzinfo=UTC))
    view = views.request_view(case, tuesday_evening)
    assert ActionKind.RETURN in view.allowed_actions
    context = case_page_context(
        case, tuesday_evening, return_until=return_until(view, HOLDER), return_open=True
    )
    assert 'id="return-window"' not in render("case.html", tuesday_evening, **context)
