"""What the console's templates show: labels, times, SLA badges, countdowns and the clock bar.

Pure functions of the API's models, ``now``, a business calendar and a language's catalog, so
pages render the same with or without JavaScript. Countdowns are business time on the
request's calendar (``workflows.business_time``): the server renders the text, and the script
only keeps it current from the business seconds left and the working stretches ahead, both
written into the element.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from unicodedata import east_asian_width
from urllib.parse import quote

from babel.support import NullTranslations
from markupsafe import Markup, escape
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from api.console.calendars import DisplayCalendars
from schemas.domain import SlaStatus, State, Tier
from schemas.lifecycle import (
    ActionKind,
    EventType,
    RequestView,
    Supervision,
    TierHold,
    TimelineEntry,
)
from schemas.policy import CalendarData
from schemas.request import SYSTEM_ACTOR
from schemas.working_periods import parse_working_periods
from tierflow.db.models import TierHoldBase
from tierflow.directory_store import institution_names
from tierflow.i18n import N_, formats, labels
from tierflow.i18n.engine_reasons import clock_words, engine_reason
from tierflow.i18n.facts import fact_texts
from tierflow.settings import Settings
from workflows.business_time import (
    business_day_seconds,
    business_seconds_between,
    is_working_day,
    zone,
)

BAR_WIDTH = 1000.0  # SVG user units of the clock bar
MIN_SEGMENT = 4.0  # so an instant (a breach that escalated at once) stays visible
LOOKAHEAD = timedelta(hours=48)  # working stretches handed to the script (a page lives shorter)

FULL_WIDTH_ENDS = ("：", "。", "；", "！", "？", "）")  # Chinese puts no space after these
ACTION_CODES = frozenset(k.value for k in ActionKind)
# (symbol, css class): a symbol and text as well as colour, never colour alone.
SLA_BADGES: dict[SlaStatus, tuple[str, str]] = {
    SlaStatus.ON_TRACK: ("✓", "ok"),
    SlaStatus.WARNING: ("⚠", "warning"),
    SlaStatus.BREACHED: ("✖", "breached"),
    SlaStatus.PAUSED: ("‖", "paused"),
    SlaStatus.STOPPED: ("■", "stopped"),
}


@dataclass(frozen=True)
class Texts:
    """One language's catalog plus the helpers the templates call with it."""

    locale: str
    t: NullTranslations

    def label(self, value: StrEnum | str | None, of: str | None = None) -> str:
        """The words for ``value``; ``of="action"`` reads a plain string as an action kind."""
        if of == "action" and isinstance(value, str) and value in ACTION_CODES:
            value = ActionKind(value)
        return labels.label(value, self.t)

    def step(self, entry: TimelineEntry) -> str:
        """A timeline entry's name (a supervisor's comment is 批示)."""
        return labels.step_label(entry.event_type, entry.actor_role, self.t)

    def badge(self, status: SlaStatus) -> tuple[str, str, str]:
        """Return (text, symbol, css class) of an SLA status."""
        symbol, css = SLA_BADGES[status]
        return self.label(status), symbol, css

    def when(self, value: datetime | None, now: datetime | None = None) -> str:
        """An instant in China time; with ``now``, without the year when it is now's."""
        return formats.when(value, self.t, now=now)

    def reason(self, entry: TimelineEntry) -> str | None:
        """A step's reason; the engine's own in this language (a person's as written)."""
        return engine_reason(
            entry.reason, self.t, by=entry.actor_id, event_type=entry.event_type.value
        )

    def who(self, actor_id: str) -> str:
        """Who took a step: a person's or a system client's id, the engine by name."""
        return str(self.t.gettext(N_("the system"))) if actor_id == SYSTEM_ACTOR.id else actor_id

    def late_step(self, clock: str) -> str:
        """A chased step's name: an SLA clock, the rectification, a co-handling part."""
        return clock_words(clock, self.t)

    def supervision_reason(self, case: Supervision) -> str | None:
        """Why a 督办 was opened: the ladder's words in this language, a supervisor's as
        written."""
        return engine_reason(case.reason, self.t, by=case.opened_by)

    def after(self, text: str) -> str:
        """A label or sentence before what follows it: a space after English punctuation,
        none after Chinese full-width punctuation (状态：已受理, …工作时间。页面生成于…)."""
        return text if text.endswith(FULL_WIDTH_ENDS) else f"{text} "

    def aside(self, text: str) -> Markup:
        """``text`` in parentheses after what it qualifies: " (x)" in English, "（x）" in
        Chinese. ``text`` is escaped unless it is markup already."""
        return Markup(formats.aside(escape(text), self.t))

    def labelled(self, label: str, value: str = "") -> str:
        return formats.labelled(label, value, self.t)  # a chart's text alternative

    @property
    def semicolon(self) -> str:
        return formats.semicolon(self.t)

    def listed(self, items: Sequence[str]) -> str:
        return formats.listed(items, self.t)

    def channel(self, channel: str) -> str:
        return labels.channel_words(channel, self.t)

    def facts(self, facts: Mapping[str, str | int], unit: Callable[[str], str]) -> str:
        """A timeline entry's facts in one line, a unit by its name (``unit``: the page's)."""

        def named(unit_id: str) -> str:
            shown = unit(unit_id)
            return shown.striptags() if isinstance(shown, Markup) else str(shown)

        return self.semicolon.join(fact_texts(facts, self.t, named))

    def span(self, seconds: float, cal: CalendarData | None) -> str:
        """A business-time span on ``cal`` (days of 24 h when there is no calendar)."""
        return formats.span(seconds, day_length(cal), self.t)


