"""What the console's templates show: durations, SLA badges, countdowns and the clock bar.

Pure functions of the API's models and ``now``, so pages render the same with or without
JavaScript (the script only refreshes the countdown text from the absolute due instants).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import quote

from schemas.domain import SlaStatus, State, Tier
from schemas.lifecycle import EventType, RequestView, TierHold
from tierflow.settings import Settings

DISPLAY_TZ = timezone(timedelta(hours=8), "UTC+8")  # the network's business calendar zone
BAR_WIDTH = 1000.0  # SVG user units of the clock bar
MIN_SEGMENT = 4.0  # so an instant (a breach that escalated at once) stays visible

# (label, symbol, css class): text and a symbol as well as colour, never colour alone.
SLA_BADGES: dict[SlaStatus, tuple[str, str, str]] = {
    SlaStatus.ON_TRACK: ("On track", "✓", "ok"),
    SlaStatus.WARNING: ("Warning", "⚠", "warning"),
    SlaStatus.BREACHED: ("Breached", "✖", "breached"),
    SlaStatus.PAUSED: ("Paused", "‖", "paused"),
    SlaStatus.STOPPED: ("Stopped", "■", "stopped"),
}


def badge(status: SlaStatus) -> tuple[str, str, str]:
    return SLA_BADGES[status]


def human(value: str) -> str:
    """Return ``in progress`` for ``in_progress``."""
    return value.replace("_", " ")


def duration(seconds: float) -> str:
    """Return a short duration such as ``2 h 05 min`` or ``42 s``."""
    s = int(abs(seconds))
    days, rest = divmod(s, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"


def remaining(due: datetime | None, now: datetime) -> str:
    """Return the static countdown text (what the script replaces every second)."""
    if due is None:
        return "no running clock"
    left = (due - now).total_seconds()
    return f"due in {duration(left)}" if left >= 0 else f"overdue by {duration(left)}"


def when(value: datetime | None) -> str:
    """Return a time in the network's zone, e.g. ``2025-10-09 09:30:05 UTC+8``."""
    if value is None:
        return "—"
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return aware.astimezone(DISPLAY_TZ).strftime("%Y-%m-%d %H:%M:%S UTC+8")


def iso(value: datetime | None) -> str:
    """Return the absolute instant as ISO 8601 UTC, for ``<time datetime>`` and the script."""
    if value is None:
        return ""
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat().replace("+00:00", "Z")


def temporal_ui_url(settings: Settings, wf_id: str) -> str:
    """Return the Temporal UI page of a workflow (the UI runs on the Temporal host)."""
    host = settings.temporal_address.rsplit(":", 1)[0] or "127.0.0.1"
    ns, wf = quote(settings.temporal_namespace, safe=""), quote(wf_id, safe="")
    return f"http://{host}:{settings.temporal_ui_port}/namespaces/{ns}/workflows/{wf}"


@dataclass
class Segment:
    """One stretch of a tier's bar: ``held``, ``paused`` or ``breached`` (x/width in SVG units)."""

    kind: str
    x: float
    width: float
    label: str


@dataclass
class TierBar:
    """One row of the clock bar: who held the request at a tier, and what happened there."""

    tier: Tier
    institution_id: str
    since: datetime
    until: datetime | None
    left_by: str | None
    segments: list[Segment] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _pauses(view: RequestView, end: datetime) -> list[tuple[datetime, datetime]]:
    """Return the stretches the request spent awaiting the enterprise (clocks paused)."""
    spans, start = [], None
    for entry in view.timeline:
        waiting = entry.to_state is State.AWAITING_ENTERPRISE
        if waiting and start is None:
            start = entry.occurred_at
        elif not waiting and start is not None:
            spans.append((start, entry.occurred_at))
            start = None
    if start is not None:
        spans.append((start, end))
    return spans


def _breaches(view: RequestView) -> list[tuple[datetime, Tier]]:
    """Return when and at which tier each SLA breach happened, from the audit timeline."""
    return [
        (e.occurred_at, e.tier) for e in view.timeline if e.event_type is EventType.SLA_BREACHED
    ]


class _Layout:
    """Map instants of the request's life onto the bar's x axis."""

    def __init__(self, start: datetime, end: datetime) -> None:
        self.start = start
        self.span = max((end - start).total_seconds(), 1.0)

    def x(self, t: datetime) -> float:
        return max(0.0, min(BAR_WIDTH, (t - self.start).total_seconds() / self.span * BAR_WIDTH))

    def segment(self, kind: str, a: datetime, b: datetime, label: str) -> Segment:
        x = self.x(a)
        width = max(MIN_SEGMENT, self.x(b) - x)
        return Segment(kind, min(x, BAR_WIDTH - width), width, label)


def clock_bars(view: RequestView, now: datetime) -> list[TierBar]:
    """Lay out one bar per tier hold over the request's life, with paused and breached parts."""
    end = view.summary.closed_at or now
    layout = _Layout(view.summary.submitted_at, end)
    pauses = _pauses(view, end)
    breaches = _breaches(view)
    return [_hold_bar(layout, hold, end, pauses, breaches) for hold in view.holds]


def _hold_bar(
    layout: _Layout,
    hold: TierHold,
    end: datetime,
    pauses: list[tuple[datetime, datetime]],
    breaches: list[tuple[datetime, Tier]],
) -> TierBar:
    """Return the bar of one hold: held overall, paused inside, breached from the breach on."""
    until = hold.until or end
    bar = TierBar(hold.tier, hold.institution_id, hold.since, hold.until, hold.left_by)
    held = f"held by {hold.institution_id} from {when(hold.since)} to " + (
        when(hold.until) if hold.until else "now"
    )
    bar.segments.append(layout.segment("held", hold.since, until, held))
    for a, b in pauses:
        if b > hold.since and a < until:
            a, b = max(a, hold.since), min(b, until)
            label = f"paused (awaiting the enterprise) from {when(a)} to {when(b)}"
            bar.segments.append(layout.segment("paused", a, b, label))
            bar.notes.append(label)
    for at, tier in breaches:
        if tier is hold.tier and hold.since <= at <= until:
            label = f"SLA breached at {when(at)}"
            bar.segments.append(layout.segment("breached", at, until, label))
            bar.notes.append(label)
    if hold.paused_seconds:
        bar.notes.append(f"paused for {duration(hold.paused_seconds)} of business time")
    if hold.left_by:
        bar.notes.append(f"left by {human(hold.left_by)}")
    return bar
