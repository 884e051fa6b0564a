"""Languages of the console and the CLI: gettext catalogs (Babel) read from their .po files.

zh-CN is the default; English is available. The catalogs live in
``tierflow/i18n/locale/<locale>/LC_MESSAGES/tierflow.po`` and are compiled in memory the first
time a language is used, so there is no build step (``make up`` and the tests need none).
Messages are written in English in the source (the msgids); ``tierflow.i18n.catalogs``
extracts them and a test fails when a catalog misses one.

Machine interfaces (API fields, event types, metric names, ``--json`` output) never go
through here: they stay English and stable.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from io import BytesIO
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

# The messages shared checks raise or return (below tierflow, so they import nothing of it)
from schemas.messages import N_ as N_
from schemas.messages import Said as Said
from schemas.messages import TranslatableError as TranslatableError
from schemas.messages import os_reason as os_reason

DOMAIN = "tierflow"
LOCALES = ("zh-CN", "en")  # the console's and CLI's languages; the first is the default
DEFAULT_LOCALE = LOCALES[0]
LOCALE_DIR = Path(__file__).parent / "locale"
# gettext's folder name of each language (zh-CN -> zh_CN)
CATALOG_NAMES = {"zh-CN": "zh_CN", "en": "en"}
_TAG = re.compile(r"^[A-Za-z]{1,8}(?:[-_][A-Za-z0-9]{1,8})*$")


def catalog_path(locale: str) -> Path:
    return LOCALE_DIR / CATALOG_NAMES[locale] / "LC_MESSAGES" / f"{DOMAIN}.po"


@lru_cache(maxsize=len(LOCALES))
def translations(locale: str) -> Translations:
    """Return the catalog of ``locale`` (one of LOCALES), compiled from its .po once."""
    if locale not in CATALOG_NAMES:
        raise KeyError(f"no catalog for locale {locale!r}; known: {', '.join(LOCALES)}")
    with catalog_path(locale).open("rb") as po:
        catalog = read_po(po, locale=CATALOG_NAMES[locale], domain=DOMAIN)
    buffer = BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return Translations(buffer, domain=DOMAIN)


def match(tag: str | None) -> str | None:
    """Return the supported locale a language tag asks for (zh, zh-CN, zh_Hans_CN, en-GB,
    en_US.UTF-8 ...), or None (C, POSIX, other languages, junk)."""
    if not tag:
        return None
    tag = tag.split(".", 1)[0].split("@", 1)[0].strip()
    if not _TAG.match(tag):
        return None
    primary = re.split(r"[-_]", tag, maxsplit=1)[0].lower()
    if primary == "zh":
        return "zh-CN"
    if primary == "en":
        return "en"
    return None


def from_accept_language(header: str | None) -> str | None:
    """Return the supported locale the ``Accept-Language`` header prefers, or None."""
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate((header or "").split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if (locale := match(tag)) is not None and quality > 0:
            ranked.append((-quality, index, locale))
    return min(ranked)[2] if ranked else None


def from_environment(environ: Mapping[str, str] | None = None) -> str:
    """The CLI's language: ``TIERFLOW_LANG``, else the POSIX locale variables (LANGUAGE,
    LC_ALL, LC_MESSAGES, LANG) when they name Chinese or English, else zh-CN."""
    env = os.environ if environ is None else environ
    if (chosen := match(env.get("TIERFLOW_LANG"))) is not None:
        return chosen
    for name in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        for tag in env.get(name, "").split(":"):
            if (locale := match(tag)) is not None:
                return locale
    return DEFAULT_LOCALE


def first_supported(*candidates: str | None) -> str:
    """Return the first candidate that is a supported locale, else the default."""
    for candidate in candidates:
        if candidate in LOCALES:
            return candidate
    return DEFAULT_LOCALE


def catalog_locales() -> Iterable[str]:
    return iter(LOCALES)
