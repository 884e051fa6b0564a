"""The engine's own audit-trail reasons (``schemas.engine_reasons``) in a reader's language.

The trail keeps them as written (English, with codes and instants); the console and the CLI
show each in the reader's words, its codes as labels and its instant in China's time. A
reason of a person's (a comment, a resolution) matches none of these and is shown as it is.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime

from babel.support import NullTranslations

from schemas import engine_reasons as written
from schemas.domain import Category, ClockKind
from schemas.lifecycle import FollowUpOutcome
from schemas.messages import N_, fill
from schemas.request import SYSTEM_ACTOR
from tierflow.i18n.formats import when
from tierflow.i18n.labels import code_words

FIXED = frozenset(
    {
        written.REOPEN_WINDOW_ELAPSED,
        written.SIGN_FOR_MISSED,
        written.RECTIFICATION_LATE,
        written.APPEAL_NOT_DECIDED,
        written.DECISION_NOT_TAKEN,
        written.NO_SUPERVISION_REPLY,
        written.SUSPENSION_ENDED,
        written.WAIT_EXPIRED_RESUMES,
        written.WAIT_EXPIRED_CLOSES,
    }
)
Words = Callable[[dict[str, str], NullTranslations], dict[str, str]]


def clock_words(
    code: str, catalog: NullTranslations, name: Callable[[str], str] | None = None
) -> str:
    """A late step's name: an SLA clock, the rectification, or a (unit's) co-handling part;
    ``name`` gives a unit's name for its id (the id where none is given)."""
    if code.startswith("part:"):
        unit = name(code[5:]) if name else code[5:]
        return str(catalog.gettext(N_("co-handling part of %(unit)s"))) % {"unit": unit}
    if code == "part":
        return str(catalog.gettext(N_("co-handling part")))
    if code == "rectification":
        return str(catalog.gettext(N_("rectification")))
    return code_words(ClockKind, code, catalog)


def _instant(text: str, catalog: NullTranslations) -> str:
    try:
        return when(datetime.fromisoformat(text), catalog)
    except ValueError:
        return text


def _as_written(values: dict[str, str], _catalog: NullTranslations) -> dict[str, str]:
    return values


def _outcome(values: dict[str, str], catalog: NullTranslations) -> dict[str, str]:
    return {"outcome": code_words(FollowUpOutcome, values["outcome"], catalog)}


def _late(values: dict[str, str], catalog: NullTranslations) -> dict[str, str]:
    return {"clock": clock_words(values["clock"], catalog), "at": _instant(values["at"], catalog)}


def _breach(values: dict[str, str], catalog: NullTranslations) -> dict[str, str]:
    return {"clock": clock_words(values["clock"], catalog)}


def _unroutable(values: dict[str, str], catalog: NullTranslations) -> dict[str, str]:
    return {"code": values["code"], "category": code_words(Category, values["category"], catalog)}


# Each builder's text as a pattern, its words in the reader's language, and its values' words
PATTERNS: list[tuple[re.Pattern[str], str, Words]] = [
    (
        re.compile(r"calendar (?P<old>\S+) -> (?P<new>\S+)"),
        N_("calendar %(old)s replaced by %(new)s"),
        _as_written,
    ),
    (
        re.compile(r"rating (?P<rating>[1-5])"),
        N_("rated %(rating)s: rectification opened"),
        _as_written,
    ),
    (re.compile(r"follow-up: (?P<outcome>\w+)"), N_("follow-up: %(outcome)s"), _outcome),
    (
        re.compile(r"co-handling part of (?P<unit>\S+) is late"),
        N_("the co-handling part of %(unit)s is late"),
        _as_written,
    ),
    (
        re.compile(r"(?P<clock>[a-z_]+|part:\S+) late since (?P<at>\d{4}-\d\d-\d\dT\S+)"),
        N_("%(clock)s late since %(at)s"),
        _late,
    ),
    (re.compile(r"sla_breach:(?P<clock>\w+)"), N_("%(clock)s deadline missed"), _breach),
    (
        re.compile(
            r"no institution serves division (?P<code>\d+) for (?P<category>\w+) at any tier"
        ),
        N_("no institution at any tier serves division %(code)s for %(category)s"),
        _unroutable,
    ),
]


# events whose reason the engine words though a person's step caused them (a calendar's
# change, the close a follow-up decides); on any other step of a person's or of another
# system's (a portal's), the reason is its own text, shown as written even where it reads
# like the engine's
WORDED_FOR_PEOPLE = frozenset({"calendar_updated", "closed"})


def engine_reason(
    reason: str | None,
    catalog: NullTranslations,
    *,
    by: str | None = None,
    event_type: str | None = None,
) -> str | None:
    """``reason`` in ``catalog``'s language when the engine wrote it; else as it is. Given
    who took the step (``by``, an actor id) and its ``event_type``, a person's or another
    system's own text is never taken for the engine's (a comment ``sla_breach:response``)."""
    if not reason:
        return reason
    if by not in (None, SYSTEM_ACTOR.id) and event_type not in WORDED_FOR_PEOPLE:
        return reason
    if reason in FIXED:
        return str(catalog.gettext(reason))
    for pattern, message, words in PATTERNS:
        if found := pattern.fullmatch(reason):
            return fill(message, words(found.groupdict(), catalog), catalog)
    return reason
