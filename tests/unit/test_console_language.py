"""The console and the CLI speak Chinese by default and English on request, from catalogs.

The catalogs hold every message the sources mark (extracted afresh with Babel and compared),
every code (state, tier, category, action, event, ...) has words in both languages, and every
page rendered in Chinese shows no English word that is not a name, an id or a code.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace

import pytest
from babel.util import pathmatch

from api.console import assessment as assessment_page
from api.console import language
from api.console.calendars import DisplayCalendars
from api.console.views import (
    Clockwork,
    Texts,
    business_left,
    clock_bars,
    working_stretches,
)
from api.models import AssessmentRow, QueuePage, RequestItem, RequestRow
from schemas.domain import Category, ClockKind, Priority, Role, SlaStatus, State, Tier
from schemas.lifecycle import (
    ActionKind,
    Institution,
    ReturnReason,
    SlaClock,
    SuspendReason,
    WorkflowState,
    clocks_in_order,
)
from schemas.policy import CalendarData
from tests.utils.console_cases import county_case
from tests.utils.language import english_words as latin_words
from tests.utils.language import mixed_punctuation
from tierflow.assessment import COUNTS, GROUPINGS, RATES, Mark
from tierflow.auth_store import Principal
from tierflow.i18n import LOCALES, from_accept_language, from_environment, translations
from tierflow.i18n.catalogs import SOURCES, extract, problems
from tierflow.i18n.formats import remaining, when
from tierflow.i18n.labels import BY_ENUM, figure_label, figure_outcome, label
from workflows import views as workflow_views

NOW = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)  # a Monday, 11:00 in China


@pytest.fixture(scope="module")
def template() -> object:
    return extract()


@pytest.mark.parametrize("locale", LOCALES)
def test_the_catalog_holds_every_message_of_the_sources(locale: str, template: object) -> None:
    assert problems(locale, template) == []  # type: ignore[arg-type]


def test_every_module_that_marks_messages_is_extracted() -> None:
    """A module with ``N_()`` messages that the extraction leaves out has them shown in
    English in every language (the catalog check cannot see what it never extracted)."""
    root = Path(__file__).resolve().parents[2]
    marked = {
        path.relative_to(root).as_posix()
        for folder in ("workflows", "schemas", "api", "tierflow", "workers", "whatif")
        for path in (root / folder).rglob("*.py")
        if "N_(" in path.read_text("utf-8") and "i18n/catalogs.py" not in path.as_posix()
    }
    extracted = {
        f"{folder}/{path.relative_to(root / folder).as_posix()}"
        for folder, methods in SOURCES.items()
        for path in (root / folder).rglob("*.py")
        for pattern, method in methods
        if method == "python" and pathmatch(pattern, path.relative_to(root / folder).as_posix())
    }
    assert sorted(marked - extracted) == []


def test_every_code_has_words_in_both_languages() -> None:
    zh, en = translations("zh-CN"), translations("en")
    for enum, table in BY_ENUM.items():
        assert set(table) == set(enum), enum.__name__
        for member in enum:
            assert label(member, en) == table[member][1]
            chinese = label(member, zh)
            assert chinese != table[member][1] and re.search(r"[\u4e00-\u9fff]", chinese), member
    assert [label(t, zh) for t in Tier] == ["县级", "市级", "省级", "国家级"]
    terms = {label(k, zh) for k in ActionKind}
    assert {"签收", "受理", "退单", "申请延期", "申请挂起", "办结", "登记评价"} <= terms
    assert label("escalated", zh) == "上报上级"  # a TierHold.left_by code is an event's


def test_dates_and_business_durations_read_as_chinese_users_read_them() -> None:
    zh, en = translations("zh-CN"), translations("en")
    at = datetime(2026, 12, 1, 6, 6, tzinfo=UTC)
    assert when(at, zh) == "2026年12月1日 14:06" and when(at, en) == "2026-12-01 14:06"
    # past the calendar in China's zone (a text that reads as the engine's, typed by a person)
    end_of_time = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
    assert when(end_of_time, zh) == "9999-12-31T23:59:59+00:00"
    day = 7 * 3600  # the packaged calendar's working day: 09:00-12:00 and 13:30-17:30
    assert remaining(2 * day + 3 * 3600, day, zh) == "剩余 2 个工作日 3 小时"
    assert remaining(-(3600 + 60), day, zh) == "已超时 1 小时 1 分"
    assert remaining(day + 3600, day, en) == "1 working day 1 h left"


def test_language_choice_follows_the_header_and_the_environment() -> None:
    assert from_accept_language("en-US,en;q=0.9,zh-CN;q=0.8") == "en"
    assert from_accept_language("zh-TW;q=0.5, en;q=0.4") == "zh-CN"
    assert from_accept_language("fr-FR, de") is None
    assert from_environment({}) == "zh-CN"
    assert from_environment({"LANG": "C.UTF-8"}) == "zh-CN"
    assert from_environment({"LANG": "en_US.UTF-8"}) == "en"
    assert from_environment({"LANG": "en_US.UTF-8", "TIERFLOW_LANG": "zh-CN"}) == "zh-CN"


def test_countdowns_count_business_time_on_the_calendar() -> None:
    cal = CalendarData(version="plain-2026-2026", first_year=2026, last_year=2026)
    friday_evening = datetime(2026, 3, 6, 10, 0, tzinfo=UTC)  # 18:00 in China
    monday_morning = datetime(2026, 3, 9, 2, 0, tzinfo=UTC)  # 10:00: one business hour later
    assert business_left(monday_morning, friday_evening, cal) == 3600
    assert business_left(friday_evening, monday_morning, cal) == -3600
    stretches = working_stretches(friday_evening, cal)
    assert stretches == []  # nothing works over the weekend's 48 hours
    monday = working_stretches(monday_morning, cal)
    assert monday[0] == (int(monday_morning.timestamp()), int(monday_morning.timestamp()) + 7200)
    texts = Texts("zh-CN", translations("zh-CN"))
    clocks = Clockwork(texts, friday_evening, DisplayCalendars(None))
    shown = clocks.countdown(monday_morning, friday_evening)
    assert shown.text == "剩余 1 小时 0 分" and shown.title == "截止 2026年3月9日 10:00"


# --------------------------------------------------------------------------- rendered pages
class _Text(HTMLParser):
    """The text a person reads: element text, titles, labels, placeholders, alt texts."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        for name, value in attrs:
            if name in ("title", "aria-label", "placeholder", "alt") and value:
                self.parts.append(value)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def english_words(html: str) -> set[str]:
    reader = _Text()
    reader.feed(html)
    return latin_words(" ".join(reader.parts))


