"""Times and business-time spans as readers of each language expect them.

``2026年12月1日 14:06`` and ``剩余 2 个工作日 3 小时`` in Chinese, ``2026-12-01 14:06`` and
``2 working days 3 h left`` in English. A working day is the calendar's business day (the
sum of its working periods), so spans are counted in business time, never in days of 24 h.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone

from babel.support import NullTranslations

from schemas.messages import Catalog
from tierflow.i18n import N_

CHINA = timezone(timedelta(hours=8), "UTC+8")  # the network's time zone, shown everywhere
DATE_TIME = N_("{year}-{month:02d}-{day:02d} {hour:02d}:{minute:02d}")
DATE = N_("{year}-{month:02d}-{day:02d}")
MONTH_DAY_TIME = N_("{month:02d}-{day:02d} {hour:02d}:{minute:02d}")


def aside(text: str, t: NullTranslations) -> str:
    """``text`` in parentheses after what it qualifies: " (x)" in English, "（x）" in Chinese."""
    return str(t.gettext(N_(" (%(text)s)"))) % {"text": text}


def listed(items: Sequence[str], t: NullTranslations) -> str:
    """Items in a run of text: "a, b" in English, "a、b" in Chinese."""
    return str(t.gettext(N_(", "))).join(items)


def labelled(label: str, value: str, t: Catalog) -> str:
    """ "label: value" in English, "label：value" in Chinese."""
    return str(t.gettext(N_("%(label)s: %(value)s"))) % {"label": label, "value": value}


def semicolon(t: Catalog) -> str:
    """Between statements in one line: "; " in English, "；" in Chinese."""
    return str(t.gettext(N_("; ")))


def when(
    value: datetime | None,
    t: NullTranslations,
    *,
    date_only: bool = False,
    now: datetime | None = None,
) -> str:
    """Return an instant in China's time zone, e.g. ``2026年12月1日 14:06`` ('—' for None).

    With ``now``, an instant of now's year leaves the year out (``12月1日 14:06``), for a
    table's narrow column: a terminal of 80 columns folded the full form mid-date.
    """
    if value is None:
        return "—"
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        local = aware.astimezone(CHINA)
    except OverflowError:  # year 1 or 9999, past the calendar in China's zone: as written
        return aware.isoformat()
    if now is not None and not date_only and now.astimezone(CHINA).year == local.year:
        pattern = t.gettext(MONTH_DAY_TIME)
    else:
        pattern = t.gettext(DATE if date_only else DATE_TIME)
    return pattern.format(
        year=local.year, month=local.month, day=local.day, hour=local.hour, minute=local.minute
    )


def span_units(t: NullTranslations) -> dict[str, object]:
    """The words of a span, for the console's script (which renders the same text live)."""
    return {
        "day": [
            t.ngettext("{n} working day", "{n} working days", 1),
            t.ngettext("{n} working day", "{n} working days", 2),
        ],
        "hour": t.gettext("{n} h"),
        "minute": t.gettext("{n} min"),
        "second": t.gettext("{n} s"),
        "left": t.gettext("{span} left"),
        "overdue": t.gettext("overdue by {span}"),
    }


def span(seconds: float, day_seconds: int, t: NullTranslations) -> str:
    """Return a business-time span, e.g. ``2 个工作日 3 小时`` or ``3 h 05 min``.

    ``day_seconds`` is the calendar's working day; two units at most are shown.
    """
    s = int(abs(seconds))
    days, rest = divmod(s, day_seconds) if day_seconds > 0 else (0, s)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        parts = [t.ngettext("{n} working day", "{n} working days", days).format(n=days)]
        if hours:
            parts.append(t.gettext("{n} h").format(n=hours))
    elif hours:
        parts = [t.gettext("{n} h").format(n=hours), t.gettext("{n} min").format(n=minutes)]
    elif minutes:
        parts = [t.gettext("{n} min").format(n=minutes), t.gettext("{n} s").format(n=secs)]
    else:
        parts = [t.gettext("{n} s").format(n=secs)]
    return " ".join(parts)


def remaining(left_seconds: float, day_seconds: int, t: NullTranslations) -> str:
    """Return ``剩余 …`` for time left, ``已超时 …`` for time past the deadline."""
    text = span(left_seconds, day_seconds, t)
    if left_seconds >= 0:
        return t.gettext("{span} left").format(span=text)
    return t.gettext("overdue by {span}").format(span=text)
