"""A timeline entry's facts (``schemas.lifecycle.TIMELINE_FACTS``) in a reader's language.

The entry keeps them as codes: a unit's id, a caseworker's user name, instants in UTC. The
console and the CLI show each as "label: value", the unit by its name where the caller can
look it up, the instant in China's time.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

from babel.support import NullTranslations

from schemas.lifecycle import TIMELINE_FACTS, FollowUpOutcome
from schemas.messages import N_
from tierflow.i18n.formats import labelled, when
from tierflow.i18n.labels import code_words

LABELS = {
    "co_handler": N_("co-handling unit"),
    "part_due_at": N_("part due"),
    "handler_id": N_("handler"),
    "resolution_due_at": N_("conclusion due"),
    "suspended_until": N_("suspended until"),
    "reply_due_at": N_("written reply due"),
    "rating": N_("rating"),
    "outcome": N_("the enterprise said"),
    "attempt": N_("call"),
}
INSTANTS = frozenset({"part_due_at", "resolution_due_at", "suspended_until", "reply_due_at"})


def fact_texts(
    facts: Mapping[str, str | int],
    catalog: NullTranslations,
    unit: Callable[[str], str] = str,
) -> list[str]:
    """Each fact as the reader reads it, in ``TIMELINE_FACTS`` order; ``unit`` names a unit id
    (the id itself by default)."""
    texts = []
    for name in TIMELINE_FACTS:
        if (value := facts.get(name)) is None:
            continue
        if name == "days" and isinstance(value, int):
            days = catalog.ngettext("%(num)d working day", "%(num)d working days", value)
            texts.append(days % {"num": value})
            continue
        if name not in LABELS:
            continue
        shown = str(value)
        if name == "co_handler":
            shown = unit(shown) or shown
        elif name in INSTANTS:
            shown = _instant(shown, catalog)
        elif name == "rating":
            shown = str(catalog.gettext(N_("%(rating)s of 5"))) % {"rating": value}
        elif name == "outcome":
            shown = code_words(FollowUpOutcome, shown, catalog)
        elif name == "attempt":
            shown = str(catalog.gettext(N_("no. %(attempt)s"))) % {"attempt": value}
        texts.append(labelled(str(catalog.gettext(LABELS[name])), shown, catalog))
    return texts


def _instant(text: str, catalog: NullTranslations) -> str:
    try:
        return when(datetime.fromisoformat(text), catalog)
    except ValueError:  # not an instant: shown as it came
        return text
