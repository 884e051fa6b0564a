"""What a Chinese reader would still have to read as English: the check behind the console's
and the CLI's language tests, and the environment a CLI test runs in for a language."""

from __future__ import annotations

import re
from collections.abc import Iterable

# Latin words a Chinese page may show: names, standards, ids and units the network writes so.
LATIN_OK = {
    "tierflow", "temporal", "api", "csv", "uscc", "gb", "cookie", "utc", "tf", "sms", "mail",
    "zj", "sme", "req", "held", "request", "ops", "cw", "own", "portal", "example", "com",
    "wang", "english", "test", "tokens", "issue", "walkin", "http", "www", "console",
}  # fmt: skip
# Characters that end a machine token in Chinese text: spaces, CJK and full-width punctuation.
_TOKEN = r"[^\s\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]"
# What a CLI line shows for machines: a command in backticks, an option (--out), a metavar or
# acronym (TOKEN_ID, JSON, PLAINTEXT), and anything shaped like a file, path, id, code, time
# or address (a token holding a dot, a slash, a colon, an underscore, an @ or a digit: Chinese
# text has full-width punctuation, so an ASCII one marks a machine's token). On help pages also
# a value's type as Typer shows it (<str>, <int range>), an argument in the usage line ({name})
# and a short option (-f).
MACHINE = re.compile(
    rf"`[^`]*`|--[a-z][a-z-]*|(?<![\w-])-[a-z]\b|<[a-z][^<>\n]*>|\{{[a-z_]+\}}"
    rf"|\b[A-Z][A-Z0-9_]+\b|{_TOKEN}*[./:_@0-9]{_TOKEN}*"
)
# The variables that choose the CLI's language (tierflow.i18n.from_environment)
LANGUAGE_VARIABLES = ("TIERFLOW_LANG", "LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")


def english_words(text: str, allowed: Iterable[str] = ()) -> set[str]:
    """Latin words in ``text`` other than single capitals, LATIN_OK and ``allowed``."""
    ok = LATIN_OK | {word.lower() for word in allowed}
    words = set(re.findall(r"[A-Za-z]+", text))
    return {w for w in words if w.lower() not in ok and not re.fullmatch(r"[A-Z]", w)}


def cli_english_words(output: str, allowed: Iterable[str] = ()) -> set[str]:
    """English words a CLI's output shows people: its words once the machine tokens (MACHINE)
    and the ``allowed`` names and codes a test put there are left out."""
    return english_words(MACHINE.sub(" ", output), allowed)


_CJK = "[\u4e00-\u9fff]"
# ASCII punctuation after Chinese, or a space around full-width punctuation: 状态： 已受理
_MIXED_PUNCTUATION = re.compile(rf"{_CJK}[:;,!?]|{_CJK}\.(?!\d)|[：；，。、）] +{_CJK}|{_CJK} +（")


def mixed_punctuation(text: str) -> list[str]:
    """Where Chinese ``text`` mixes in Western punctuation (each place with its context)."""
    return [text[max(0, m.start() - 12) : m.end() + 12] for m in _MIXED_PUNCTUATION.finditer(text)]


def language_env(locale: str | None = None) -> dict[str, str | None]:
    """A CliRunner ``env`` choosing ``locale``, or (None) none at all: the default, whatever
    language the shell running the tests has."""
    cleared: dict[str, str | None] = dict.fromkeys(LANGUAGE_VARIABLES)
    return cleared | ({"TIERFLOW_LANG": locale} if locale else {})
