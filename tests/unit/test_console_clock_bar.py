"""The case page's clock bar draws each stretch the clocks stood still as paused, and says
why: awaiting the enterprise's reply, or an approved suspension (挂起). A suspension was
drawn as the clock running while the note below the bar counted it as paused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from api.console.views import Texts, hold_bars
from schemas.domain import State, Tier
from schemas.lifecycle import EventType, TierHold, TimelineEntry
from tierflow.i18n import translations

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # Monday 09:00 in Shanghai
UNIT = "zj-330106-sme"


def entry(hours: int, event: EventType, to_state: State) -> TimelineEntry:
    return TimelineEntry(
        sequence=hours,
        event_type=event,
        occurred_at=T0 + timedelta(hours=hours),
        actor_id="cw-1",
        from_state=None,
        to_state=to_state,
        tier=Tier.COUNTY,
        institution_id=UNIT,
    )


TIMELINE = [
    entry(0, EventType.ASSIGNED, State.ASSIGNED),
    entry(1, EventType.ACKNOWLEDGED, State.ACKNOWLEDGED),
    entry(2, EventType.INFO_REQUESTED, State.AWAITING_ENTERPRISE),
    entry(4, EventType.INFO_PROVIDED, State.IN_PROGRESS),
    entry(24, EventType.SUSPENSION_APPROVED, State.SUSPENDED),
    entry(72, EventType.RESUMED, State.IN_PROGRESS),
]


def test_a_suspension_is_drawn_paused_and_named() -> None:
    texts = Texts("zh-CN", translations("zh-CN"))
    hold = TierHold(tier=Tier.COUNTY, institution_id=UNIT, since=T0)
    [bar] = hold_bars([hold], TIMELINE, (T0, None), T0 + timedelta(hours=96), texts, None)
    paused = [s for s in bar.segments if s.kind == "paused"]
    assert len(paused) == 2
    assert paused[0].label.startswith("暂停计时（等待企业补充）")
    assert paused[1].label.startswith("暂停计时（挂起）")
    assert paused[1].width > paused[0].width  # 48 hours against 2


def test_a_suspension_still_running_is_paused_to_now() -> None:
    texts = Texts("en", translations("en"))
    hold = TierHold(tier=Tier.COUNTY, institution_id=UNIT, since=T0)
    now = T0 + timedelta(hours=30)
    [bar] = hold_bars([hold], TIMELINE[:5], (T0, None), now, texts, None)
    [_, suspended] = [s for s in bar.segments if s.kind == "paused"]
    assert suspended.label.startswith("paused (suspended)")
