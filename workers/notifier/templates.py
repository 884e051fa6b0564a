"""Render a rule's template for one event in one locale (Jinja2, packaged files).

Each template file has a ``subject`` block and a ``body`` block, and may have an ``sms``
block (the text message, at most 300 characters; else the subject is texted);
``templates/zh-CN`` is the default, ``templates/en`` the English one. Templates see the
transition (``r``), its request summary (``s``) and a console ``link``, never the
enterprise's contact details; ``word(kind, code)`` names a tier, category, priority or clock
in the template's language, ``why(text)`` reads the engine's own reasons
(``sla_breach:response``) in it, and ``clock`` is the late or breached step's name.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from babel.support import NullTranslations
from jinja2 import Environment, PackageLoader, StrictUndefined, TemplateNotFound, pass_context
from jinja2.runtime import Context

from schemas.domain import Category, Priority, Tier
from schemas.lifecycle import ReturnReason, SuspendReason, TransitionRecord
from schemas.request import SYSTEM_ACTOR
from tierflow.i18n import formats, translations
from tierflow.i18n.engine_reasons import clock_words, engine_reason
from tierflow.i18n.labels import code_words

WORDS = {
    "tier": Tier,
    "category": Category,
    "priority": Priority,
    "return_reason": ReturnReason,
    "suspend_reason": SuspendReason,
}


@dataclass(frozen=True)
class Rendered:
    subject: str
    body: str
    sms: str  # the text message: the template's ``sms`` block, else its subject


@pass_context
def _local(context: Context, value: Any) -> str:
    """Show a time in China's time zone as the console does in the template's language
    (2026年12月7日 17:30; ISO text or datetime); '-' when there is none."""
    if not value:
        return "-"
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return formats.when(moment, context["catalog"])


_LINK = re.compile(r"\bhttps?://\S+", re.IGNORECASE)
# punctuation a sentence may end with already, in either language
_ENDS = tuple("。！？…；.!?;")


def _without_links(text: str, instead: str = "") -> str:
    """The text with ``instead`` for each web link: carriers refuse a text message whose link
    is not on a registered domain, and the mail and the portal carry the whole text."""
    return re.sub(r"\s+（", "（", " ".join(_LINK.sub(instead, text).split()))


def _end_with(text: str, stop: str) -> str:
    """``text`` ended by ``stop`` unless it ends with a stop of its own (no "？。")."""
    return text if not text or text.endswith(_ENDS) else text + stop


class Templates:
    """The packaged templates, loaded once; ``render`` raises KeyError for an unknown name."""

    def __init__(self) -> None:
        self.env = Environment(
            loader=PackageLoader("workers.notifier", "templates"),
            undefined=StrictUndefined,
            autoescape=False,  # plain-text mail and SMS; the console escapes when it shows them
            keep_trailing_newline=False,
        )
        self.env.filters["local"] = _local
        self.env.filters["without_links"] = _without_links
        self.env.filters["end_with"] = _end_with

    def check(self, name: str, locales: tuple[str, ...]) -> None:
        """Raise KeyError unless ``name`` exists in every locale (checked at start)."""
        for locale in locales:
            try:
                self.env.get_template(f"{locale}/{name}.j2")
            except TemplateNotFound:
                raise KeyError(f"template {locale}/{name}.j2 does not exist") from None

    def render(
        self,
        name: str,
        locale: str,
        record: TransitionRecord,
        link: str,
        units: Callable[[], Mapping[str, str]] | None = None,
        portal: str | None = None,
        accepted_before: Callable[[], bool] | None = None,
    ) -> Rendered:
        """Return subject and body of ``name`` in ``locale`` for ``record``; ``units`` reads
        the names of the institutions it mentions, when a template first names one with
        ``unit(id)`` (the id where it has none); ``accepted_before`` whether a unit accepted
        (受理) the request before this step, when a template first asks."""

        def unit(institution: str | None) -> str:
            known = units() if units else {}
            return known.get(institution or "") or institution or "-"

        template = self.env.get_template(f"{locale}/{name}.j2")
        catalog = translations(locale)
        r = record.model_dump(mode="json", exclude={"request"})
        context = template.new_context(
            {
                "r": r,
                "s": r["summary"],
                "link": link,
                "portal": portal,  # the enterprise service portal's page of it (None: unknown)
                "clock": clock_words(str(r["details"].get("clock") or ""), catalog, unit),
                "word": lambda kind, code: _word(kind, code, catalog),
                "why": lambda text: engine_reason(
                    text, catalog, by=r["actor"]["id"], event_type=r["event_type"]
                ),
                "unit": unit,
                "accepted_before": accepted_before or (lambda: False),
                # the engine's own step (the request reached no unit), not a system client's
                "by_engine": r["actor"]["id"] == SYSTEM_ACTOR.id,
                "catalog": catalog,
            }
        )
        subject = " ".join("".join(template.blocks["subject"](context)).split())[:300]
        body = "".join(template.blocks["body"](context)).strip() + "\n"
        sms = subject
        if "sms" in template.blocks:  # what a message must say when a text is all that arrives
            sms = " ".join("".join(template.blocks["sms"](context)).split())[:300]
        return Rendered(subject, body, sms)


def _word(kind: str, code: str | None, catalog: NullTranslations) -> str:
    """A tier's, category's or priority's code in the catalog's words ("" for none)."""
    return code_words(WORDS[kind], code, catalog) if code else ""