def page_punctuation(html: str) -> list[str]:
    reader = _Text()
    reader.feed(html)
    return mixed_punctuation("\n".join(" ".join(part.split()) for part in reader.parts))


def held_case() -> WorkflowState:
    county = Institution(
        id="zj-330106-sme", name="西湖区中小企业服务中心", tier=Tier.COUNTY, division_code="330106"
    )
    return county_case(NOW, State.IN_PROGRESS, county)


def pages() -> dict[str, dict[str, object]]:
    """Every console page with the data it shows, as its route renders it."""
    view = workflow_views.request_view(held_case(), NOW)
    item = RequestItem(**view.summary.model_dump(), next_due_at=NOW + timedelta(hours=30))
    late = item.model_copy(
        update={
            "request_id": "req-2",
            "sla_status": SlaStatus.BREACHED,
            "next_due_at": NOW - timedelta(hours=2),
            "escalation_count": 1,
            "needs_operator": True,
        }
    )
    row = RequestRow(
        **item.model_dump(),
        contact_name="王芳",
        contact_phone=None,
        contact_email=None,
        description="需要流动资金",
        channel="portal",
    )
    options = {
        "state": list(State),
        "category": list(Category),
        "priority": list(Priority),
        "sla_status": list(SlaStatus),
    }
    kinds = [ActionKind.SIGN_FOR, ActionKind.RETURN, ActionKind.SUSPEND, ActionKind.TRANSFER]
    actions = [
        {"kind": k, "text_label": "理由", "dangerous": False, "key": f"k-{k.value}"} for k in kinds
    ]
    texts = Texts("zh-CN", translations("zh-CN"))
    cal = DisplayCalendars(None).for_year(2026)
    return {
        "queue.html": {
            "page": QueuePage(total=2, limit=50, offset=0, items=[item, late]),
            "filters": {"state": "", "category": "", "priority": "", "sla_status": ""},
            "include_closed": False,
            "scope": {"institution": "", "tier": "county"},
            "tiers": {t.value: t for t in Tier},
            "options": options,
            "done": "sign_for",
            "moved": "",
            "submitted": "req-3",
            "search": "",
            "sort": "risk",
            "sorts": [type("S", (), {"value": v}) for v in ("risk", "newest", "oldest")],
            "csv_url": "/console/requests.csv?",
        },
        "case.html": {
            "detail": {"request_id": "req-held", "grade_applied": None},
            "row": row,
            "view": view,
            "summary": view.summary,
            "bars": clock_bars(view, NOW, texts, cal),
            "clock_rows": clocks_in_order(view.clocks),
            "estimated_years": "2027",  # a deadline on the estimated calendar: the note shows
            "calendar": cal,
            "bar_width": 1000,
            "actions": actions,
            "return_reasons": list(ReturnReason),
            "suspend_reasons": list(SuspendReason),
            "temporal_url": "http://temporal/",
            "workflow_id": "request-req-held",
            "done": "submit",
            "failed": ActionKind.RETURN,
            "error": "理由不足",
            "field_errors": {},
            "values": {},
        },
        "overview.html": {"rows": [], "tiers": [], "region": "3301"},
        "assessment.html": league_table_context(),
        "assessment.html?by=province": league_table_context("province"),
        "assessment.html?by=tier": league_table_context("tier"),
        "assessment_requests.html": behind_context(view.summary),
        "inbox.html": {"page": SimpleNamespace(unread=0, items=[]), "unread_only": False},
        "preferences.html": {
            "pref": {"inbox": True},
            "values": {"locale": "zh-CN"},
            "locales": LOCALES,
            "saved": True,
        },
        "submit.html": {
            "values": {},
            "errors": {},
            "error": "",
            "options": options | {"size_class": [], "grade": []},
        },  # fmt: skip
        "login.html": {
            "next": "/console/",
            "error": "",
            "login_csrf": "x",
            "idle_minutes": "30",
            "max_hours": "12",
        },  # fmt: skip
        "error.html": {"status": 404, "message": "工单不存在"},
    }


