"""What the ``tierflow`` commands print for people, in their reader's language.

One home for every command group: the caseworker commands and the operator and admin groups.
The language is ``TIERFLOW_LANG``, else the POSIX locale variables (LANGUAGE, LC_ALL,
LC_MESSAGES, LANG) when they name Chinese or English, else zh-CN (``tierflow.i18n``); it is read
at each call, so a command speaks the language of the environment it runs in. The messages are
English msgids marked with ``_()`` / ``ngettext()`` and translated in the gettext catalogs.

Help pages and usage errors speak the same language (``speak_typer``, below): the commands'
and options' help texts (docstrings and ``help=``, English msgids the catalog extraction reads
from the command tree) and Typer's own words are translated when Typer renders them.

Machine output (``--json``, CSV files, ids, codes, file paths, a token) never goes through
here: it stays what scripts read.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import Any, NoReturn, TypeVar

import typer
import typer.core
import typer.rich_utils
from babel.support import Translations
from rich.text import Text
from typer._click import Context, HelpFormatter

from tierflow.i18n import N_, Said, TranslatableError, from_environment, translations
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


E = TypeVar("E", bound=StrEnum)


def checked_choice(kind: type[E], value: str, name: str) -> E:
    """``value`` as one of ``kind``'s codes; a wrong one ends the command (exit 2) naming the
    option ``name`` and the codes."""
    try:
        return kind(value)
    except ValueError:
        codes = ", ".join(member.value for member in kind)
        fail(
            _("%(name)s: %(value)r is not one of %(codes)s")
            % {"name": name, "value": value, "codes": codes},
            2,
        )


def checked_uscc(value: str) -> str:
    """An enterprise's USCC as a command was given it, checked (lower case is upper-cased);
    a wrong one ends the command naming why."""
    from schemas.enterprise import validate_uscc

    try:
        return validate_uscc(value.strip().upper())
    except ValueError as exc:
        fail(_("uscc: %(reason)s") % {"reason": explain(exc)})


# --------------------------------------------------------------------------- Typer's words
# Typer (0.29) draws help pages and usage errors with its own copy of Click, whose words are
# plain English f-strings: there is no gettext call to give a catalog to. Every help page,
# usage error and abort goes through one of three functions of ``typer.rich_utils``, which
# ``speak_typer`` wraps once, when ``tierflow.cli`` is imported (the only monkeypatching here):
# each call reads the language of its environment (a test may switch it between two runs of
# one imported app), translates the page's help texts for the time it is drawn (then puts the
# English msgids back), the fixed words below, the "Usage:" prefix and the error's message.
# A fourth wrap lets help text fold anywhere: Chinese has no spaces to wrap at, and Typer's
# option panels would cut a long line short with an ellipsis.

# rich_utils' fixed words, by the module constant that holds each.
TYPER_WORDS = {
    "DEPRECATED_STRING": N_("(deprecated) "),
    "DEFAULT_STRING": N_("[default: {}]"),
    "ENVVAR_STRING": N_("[env var: {}]"),
    "REQUIRED_LONG_STRING": N_("[required]"),
    "ARGUMENTS_PANEL_TITLE": N_("Arguments"),
    "OPTIONS_PANEL_TITLE": N_("Options"),
    "COMMANDS_PANEL_TITLE": N_("Commands"),
    "ERRORS_PANEL_TITLE": N_("Error"),
    "ABORTED_TEXT": N_("Aborted."),
    "RICH_HELP": N_("Try [blue]'{command_path} {help_option}'[/] for help."),
}
# The help of the options Typer adds (--help, and the root's shell completion).
TYPER_HELP = (
    N_("Show this message and exit."),
    N_("Install completion for the current shell."),
    N_("Show completion for the current shell, to copy it or customize the installation."),
)
USAGE = N_("Usage: ")


def said(message: str) -> tuple[str, str]:
    """The pattern of Typer's words that ``message`` translates, and ``message``: the same
    words, with any text where the message has a ``%(name)s``."""
    words = re.split(r"%\((\w+)\)s", message)  # words, a name, words, ..., words
    pattern = "".join(f"(?P<{w}>.+?)" if i % 2 else re.escape(w) for i, w in enumerate(words))
    return pattern, message


# Typer's usage errors and the catalog message of each, tried in this order. Most are Typer's
# own words with any text in place of each ``%(name)s`` (``said``); the others give the pattern
# of Typer's words. A ``reason`` is itself one of them (a path's check after "Invalid value for
# ...") or pydantic's words for a value of the wrong type (the last ones); anything else stays
# as Typer said it.
USAGE_ERRORS: list[tuple[str, str]] = [
    said(N_("Missing option %(name)s.")),
    said(N_("Missing argument %(name)s.")),
    said(N_("Missing parameter %(name)s.")),
    said(N_("Missing command.")),
    said(N_("Invalid value for %(name)s: %(reason)s")),
    said(N_("Invalid value: %(reason)s")),
    (
        r"No such option: (?P<name>\S+) \(Possible options: (?P<options>.+)\)",
        N_("No such option: %(name)s (Possible options: %(options)s)"),
    ),
    (r"No such option: (?P<name>\S+)", N_("No such option: %(name)s")),
    said(N_("No such command %(name)s. Did you mean %(matches)s?")),
    said(N_("No such command %(name)s.")),
    (
        r"Got unexpected extra argument\(s\) \((?P<extra>.*)\)",
        N_("Got unexpected extra argument(s) (%(extra)s)"),
    ),
    said(N_("Option %(name)s requires an argument.")),
    (
        r"Option (?P<name>.+) requires (?P<count>[0-9]+) arguments\.",
        N_("Option %(name)s requires %(count)s arguments."),
    ),
    said(N_("Option %(name)s does not take a value.")),
    said(N_("file %(path)s does not exist.")),
    said(N_("dir %(path)s does not exist.")),
    said(N_("path %(path)s does not exist.")),
    said(N_("file %(path)s is a directory.")),
    said(N_("dir %(path)s is a file.")),
    (r"(?:file|dir|path) (?P<path>.+) is not readable\.", N_("%(path)s is not readable.")),
    (r"(?:file|dir|path) (?P<path>.+) is not writable\.", N_("%(path)s is not writable.")),
    said(N_("Input should be a valid integer, unable to parse string as an integer")),
    said(N_("Input should be a valid number, unable to parse string as a number")),
    said(N_("Input should be greater than or equal to %(bound)s")),
    said(N_("Input should be less than or equal to %(bound)s")),
]
_USAGE_ERRORS = [(re.compile(pattern, re.DOTALL), message) for pattern, message in USAGE_ERRORS]


def usage_error(text: str) -> str:
    """Typer's message of a usage error, in the reader's language when it is one it says."""
    for pattern, message in _USAGE_ERRORS:
        if (found := pattern.fullmatch(text)) is not None:
            values = found.groupdict()
            if "reason" in values:
                values["reason"] = usage_error(values["reason"])
            return _(message) % values if values else _(message)
    return text


class UsageFormatter(HelpFormatter):
    """Typer's help formatter, whose usage line starts with "Usage: " in the reader's words."""

    def write_usage(self, prog: str, args: str = "", prefix: str | None = None) -> None:
        super().write_usage(prog, args, _(USAGE) if prefix is None else prefix)


def _fixed_words(ctx: Context | None) -> None:
    for name, message in TYPER_WORDS.items():
        setattr(typer.rich_utils, name, _(message))
    if ctx is not None:
        ctx.formatter_class = UsageFormatter


@contextmanager
def _translated_help(obj: Any, ctx: Context) -> Iterator[None]:
    """The page of ``obj`` with every help text on it in the reader's language, while drawn."""
    shown: list[Any] = [obj, *obj.get_params(ctx)]
    if isinstance(obj, typer.core.TyperGroup):
        shown += [obj.get_command(ctx, name) for name in obj.list_commands(ctx)]
    english = []
    for item in shown:
        for attr in ("help", "short_help"):
            if isinstance(text := getattr(item, attr, None), str) and text:
                english.append((item, attr, text))
                setattr(item, attr, _(text))
    try:
        yield
    finally:
        for item, attr, text in english:
            setattr(item, attr, text)