class UnitNames:
    """Institutions as a page names them: the directory's name, the id in its title (what
    forms and the API take); the id alone when the directory lacks it. Read once per page:
    ``units`` a page knows it will name are read in one query."""

    def __init__(self, engine: Engine, units: Iterable[str | None] = ()) -> None:
        self.engine = engine
        self.known: dict[str, str | None] = {}
        self._read({unit for unit in units if unit})

    def _read(self, units: set[str]) -> None:
        if not units:
            return
        try:
            names = institution_names(self.engine, sorted(units))
        except SQLAlchemyError:  # a page (an error page among them) still shows the id
            names = {}
        self.known |= {unit: names.get(unit) for unit in units}

    def __call__(self, unit: str | None) -> Markup | str:
        if not unit:
            return ""
        if unit not in self.known:
            self._read({unit})
        name = self.known[unit]
        if name is None:
            return unit
        return Markup('<span class="unit" title="{0}">{1}</span>').format(unit, name)


@dataclass(frozen=True)
class Pages:
    """Where a paged listing stands: its page ``number`` (1 up to ``last``) and the links to
    the pages either side (None at an end; ``more``: whether rows follow this page)."""

    number: int
    prev_url: str | None
    next_url: str | None

    @staticmethod
    def clamp(asked: int, last: int) -> int:
        """The page a caller's ``page`` parameter asks for, within 1 and ``last``."""
        return min(max(asked, 1), last)

    @classmethod
    def at(cls, number: int, last: int, more: bool, url: Callable[[int], str]) -> Pages:
        return cls(
            number,
            url(number - 1) if number > 1 else None,
            url(number + 1) if more and number < last else None,
        )


def fit_label(text: str, width: float, size: float = 12.0) -> str:
    """``text`` cut to fit ``width`` SVG units at font ``size``, ending in … when cut.

    A chart's label is anchored at its end, so a label too long would lose its start, where a
    Chinese institution name says its place. Wide (CJK) characters take a full em, others
    about 0.6; the full text stays in the bar's title and the chart's description."""

    def units(char: str) -> float:
        return size if east_asian_width(char) in ("W", "F") else 0.6 * size

    if sum(units(char) for char in text) <= width:
        return text
    room, kept = width - size, []  # the ellipsis takes one em
    for char in text:
        room -= units(char)
        if room < 0:
            break
        kept.append(char)
    return "".join(kept) + "…"


def day_length(cal: CalendarData | None) -> int:
    return business_day_seconds(cal) if cal is not None else 86_400


def iso(value: datetime | None) -> str:
    """Return the absolute instant as ISO 8601 UTC, for ``<time datetime>`` and the script."""
    if value is None:
        return ""
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat().replace("+00:00", "Z")


