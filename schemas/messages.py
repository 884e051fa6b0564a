"""Messages for people, written in English and read in the reader's language later.

The checks the API, the workers and the CLI share (a USCC, a division code, a grade list's
lines, a directory's rows) cannot translate where they run: they say what is wrong as a catalog
entry instead, the English msgid marked ``N_()`` and its values. ``str()`` reads English (logs,
the API's answers, tests); ``text(translations)`` reads in a person's language (the CLI, through
``tierflow.cli.texts.explain``). ``tierflow.i18n.catalogs`` extracts the msgids; the catalogs and
Babel stay in ``tierflow.i18n``, and this module imports nothing, because the workflows' sandbox
imports ``schemas``.

A value may itself be a message (a line's problem holding the USCC check's reason): it is read
in the same language as the message holding it.
"""

from __future__ import annotations

import errno
import re
from collections.abc import Mapping
from typing import Protocol


class Catalog(Protocol):
    """What a message needs from a catalog (``babel.support.Translations`` has both)."""

    def gettext(self, message: str) -> object: ...

    def pgettext(self, context: str, message: str) -> object: ...


def N_(message: str) -> str:  # noqa: N802 - the gettext convention for "translate later"
    """Mark ``message`` for extraction without translating it here."""
    return message


def fill(
    message: str,
    values: Mapping[str, object],
    catalog: Catalog | None = None,
    context: str | None = None,
) -> str:
    """``message`` with ``values`` in English (no ``catalog``) or in ``catalog``'s language."""
    if catalog is not None:
        said = catalog.pgettext(context, message) if context else catalog.gettext(message)
        message = str(said)
        values = {
            k: v.text(catalog) if isinstance(v, Said | TranslatableError) else v
            for k, v in values.items()
        }
    return message % values if values else message


class Said(str):
    """A message as a string: its English text, which also knows its msgid and values.

    For lists of problems that are strings to everything but the CLI (joined into an error's
    message, compared in tests), e.g. ``Said(N_("line %(line)d: %(problem)s"), line=4, ...)``.
    """

    message: str
    values: Mapping[str, object]
    context: str | None

    def __new__(cls, message: str, /, **values: object) -> Said:
        said = super().__new__(cls, fill(message, values))
        said.message, said.values, said.context = message, values, None
        return said

    @classmethod
    def term(cls, context: str, message: str) -> Said:
        """A word that ``context`` tells apart from the same English elsewhere (a column's name:
        ``Said.term("grade list column", "level")``), translated with pgettext."""
        said = cls(message)
        said.context = context
        return said

    def text(self, catalog: Catalog) -> str:
        return fill(self.message, self.values, catalog, self.context)

    @classmethod
    def joined(cls, lines: list[Said], separator: str = "\n") -> Said:
        """Several messages as one, each read in the reader's language (a file's problems,
        one a line)."""
        template = separator.join(f"%(line{n})s" for n in range(len(lines)))
        return cls(template, **{f"line{n}": line for n, line in enumerate(lines)})


class TranslatableError(ValueError):
    """An error whose message is a catalog entry: ``str()`` reads English (logs, tests, the
    API), ``text(translations)`` reads in a person's language (the CLI).

    Raise it with the English message marked ``N_()`` and its values as keywords, e.g.
    ``raise AuthStoreError(N_("user: %(user)r does not exist"), user=name)``. A ValueError, so
    pydantic validators may raise it (their error's ``msg`` is the English text).
    """

    def __init__(self, message: str, **values: object) -> None:
        self.message, self.values = message, values
        super().__init__(fill(message, values))

    def text(self, catalog: Catalog) -> str:
        return fill(self.message, self.values, catalog)


def named_check(error: Mapping[str, object]) -> TranslatableError | None:
    """The message of a pydantic error when it names the field it is about and why (values
    ``field`` and ``reason``): a check of several fields together, which pydantic places at
    the model rather than at the field (an unsatisfied follow-up without text)."""
    context = error.get("ctx")
    cause = context.get("error") if isinstance(context, Mapping) else None
    if not isinstance(cause, TranslatableError):
        return None
    field, reason = cause.values.get("field"), cause.values.get("reason")
    return cause if isinstance(field, str) and isinstance(reason, Said) else None


# Pydantic's own kinds of error, in our words (its ``ctx`` fills them in): the console shows
# them beside a form's field, the API words them in ``reason`` for clients, and the CLI reads
# a refused command's fields in them.
PYDANTIC_REASONS = {
    "missing": N_("this field is required"),
    "string_too_short": N_("must have at least %(min_length)d characters"),
    "string_too_long": N_("must have at most %(max_length)d characters"),
    "string_pattern_mismatch": N_("is not in the expected form"),
    "enum": N_("must be one of: %(choices)s"),
    "literal_error": N_("must be one of: %(choices)s"),
    "int_parsing": N_("must be a whole number"),
    "bool_parsing": N_("must be true or false"),
    "int_from_float": N_("must be a whole number"),
    "greater_than_equal": N_("must be at least %(ge)s"),
    "less_than_equal": N_("must be at most %(le)s"),
    "datetime_from_date_parsing": N_("must be a date and time"),
    "datetime_parsing": N_("must be a date and time"),
    "date_from_datetime_parsing": N_("must be a date"),
    "date_parsing": N_("must be a date"),
}
_NAMES = re.compile(r"%\((\w+)\)")
_QUOTED = re.compile(r"'([^']*)'")


def pydantic_reason(error: Mapping[str, object]) -> Said | None:
    """A pydantic error's kind in our words, with the values it names from its ``ctx``
    (``must be one of: financing, ...``); None for a kind we do not word."""
    message = PYDANTIC_REASONS.get(str(error.get("type")))
    if message is None:
        return None
    context = error.get("ctx")
    values = dict(context) if isinstance(context, Mapping) else {}
    if isinstance(expected := values.get("expected"), str):  # "'a', 'b' or 'c'"
        values["choices"] = ", ".join(_QUOTED.findall(expected)) or expected
    named = {name: values[name] for name in _NAMES.findall(message) if name in values}
    try:
        return Said(message, **named)
    except (KeyError, TypeError, ValueError):  # a value missing or of another kind
        return None


# The usual reasons a file cannot be read, in the system's English words (``strerror``).
OS_REASONS = {
    errno.ENOENT: N_("No such file or directory"),
    errno.EACCES: N_("Permission denied"),
    errno.EISDIR: N_("Is a directory"),
    errno.ENOTDIR: N_("Not a directory"),
}


def os_reason(exc: OSError) -> str:
    """Why a file could not be read or written: a ``Said`` for the usual reasons, else the
    system's words (``strerror``, English)."""
    if exc.errno in OS_REASONS:
        return Said(OS_REASONS[exc.errno])
    return exc.strerror or str(exc)