def speak_typer() -> None:
    """Make Typer's help pages, usage errors and aborts speak the reader's language (once)."""
    rich = typer.rich_utils
    if getattr(rich, "_tierflow_speaks", False):
        return
    format_help: Callable[..., None] = rich.rich_format_help
    format_error: Callable[[Any], None] = rich.rich_format_error
    abort_error: Callable[[], None] = rich.rich_abort_error
    make_text: Callable[..., Any] = rich._make_rich_text

    def rich_format_help(*, obj: Any, ctx: Context, markup_mode: Any) -> None:
        _fixed_words(ctx)
        with _translated_help(obj, ctx):
            format_help(obj=obj, ctx=ctx, markup_mode=markup_mode)

    def rich_format_error(self: Any) -> None:
        _fixed_words(getattr(self, "ctx", None))
        said = usage_error(self.format_message())
        self.format_message = lambda: said
        format_error(self)

    def rich_abort_error() -> None:
        _fixed_words(None)
        abort_error()

    def _make_rich_text(**kwargs: Any) -> Any:
        made = make_text(**kwargs)
        if isinstance(made, Text):
            made.overflow = "fold"
        return made

    rich.rich_format_help = rich_format_help
    rich.rich_format_error = rich_format_error
    rich.rich_abort_error = rich_abort_error
    rich._make_rich_text = _make_rich_text
    rich._tierflow_speaks = True  # type: ignore[attr-defined]