GROUPS = {
    "institution": (
        ["zj-330106-sme", "zj-330105-sme"],
        {"zj-330106-sme": "西湖区中小企业服务中心"},
    ),
    "province": (["330000", "unknown"], {"330000": "浙江省", "unknown": "名录中无此机构"}),
    "tier": (["county", "municipal"], {"county": "县级", "municipal": "市级"}),
}


def league_table_context(by: str = "institution") -> dict[str, object]:
    """The league table with two rows (institutions or groups), one with nothing to measure."""
    zh = translations("zh-CN")
    period = assessment_page.Period(date(2026, 2, 1), date(2026, 2, 28))
    figures = dict.fromkeys(COUNTS, 2) | dict.fromkeys(RATES, 0.95)
    (first, second), names = GROUPS[by]
    unit = (lambda g: g) if by == "institution" else (lambda g: None)
    rows = [
        AssessmentRow(group=first, institution_id=unit(first), tier=Tier.COUNTY, **figures),
        AssessmentRow(
            group=second,
            institution_id=unit(second),
            tier=Tier.COUNTY,
            **dict.fromkeys(COUNTS, 0) | dict.fromkeys(RATES),
        ),
    ]
    return {
        "period": period,
        "quick": [
            (k, p, "/console/assessment?")
            for k, p in assessment_page.quick_periods(date(2026, 3, 2))
        ],
        "rows": rows,
        "names": names,
        "by": by,
        "groupings": [(name, f"/console/assessment?by={name}") for name in GROUPINGS],
        "sort": "satisfaction_rate",
        "descending": True,
        "rates": list(RATES),
        "counts": list(COUNTS),
        "figure": lambda name: figure_label(name, zh),
        "percent": assessment_page.percent,
        "band": assessment_page.band,
        "sort_url": lambda name: f"/console/assessment?sort={name}",
        "behind_url": lambda unit, name: f"/console/assessment/requests?figure={name}",
        "charts": [(r, assessment_page.chart(rows, r, names)) for r in RATES],
        "chart": {"width": 640, "label": 190, "bar": 360, "row": 22, "rows": 2},
        "csv_url": "/console/assessment.csv?",
    }