def temporal_ui_url(settings: Settings, wf_id: str) -> str:
    """Return the Temporal UI page of a workflow: at ``temporal_ui_url`` (a UI of its own, as
    in the compose and cluster topologies), else on the Temporal host (the dev server's)."""
    host = settings.temporal_address.rsplit(":", 1)[0] or "127.0.0.1"
    base = settings.temporal_ui_url.rstrip("/") or f"http://{host}:{settings.temporal_ui_port}"
    ns, wf = quote(settings.temporal_namespace, safe=""), quote(wf_id, safe="")
    return f"{base}/namespaces/{ns}/workflows/{wf}"


# --------------------------------------------------------------------------- countdowns
def business_left(due: datetime, now: datetime, cal: CalendarData) -> int:
    """Business seconds until ``due`` on ``cal``; negative once it has passed."""
    if due >= now:
        return business_seconds_between(now, due, cal)
    return -business_seconds_between(due, now, cal)


def working_stretches(start: datetime, cal: CalendarData) -> list[tuple[int, int]]:
    """The calendar's working stretches in [start, start + LOOKAHEAD) as epoch seconds,
    touching ones joined (a round-the-clock calendar is one stretch)."""
    tz = zone(cal)
    periods = parse_working_periods(cal.working_periods)
    end = start + LOOKAHEAD
    first: date = start.astimezone(tz).date() - timedelta(days=1)
    out: list[tuple[int, int]] = []
    for offset in range(LOOKAHEAD.days + 3):
        day = first + timedelta(days=offset)
        if not is_working_day(day, cal):
            continue
        midnight = datetime.combine(day, time(0), tzinfo=tz)
        for begin_us, end_us in periods:
            a = max(midnight + timedelta(microseconds=begin_us), start)
            b = min(midnight + timedelta(microseconds=end_us), end)
            if a >= b:
                continue
            a_s, b_s = int(a.timestamp()), int(b.timestamp())
            if out and out[-1][1] >= a_s:
                out[-1] = (out[-1][0], b_s)
            else:
                out.append((a_s, b_s))
    return out


@dataclass(frozen=True)
class Countdown:
    """A deadline as the page shows it: business seconds left at ``now`` and its text."""

    due: datetime
    left: int
    text: str
    title: str
    day_seconds: int
    stretches: str  # "a-b,c-d" epoch seconds: when business time runs in the next 48 h


class Clockwork:
    """Countdowns of one page: ``now``, the language, and each request's calendar."""

    def __init__(
        self,
        texts: Texts,
        now: datetime,
        calendars: DisplayCalendars,
        pinned: CalendarData | None = None,
    ) -> None:
        self.texts = texts
        self.now = now
        self._calendars = calendars
        self._pinned = pinned  # one request's page: the calendar its workflow pinned
        self._stretches: dict[tuple[object, ...], str] = {}

    def calendar(
        self, submitted_at: datetime | None, policy_version: str | None = None
    ) -> CalendarData | None:
        if self._pinned is not None:
            return self._pinned
        if submitted_at is None:
            return None
        return self._calendars.at_submission(submitted_at, policy_version)

    def countdown(
        self, due: datetime, submitted_at: datetime | None, policy_version: str | None = None
    ) -> Countdown:
        cal = self.calendar(submitted_at, policy_version)
        aware = due if due.tzinfo else due.replace(tzinfo=UTC)
        if cal is None:
            left, day, stretches = int((aware - self.now).total_seconds()), 86_400, ""
        else:
            left, day = business_left(aware, self.now, cal), day_length(cal)
            # a version names the days off; the week and hours are the policy's
            hours = (
                cal.version,
                cal.utc_offset_minutes,
                tuple(cal.weekend_days),
                *(tuple(p) for p in cal.working_periods),
            )
            if hours not in self._stretches:
                pairs = working_stretches(self.now, cal)
                self._stretches[hours] = ",".join(f"{a}-{b}" for a, b in pairs)
            stretches = self._stretches[hours]
        t = self.texts.t
        text = formats.remaining(left, day, t)
        title = t.gettext("due %(when)s") % {"when": self.texts.when(aware)}
        return Countdown(aware, left, text, title, day, stretches)

    def span(self, seconds: float, submitted_at: datetime | None) -> str:
        return self.texts.span(seconds, self.calendar(submitted_at))


# --------------------------------------------------------------------------- clock bar
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


