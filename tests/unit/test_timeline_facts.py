"""A timeline entry names what its event names or sets (a co-handling unit, a handler, days,
deadlines, a rating), read in the reader's language: the unit by its name, instants in
China's time."""

from __future__ import annotations

from schemas.lifecycle import TIMELINE_FACTS, timeline_facts
from tierflow.i18n import translations
from tierflow.i18n.facts import LABELS, fact_texts

ZH, EN = translations("zh-CN"), translations("en")
NAMES = {"zj-330106-sme": "杭州市西湖区中小企业服务中心"}


def test_the_facts_are_the_details_a_reader_needs_in_a_fixed_order() -> None:
    details = {
        "rating": 2,
        "co_handler": "zj-330106-sme",
        "part_due_at": "2026-12-09T09:30:00+00:00",
        "days": None,  # as asked: none asked
        "paused_seconds": 40,  # the audit trail's, not the reader's
        "stage": "intake",
        "rectify": True,
    }
    facts = timeline_facts(details)
    assert facts == {
        "co_handler": "zj-330106-sme",
        "part_due_at": "2026-12-09T09:30:00+00:00",
        "rating": 2,
    }
    assert list(facts) == [name for name in TIMELINE_FACTS if name in facts]
    assert set(LABELS) | {"days"} == set(TIMELINE_FACTS)  # every fact has its words


def test_facts_read_in_chinese_and_english() -> None:
    facts = timeline_facts(
        {
            "co_handler": "zj-330106-sme",
            "part_due_at": "2026-12-09T09:30:00+00:00",
            "days": 3,
            "handler_id": "cw_xh",
            "rating": 2,
        }
    )
    assert fact_texts(facts, ZH, lambda unit: NAMES.get(unit, unit)) == [
        "协办单位：杭州市西湖区中小企业服务中心",
        "协办期限：2026年12月9日 17:30",
        "承办人：cw_xh",
        "3 个工作日",
        "评价：2 分（满分 5 分）",
    ]
    assert fact_texts({"days": 1, "co_handler": "zj-1"}, EN) == [
        "co-handling unit: zj-1",  # no name known: the id
        "1 working day",
    ]
    assert fact_texts({"suspended_until": "not an instant"}, EN) == [
        "suspended until: not an instant"
    ]


def test_a_follow_up_call_says_what_the_enterprise_said_and_which_call_it_was() -> None:
    """回访 "unreachable, the first of three calls" reads so, not a bare 回访."""
    facts = timeline_facts({"outcome": "unreachable", "attempt": 1})
    assert fact_texts(facts, ZH) == ["企业反馈：联系不上", "回访：第 1 次"]
    assert fact_texts(timeline_facts({"outcome": "satisfied", "attempt": 2}), EN) == [
        "the enterprise said: Satisfied: solved",
        "call: no. 2",
    ]