def behind_context(summary: object) -> dict[str, object]:
    zh = translations("zh-CN")
    mark = Mark("req-held", "zj-330106-sme", NOW, True)
    return {
        "period": assessment_page.Period(date(2026, 2, 1), date(2026, 2, 28)),
        "group": "zj-330106-sme",
        "name": "西湖区中小企业服务中心",
        "figure": "satisfaction_rate",
        "figure_label": figure_label("satisfaction_rate", zh),
        "rate": True,
        "value": "50.0%",
        "counted": 1,
        "total": 2,
        "rows": [(mark, True, summary), (mark, False, None)],
        "shown": 1,
        "outcome": lambda counts: figure_outcome("satisfaction_rate", counts, zh),
        "back_url": "/console/assessment?",
    }


@pytest.mark.parametrize("name", sorted(pages()))
def test_every_page_in_chinese_shows_no_english_outside_names_and_codes(name: str) -> None:
    user = Principal(user_id="ops", role=Role.SUPERVISOR, institution_id="zj-330100-sme")
    html = render("zh-CN", name, user)
    assert '<html lang="zh-CN"' in html
    assert english_words(html) == set(), name
    assert page_punctuation(html) == [], name
    english = render("en", name, user)
    assert '<html lang="en"' in english and english_words(english)  # the same page in English


def render(locale: str, name: str, user: Principal) -> str:
    templates = language.BY_LOCALE[locale]
    texts = templates.env.globals["texts"]
    base = {
        "user": user,
        "csrf": "",
        "can_report": True,
        "can_submit": True,
        "now": NOW,
        "here": "/console/",
        "unit": lambda unit: unit or "",  # no directory table here: ids as they are
        "request": None,
        "clocks": Clockwork(texts, NOW, DisplayCalendars(None)),  # type: ignore[arg-type]
        "active": "",
    }
    template = name.split("?")[0]  # a key may name one of a template's variants
    return templates.env.get_template(template).render(**base, **pages()[name])


def test_typography_follows_the_language() -> None:
    """Chinese puts no space after a full-width colon and uses full-width parentheses and
    commas; English its own; a known submission channel is named in words."""
    zh, en = Texts("zh-CN", translations("zh-CN")), Texts("en", translations("en"))
    assert zh.after("状态：") + "已受理" == "状态：已受理"
    assert en.after("State:") + "Accepted" == "State: Accepted"
    assert zh.after("按工作时间计算。") + "页面生成于" == "按工作时间计算。页面生成于"
    assert "县级" + zh.aside("zj-330105-sme") == "县级（zj-330105-sme）"
    assert "County" + en.aside("zj-330105-sme") == "County (zj-330105-sme)"
    assert str(zh.aside("<b>")) == "（&lt;b&gt;）"  # text is escaped, markup kept
    assert zh.listed(["罗宇宇", "15209471122"]) == "罗宇宇、15209471122"
    assert en.listed(["Luo", "15209471122"]) == "Luo, 15209471122"
    assert (zh.channel("walk-in"), en.channel("walk-in")) == (
        "窗口受理",
        "Walk-in at the service window",
    )
    assert zh.channel("financing-platform") == "financing-platform"  # a system's own name


def test_clocks_are_listed_as_a_request_meets_them() -> None:
    """Each tier in the order it held the request; within one, 签收, 响应, 办结 (the workflow
    made the response and resolution clocks at routing, the sign-for one after)."""
    at = NOW

    def clock(kind: ClockKind, tier: Tier) -> SlaClock:
        return SlaClock(kind=kind, tier=tier, target_seconds=60, started_at=at)

    made = [
        clock(ClockKind.RESPONSE, Tier.COUNTY),
        clock(ClockKind.RESOLUTION, Tier.COUNTY),
        clock(ClockKind.SIGN_FOR, Tier.COUNTY),
        clock(ClockKind.RESOLUTION, Tier.MUNICIPAL),
        clock(ClockKind.SIGN_FOR, Tier.MUNICIPAL),
    ]
    assert [(c.tier.value, c.kind.value) for c in clocks_in_order(made)] == [
        ("county", "sign_for"),
        ("county", "response"),
        ("county", "resolution"),
        ("municipal", "sign_for"),
        ("municipal", "resolution"),
    ]