def _pauses(
    timeline: Sequence[TimelineEntry], end: datetime
) -> list[tuple[datetime, datetime, State]]:
    """Return the stretches the clocks stood still, and why: awaiting the enterprise's
    reply, or an approved suspension (挂起)."""
    spans: list[tuple[datetime, datetime, State]] = []
    start, why = None, None
    for entry in timeline:
        pausing = entry.to_state if entry.to_state in PAUSES else None
        if pausing is why:
            continue
        if start is not None and why is not None:
            spans.append((start, entry.occurred_at, why))
        start, why = (entry.occurred_at, pausing) if pausing is not None else (None, None)
    if start is not None and why is not None:
        spans.append((start, end, why))
    return spans


def _breaches(timeline: Sequence[TimelineEntry]) -> list[tuple[datetime, Tier]]:
    """Return when and at which tier each SLA breach happened, from the audit timeline."""
    return [(e.occurred_at, e.tier) for e in timeline if e.event_type is EventType.SLA_BREACHED]


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


HELD = N_("held by %(unit)s from %(since)s to %(until)s")
PAUSED = N_("paused (awaiting the enterprise) from %(since)s to %(until)s")
SUSPENDED = N_("paused (suspended) from %(since)s to %(until)s")
PAUSES = {State.AWAITING_ENTERPRISE: PAUSED, State.SUSPENDED: SUSPENDED}  # clocks stand still
BREACHED = N_("SLA breached at %(when)s")
PAUSED_FOR = N_("paused for %(span)s of business time")
LEFT_BY = N_("left by: %(event)s")


def clock_bars(
    view: RequestView, now: datetime, texts: Texts, cal: CalendarData | None
) -> list[TierBar]:
    """Lay out one bar per tier hold of the workflow's view."""
    life = (view.summary.submitted_at, view.summary.closed_at)
    return hold_bars(view.holds, view.timeline, life, now, texts, cal)


def hold_bars(
    holds: Sequence[TierHold | TierHoldBase],
    timeline: Sequence[TimelineEntry],
    life: tuple[datetime, datetime | None],
    now: datetime,
    texts: Texts,
    cal: CalendarData | None,
) -> list[TierBar]:
    """Lay out one bar per tier hold over the request's life (``life``: submitted, closed),
    with paused and breached parts: from the view, or from the read model without it."""
    submitted, closed = life
    end = closed or now
    layout = _Layout(submitted, end)
    pauses = _pauses(timeline, end)
    breaches = _breaches(timeline)
    return [_hold_bar(layout, hold, end, pauses, breaches, texts, cal) for hold in holds]


def _hold_bar(
    layout: _Layout,
    hold: TierHold | TierHoldBase,
    end: datetime,
    pauses: list[tuple[datetime, datetime, State]],
    breaches: list[tuple[datetime, Tier]],
    texts: Texts,
    cal: CalendarData | None,
) -> TierBar:
    """Return the bar of one hold: held overall, paused inside, breached from the breach on."""
    t, when = texts.t, texts.when
    until = hold.until or end
    bar = TierBar(hold.tier, hold.institution_id, hold.since, hold.until, hold.left_by)
    held = t.gettext(HELD) % {
        "unit": hold.institution_id,
        "since": when(hold.since),
        "until": when(hold.until) if hold.until else t.gettext("now"),
    }
    bar.segments.append(layout.segment("held", hold.since, until, held))
    for a, b, why in pauses:
        if b > hold.since and a < until:
            a, b = max(a, hold.since), min(b, until)
            label = t.gettext(PAUSES[why]) % {"since": when(a), "until": when(b)}
            bar.segments.append(layout.segment("paused", a, b, label))
            bar.notes.append(label)
    for at, tier in breaches:
        if tier is hold.tier and hold.since <= at <= until:
            label = t.gettext(BREACHED) % {"when": when(at)}
            bar.segments.append(layout.segment("breached", at, until, label))
            bar.notes.append(label)
    if hold.paused_seconds:
        bar.notes.append(t.gettext(PAUSED_FOR) % {"span": texts.span(hold.paused_seconds, cal)})
    if hold.left_by:
        bar.notes.append(t.gettext(LEFT_BY) % {"event": texts.label(hold.left_by)})
    return bar
