"""Extract the messages of the console and the CLI, and keep the catalogs in step with them.

``python -m tierflow.i18n.catalogs update`` adds new messages to every catalog (keeping the
translations it has) and drops ones the source no longer uses; translate the new ``zh_CN``
entries, then ``python -m tierflow.i18n.catalogs check`` (the test suite runs the same check)
must print nothing. Run both from a checkout: the sources are read from it.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer.core
import typer.main
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po, write_po

from tierflow.cli import app  # a developer's tool: it reads the commands' help texts
from tierflow.i18n import CATALOG_NAMES, DOMAIN, LOCALES, catalog_path

ROOT = Path(__file__).resolve().parents[2]
# Where user-visible words are: the console (routes, views, templates), every CLI command
# group, the labels and formats they share, and the messages of the checks the CLI prints
# (raised as TranslatableError or returned as Said, with N_() messages): the admin and grade
# stores, a USCC, a division code, the edge rules (free text, names, e-mail, times), a grade
# list, a directory and its CSV, a monthly report, a policy candidate or promotion, a what-if,
# an action's refusal.
SOURCES: dict[str, list[tuple[str, str]]] = {
    "activities": [("handlers.py", "python")],  # why a named handler is refused
    "api/console": [
        ("**.py", "python"),
        ("templates/**.html", "jinja2.ext:babel_extract"),
    ],
    # a request or an institution not found; pydantic's kinds of error in our words
    # ... and an address locked out after too many refused tokens
    "api": [
        ("lookup.py", "python"),
        ("errors.py", "python"),
        ("auth.py", "python"),  # a grant the caller lacks
        ("deps.py", "python"),
        ("middleware.py", "python"),  # a body too large
        ("routes/institutions.py", "python"),
    ],
    # the what-if's refusals (API and console); an action on a finished or busy request; a
    # preference's phone
    "api/service": [
        ("whatif.py", "python"),
        ("actions.py", "python"),
        ("notifications.py", "python"),
    ],
    "schemas": [
        ("divisions.py", "python"),
        ("engine_reasons.py", "python"),  # the engine's own audit-trail reasons
        ("edge.py", "python"),
        ("enterprise.py", "python"),
        ("events.py", "python"),  # a command's unknown field
        ("lifecycle.py", "python"),  # what an action needs ("required for resolve: ...")
        ("messages.py", "python"),
        ("permissions.py", "python"),
    ],
    "tierflow": [
        ("auth_store.py", "python"),
        ("i18n/engine_reasons.py", "python"),
        ("directory.py", "python"),
        ("directory_csv.py", "python"),
        ("grades.py", "python"),
        ("grades_csv.py", "python"),
        ("monthly_report.py", "python"),
        ("policy.py", "python"),  # why a policy file does not validate
        ("policy_store.py", "python"),
        ("submission.py", "python"),  # a submit's conflict (API 409, a dead letter)
    ],
    # a dead letter's reason of its own (the ingress's, the notifier's)
    "workers/ingress": [("commands.py", "python")],
    "workers/notifier": [("consumer.py", "python")],
    "tierflow/cli": [("**.py", "python")],
    "tierflow/db": [("rollout_fills.py", "python")],  # what `db fill-after-rollout` did
    # why the workflow refuses an action (``workflows.refusals``), read in the console
    "workflows": [
        ("applications.py", "python"),
        ("chasing.py", "python"),
        ("follow_up.py", "python"),
        ("handlers.py", "python"),
        ("parts.py", "python"),
        ("rectification.py", "python"),
        ("refusals.py", "python"),
        ("rules.py", "python"),
        ("service_request.py", "python"),
    ],
    "tierflow/i18n": [("**.py", "python")],
}
KEYWORDS = {**DEFAULT_KEYWORDS, "NC_": ((1, "c"), 2)}
JINJA_OPTIONS = {"extensions": "jinja2.ext.i18n", "trimmed": "true"}


def cli_help() -> Iterator[tuple[str, int, str]]:
    """The help texts of the ``tierflow`` commands (docstrings and ``help=``): (file, line,
    text) of every command, group, option and argument ``tierflow.cli`` defines.

    They are read from the command tree Typer builds, as ``--help`` shows them (Typer cleans a
    docstring's indentation), and translated when Typer draws a page (``tierflow.cli.texts``).
    Commands the dev tooling adds (``tierflow dev``, ``tierflow bench``, ``db demo`` ...) are
    left out: they stay English. Typer's own words are marked in ``tierflow.cli.texts``.
    """

    def where(command: Any) -> tuple[str, int] | None:
        callback = inspect.unwrap(command.callback) if command.callback else None
        if callback is None or not callback.__module__.startswith("tierflow.cli"):
            return None
        path = Path(inspect.getsourcefile(callback) or "").resolve()
        return str(path.relative_to(ROOT)), callback.__code__.co_firstlineno

    def walk(command: Any, fallback: tuple[str, int]) -> Iterator[tuple[str, int, str]]:
        if isinstance(command, typer.core.TyperGroup):
            found = [list(walk(sub, fallback)) for sub in command.commands.values()]
            found = [texts for texts in found if texts]
            if found:  # a group of tierflow's own (not only the dev tooling's) commands
                file, line = found[0][0][:2] if command is not root else fallback
                if command.help:
                    yield file, line, command.help
                for texts in found:
                    yield from texts
            return
        place = where(command)
        if place is None:
            return
        for text in (command.help, *(p.help for p in command.params)):
            if text:
                yield *place, text

    root = typer.main.get_command(app)
    yield from walk(root, ("tierflow/cli/__init__.py", 1))


def extract() -> Catalog:
    """Return a fresh template catalog of every message the sources mark and of the commands'
    help texts."""
    template = Catalog(domain=DOMAIN, project="tierflow", fuzzy=False)
    for folder, method_map in SOURCES.items():
        options = {pattern: JINJA_OPTIONS for pattern, method in method_map if "jinja" in method}
        for filename, lineno, message, comments, context in extract_from_dir(
            ROOT / folder, method_map, options, KEYWORDS, strip_comment_tags=True
        ):
            template.add(
                message,
                None,
                [(f"{folder}/{filename}", lineno)],
                auto_comments=comments,
                context=context,
            )
    for file, line, text in cli_help():
        template.add(text, None, [(file, line)])
    return template


def read(locale: str) -> Catalog:
    with catalog_path(locale).open("rb") as po:
        return read_po(po, locale=CATALOG_NAMES[locale], domain=DOMAIN)


def _key(message: object) -> tuple[str, str | None]:
    msgid = message.id  # type: ignore[attr-defined]
    first = msgid[0] if isinstance(msgid, tuple) else msgid
    return first, message.context  # type: ignore[attr-defined]


def problems(locale: str, template: Catalog | None = None) -> list[str]:
    """Return what is wrong with ``locale``'s catalog against the sources (empty: nothing)."""
    template = template or extract()
    catalog = read(locale)
    wanted = {_key(m) for m in template if m.id}
    have = {_key(m): m for m in catalog if m.id}
    found = [f"{locale}: missing {k[1] + ': ' if k[1] else ''}{k[0]!r}" for k in wanted - set(have)]
    found += [f"{locale}: unused {k[0]!r}" for k in set(have) - wanted]
    for key, message in have.items():
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if locale != "en" and key in wanted and not all(strings):
            found.append(f"{locale}: untranslated {key[0]!r}")
        if message.fuzzy:
            found.append(f"{locale}: fuzzy {key[0]!r}")
    for message, errors in catalog.check():
        found += [f"{locale}: {message.id!r}: {error}" for error in errors]
    return sorted(found)


def update() -> None:
    """Merge the sources' messages into every catalog (translations kept, unused dropped)."""
    template = extract()
    for locale in LOCALES:
        path = catalog_path(locale)
        if path.exists():
            catalog = read(locale)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            catalog = Catalog(locale=CATALOG_NAMES[locale], domain=DOMAIN, project="tierflow")
        catalog.update(template, no_fuzzy_matching=True)
        catalog.obsolete.clear()
        catalog.fuzzy = False  # the header: its Plural-Forms must reach the compiled catalog
        catalog.copyright_holder = "tierflow"
        with path.open("wb") as po:
            write_po(po, catalog, width=100, include_lineno=False)


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "check"
    if command == "update":
        update()
        return 0
    if command == "check":
        template = extract()
        found = [p for locale in LOCALES for p in problems(locale, template)]
        print("\n".join(found)) if found else None
        return 1 if found else 0
    print("usage: python -m tierflow.i18n.catalogs [update|check]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
