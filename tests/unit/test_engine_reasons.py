"""The engine's own audit-trail reasons read in the reader's language; a person's stay as
written. Every reason the workflow builds (``schemas.engine_reasons``) is covered."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from schemas import engine_reasons as written
from tierflow.i18n import translations
from tierflow.i18n.engine_reasons import FIXED, engine_reason

ZH = translations("zh-CN")
AT = datetime(2026, 3, 2, 1, 30, tzinfo=UTC)
BUILT = {
    written.calendar_changed("2026.1", "2026.2"): "工作日历由 2026.1 更新为 2026.2",
    written.rectification_opened(1): "评价 1 分，启动整改",
    written.followed_up("unsatisfied"): "回访：",
    written.part_late("zj-330105-sme"): "zj-330105-sme 的协办任务逾期",
    written.late_since("sign_for", AT): "签收自 2026年3月2日 09:30 起逾期",
    written.late_since("part:zj-330105-sme", AT): "zj-330105-sme 的协办任务自 ",
    written.late_since("rectification", AT): "整改自 ",
    written.sla_breach("response"): "响应超时",
    written.unroutable("330106", "talent"): "各层级均无机构为行政区划 330106 提供「",
}
# what may stay Latin in Chinese text: ids, versions, codes of the network
CODES = re.compile(r"zj-\d+-sme|\d{4}\.\d|\d+")


@pytest.mark.parametrize("reason", sorted(FIXED) + sorted(BUILT))
def test_each_engine_reason_reads_in_chinese(reason: str) -> None:
    said = engine_reason(reason, ZH)
    assert said is not None and said != reason
    assert not re.search(r"[A-Za-z]", CODES.sub("", said)), said
    if reason in BUILT:
        assert BUILT[reason] in said, said


def test_a_persons_reason_and_none_stay_as_written() -> None:
    texts = ("已对接银行，下周放款", "rating 7", "Bank late since Monday", "sla_breach", None, "")
    for text in texts:
        assert engine_reason(text, ZH) == text


@pytest.mark.parametrize("by", ["cw-county", "sup-city", "enterprise-portal"])
def test_a_persons_or_a_systems_text_that_reads_like_the_engines_stays_as_written(
    by: str,
) -> None:
    for text in (written.sla_breach("response"), written.rectification_opened(1)):
        assert engine_reason(text, ZH, by=by, event_type="commented") == text
    assert engine_reason(written.sla_breach("response"), ZH, by="tierflow") == "响应超时"


def test_the_engines_words_on_a_persons_step_are_still_read() -> None:
    """A calendar's change by an admin and the close a follow-up decides carry the engine's
    reason though a person took the step."""
    closed = engine_reason(
        written.followed_up("unsatisfied"), ZH, by="desk-city", event_type="closed"
    )
    assert closed is not None and closed.startswith("回访：")
    changed = written.calendar_changed("2026.1", "2026.2")
    said = engine_reason(changed, ZH, by="admin", event_type="calendar_updated")
    assert said == "工作日历由 2026.1 更新为 2026.2"
