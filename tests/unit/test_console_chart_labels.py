"""Chart labels on the 考核 and 策略推演 pages: institutions by name, cut to fit their room.

A label is anchored at its end, so a name longer than its room would lose its start (the place
that tells the institutions apart) off the chart's left edge.
"""

from __future__ import annotations

from unicodedata import east_asian_width

from api.console import assessment, whatif
from api.console.views import Texts, fit_label
from api.models import AssessmentRow
from tierflow.i18n import translations

LONG = "大理白族自治州祥云县中小企业服务机构（系统生成）"  # 25 wide characters
SHORT = "杭州市拱墅区中小企业服务中心"


def width(text: str, size: float = 12.0) -> float:
    return sum(size if east_asian_width(c) in ("W", "F") else 0.6 * size for c in text)


def test_a_name_that_fits_is_kept_whole() -> None:
    assert fit_label(SHORT, 212) == SHORT
    assert fit_label("zj-330105-sme", 100) == "zj-330105-sme"  # 13 narrow characters: 93.6


def test_a_long_name_keeps_its_start_and_ends_in_an_ellipsis() -> None:
    label = fit_label(LONG, 212)
    assert label == "大理白族自治州祥云县中小企业服务…"  # 16 + the ellipsis: 204 units
    assert width(label) <= 212
    assert LONG.startswith(label.removesuffix("…"))


def test_narrow_characters_take_less_room_than_wide_ones() -> None:
    assert fit_label("a" * 29, 212) == "a" * 29  # 208.8 units (348 if counted as wide)
    assert fit_label("a" * 40, 212) == "a" * 27 + "…"


def row(group: str, rate: float) -> AssessmentRow:
    return AssessmentRow.model_construct(group=group, satisfaction_rate=rate)


def test_league_chart_labels_institutions_by_their_names() -> None:
    names = {"gen-532923": LONG, "zj-330105-sme": SHORT}
    rows = [row("gen-532923", 0.5), row("zj-330105-sme", 1.0), row("xx-000000-sme", 0.2)]
    bars = assessment.chart(rows, "satisfaction_rate", names)
    assert [b.label for b in bars] == [
        fit_label(LONG, assessment.CHART_LABEL - 8),
        SHORT,
        "xx-000000-sme",  # not in the directory: its id
    ]
    assert all(width(b.label) <= assessment.CHART_LABEL - 8 for b in bars)


def test_what_if_chart_labels_fit_and_keep_the_whole_name_for_the_title() -> None:
    texts = Texts("zh-CN", translations("zh-CN"))
    figures = {"before": {"breaches": 3}, "after": {"breaches": 5}}
    bars = whatif.pair_chart(
        "institution", {"gen-532923": figures}, "breaches", texts, {"gen-532923": LONG}
    )
    [bar] = bars
    assert bar.name == LONG
    assert bar.label.endswith("…") and LONG.startswith(bar.label[:-1])
    assert width(bar.label) <= whatif.CHART_LABEL - 8
