"""The console's language: which one a page is in, and the templates of each.

Chosen per page, first that applies: the switch in the page header (a cookie kept as long as
a console session), the signed-in user's language setting (通知设置, the one their
notifications use), the browser's ``Accept-Language``, else zh-CN. Each language has its own
Jinja2 environment with the i18n extension and that language's catalog installed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader
from sqlmodel import Session

from api.console import views
from tierflow.auth_store import Principal
from tierflow.db.notification_models import NotificationPreference
from tierflow.directory import division_place
from tierflow.i18n import LOCALES, from_accept_language, translations
from tierflow.i18n.formats import span_units

COOKIE = "tf_lang"
TEMPLATES = Path(__file__).parent / "templates"
NAMES = {"zh-CN": "中文", "en": "English"}  # each language in its own words (not translated)


def _templates(locale: str) -> Jinja2Templates:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,
        extensions=["jinja2.ext.i18n"],
    )
    env.policies["ext.i18n.trimmed"] = True
    t = translations(locale)
    env.install_gettext_translations(t, newstyle=True)  # type: ignore[attr-defined]
    texts = views.Texts(locale, t)
    env.globals.update(
        locale=locale,
        languages=NAMES,
        texts=texts,
        label=texts.label,
        badge=texts.badge,
        when=texts.when,
        after=texts.after,
        aside=texts.aside,
        listed=texts.listed,
        iso=views.iso,
        place=division_place,
        span_units=json.dumps(span_units(t), ensure_ascii=False),
    )
    return Jinja2Templates(env=env)


BY_LOCALE: dict[str, Jinja2Templates] = {locale: _templates(locale) for locale in LOCALES}


def add_global(name: str, value: Callable[..., Any]) -> None:
    """Make ``value`` callable from the templates of every language."""
    for templates in BY_LOCALE.values():
        templates.env.globals[name] = value


def user_setting(request: Request, user: Principal | None) -> str | None:
    """The language the user saved in their preferences, or None (never saved)."""
    if user is None:
        return None
    with Session(request.app.state.ctx.engine) as session:
        row = session.get(NotificationPreference, user.user_id)
    return row.locale if row is not None and row.locale in LOCALES else None


def pick(request: Request, user: Principal | None) -> str:
    """The language of this page: switch, user setting, Accept-Language, zh-CN."""
    chosen = request.cookies.get(COOKIE)
    if chosen in LOCALES:
        return str(chosen)
    return (
        user_setting(request, user)
        or from_accept_language(request.headers.get("accept-language"))
        or LOCALES[0]
    )
