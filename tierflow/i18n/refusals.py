"""A refused action's reason in a reader's language (the console and the CLI).

The workflow words each refusal as a catalog message (``workflows.refusals``); the API sends
its msgid and values beside the English text (``reason`` in the answer). Read here, its codes
(action, state, tier, role, category) become the reader's words and its instant China's time.
"""

from __future__ import annotations

import contextlib
from datetime import datetime
from enum import StrEnum

from babel.support import NullTranslations

from schemas.domain import Category, Role, State, Tier
from schemas.lifecycle import ActionKind, Wording
from schemas.messages import Said, fill
from tierflow.i18n.formats import listed, when
from tierflow.i18n.labels import code_words

# A refusal's values that are codes, shown as the reader's words.
CODE_VALUES: dict[str, type[StrEnum]] = {
    "kind": ActionKind,
    "state": State,
    "tier": Tier,
    "actor_tier": Tier,
    "its_tier": Tier,
    "role": Role,
    "category": Category,
}


def refusal_text(said: Said, catalog: NullTranslations) -> str:
    """``said`` in ``catalog``'s language, its codes in that language's words and its instant
    in China's time; the English text where the catalog has no translation (its instant in
    China's time too: a reader in English does not read UTC)."""
    if str(catalog.gettext(said.message)) == said.message:
        return _instant_in_china(said, catalog)
    values = {
        k: refusal_text(v, catalog) if isinstance(v, Said) else v for k, v in said.values.items()
    }
    for name, enum in CODE_VALUES.items():
        if isinstance(code := values.get(name), str):
            values[name] = code_words(enum, code, catalog)
    _instants_in_china(values, catalog)
    if isinstance(choices := values.get("choices"), str):  # codes a value must be one of
        values["choices"] = listed([code.strip() for code in choices.split(",")], catalog)
    if isinstance(states := values.get("states"), str):
        codes = [code.strip() for code in states.split(",")]
        values["states"] = listed([code_words(State, c, catalog) for c in codes], catalog)
    return fill(said.message, values, catalog)


def _instant_in_china(said: Said, catalog: NullTranslations) -> str:
    """``said`` as worded (English), its instants (``at``, its parts' too) in China's time."""
    values = {
        k: _instant_in_china(v, catalog) if isinstance(v, Said) else v
        for k, v in said.values.items()
    }
    _instants_in_china(values, catalog)
    return str(Said(said.message, **values))


# the values of a refusal that carry an instant (ISO 8601, UTC): when a thing happened, when
# it is due
INSTANTS = ("at", "due")


def _instants_in_china(values: dict[str, object], catalog: NullTranslations) -> None:
    """Put the instants among ``values`` in China's time, in ``catalog``'s words."""
    for name in INSTANTS:
        if isinstance(instant := values.get(name), str):
            with contextlib.suppress(ValueError):  # not an instant: shown as it came
                values[name] = when(datetime.fromisoformat(instant), catalog)


def names_its_action(reason: object) -> bool:
    """Whether ``reason`` is a refusal that says which action it refuses ("cannot sign for:
    ..."), so that a page need not put the action's name before it again."""
    return isinstance(reason, Said) and (
        reason.message.startswith("cannot ") or "%(kind)s" in reason.message
    )


def answer_text(english: str, reason: object, catalog: NullTranslations) -> str:
    """An API refusal's text in ``catalog``'s language: its ``reason`` (msgid and values) when
    that renders ``english``, else ``english`` itself."""
    said = Wording.read(reason, english)
    return refusal_text(said, catalog) if isinstance(said, Said) else english


def item_text(item: object, catalog: NullTranslations) -> str:
    """One item of an API 422 answer (``{"field", "msg", "reason"}``) in ``catalog``'s
    language: its ``reason`` (msgid and values) when it has one that fills, else ``msg``."""
    if not isinstance(item, dict):
        return str(item)
    return wording_text(item.get("reason"), str(item.get("msg", "")), catalog)


def wording_text(reason: object, english: str, catalog: NullTranslations) -> str:
    """A wording as received (msgid and values: an API item's ``reason``, a dead letter's
    header) in ``catalog``'s language; ``english`` when there is none or it does not fill."""
    try:
        said = Wording.model_validate(reason).as_said()
    except (KeyError, TypeError, ValueError):  # no wording, or values that do not fill it
        return english
    return english if "%(" in said else refusal_text(said, catalog)  # "%(": values it lacks
