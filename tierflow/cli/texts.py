"""What the ``tierflow`` commands print for people, in their reader's language.

One home for every command group: the caseworker commands and the operator and admin groups.
The language is ``TIERFLOW_LANG``, else the POSIX locale variables (LANGUAGE, LC_ALL,
LC_MESSAGES, LANG) when they name Chinese or English, else zh-CN (``tierflow.i18n``); it is read
at each call, so a command speaks the language of the environment it runs in. The messages are
English msgids marked with ``_()`` / ``ngettext()`` and translated in the gettext catalogs.

Machine output (``--json``, CSV files, ids, codes, file paths, a token) never goes through
here: it stays what scripts read.
"""

from __future__ import annotations

from enum import StrEnum
from typing import NoReturn

import typer
from babel.support import Translations

from tierflow.i18n import Said, TranslatableError, from_environment, translations
from tierflow.i18n.labels import label


def catalog() -> Translations:
    """The catalog of the reader's language."""
    return translations(from_environment())


def _(message: str) -> str:
    return str(catalog().gettext(message))


def ngettext(singular: str, plural: str, num: int) -> str:
    return str(catalog().ngettext(singular, plural, num))


def term(value: StrEnum) -> str:
    """What the reader calls a code (a tier, a role, a grade ...): 县级, Municipal, ..."""
    return label(value, catalog())


def say(message: object) -> str:
    """A message the shared checks return (``Said``) in the reader's language; anything else
    as it is."""
    return message.text(catalog()) if isinstance(message, Said) else str(message)


def explain(exc: BaseException) -> str:
    """An error's message: in the reader's language when it is a catalog message (a
    ``TranslatableError``, or an error raised with a ``Said``), else as raised (the words of a
    library or of the system, English)."""
    if isinstance(exc, TranslatableError):
        return exc.text(catalog())
    if len(exc.args) == 1 and isinstance(exc.args[0], Said):
        return say(exc.args[0])
    return str(exc)


def fail(message: str, code: int = 1) -> NoReturn:
    """Print ``message`` on stderr and exit with ``code`` (2: the command line was wrong)."""
    typer.secho(message, fg="red", err=True)
    raise typer.Exit(code)
