"""The console's institution directory page (机构名录), for admins.

It lists the directory the workers route new requests with (the newest version recorded in
the database; while none is, the file ``TIERFLOW_DIRECTORY_FILE`` or the packaged one) with
filters and pages, shows the current version and the import history (``directory_version``),
downloads the CSV ``tierflow directory export`` writes, and imports a CSV or an edit of one
institution through ``tierflow.directory_store.import_directory``: the same checks as the CLI,
every problem shown with its line and column in the page's language, nothing written unless
the whole file is valid. An import needs no directory file: it is recorded in the database,
where every worker finds it; a configured file (single-host setups) is replaced too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import Response
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from api.auth import can
from api.console import language
from api.console.forms import form_text
from api.console.routes import (
    User,
    error_page,
    forbidden_page,
    gettext,
    page_texts,
    posted_form,
    redirect,
    render,
)
from api.console.views import Pages, Texts
from api.deps import ApiContext, Ctx
from api.downloads import csv_attachment
from schemas.domain import Category, Tier
from tierflow.auth_store import Principal
from tierflow.csv_text import BOM, decode
from tierflow.db.errors import describe_db_error
from tierflow.directory import Directory, DirectoryEntry, DirectoryError, full_name
from tierflow.directory_csv import VERSION_PATTERN, Problem, export_csv, problems_of, worded
from tierflow.directory_store import (
    ImportResult,
    current_directory,
    import_directory,
    is_recorded,
    version_history,
)

router = APIRouter(prefix="/console", include_in_schema=False)
PAGE_SIZE = 50
HISTORY_ROWS = 50
IMPORT_PATH = "/console/directory/import"
STAMP = "%Y%m%dT%H%M%SZ"


def can_manage_directory(user: Principal | None) -> bool:
    """Whether the navigation shows 机构名录 (admins only)."""
    return user is not None and can(user, "directory")


language.add_global("can_manage_directory", can_manage_directory)


@dataclass(frozen=True)
class Shown:
    """One problem as the page shows it."""

    line: int | None
    field: str
    message: str


def shown_problems(problems: list[Problem], texts: Texts) -> list[Shown]:
    """The problems in the page's language (``tierflow.directory_csv.worded``, as the CLI)."""
    return [Shown(p.line, *worded(p, texts.t)) for p in problems]


@dataclass
class Filters:
    """The list's filters, as the query string gave them (unknown values: no filter)."""

    tier: Tier | None = None
    prefix: str = ""
    generated: bool = False
    q: str = ""

    @classmethod
    def read(cls, tier: str, prefix: str, generated: str, q: str) -> Filters:
        chosen = Tier(tier) if tier in {t.value for t in Tier} else None
        digits = prefix.strip()[:6]
        digits = digits if digits.isascii() and digits.isdigit() else ""
        return cls(chosen, digits, generated == "1", q.strip()[:100])

    def keep(self, entry: DirectoryEntry) -> bool:
        needle = self.q.casefold()
        return (
            (self.tier is None or entry.tier is self.tier)
            and entry.division_code.startswith(self.prefix)
            and (not self.generated or entry.generated)
            and (not needle or needle in entry.name.casefold() or needle in entry.id.casefold())
        )

    def query(self) -> dict[str, str]:
        found = {
            "tier": self.tier.value if self.tier else "",
            "prefix": self.prefix,
            "generated": "1" if self.generated else "",
            "q": self.q,
        }
        return {name: value for name, value in found.items() if value}


def _refused(request: Request, user: Principal) -> Response | None:
    if can_manage_directory(user):
        return None
    refusal = gettext(request, user).gettext("%(user)s (%(role)s) may not manage the directory")
    return forbidden_page(request, user, refusal)


def _file(ctx: ApiContext) -> Path | None:
    path = ctx.settings.directory_file
    return Path(path) if path is not None else None


def _current(ctx: ApiContext) -> tuple[Directory | None, str]:
    """The directory the workers route new requests with, or None and why it cannot be read."""
    try:
        return current_directory(ctx.engine, _file(ctx)), ""
    except DirectoryError as exc:
        return None, str(exc)


def _page(
    request: Request,
    ctx: ApiContext,
    user: Principal,
    filters: Filters,
    number: int = 1,
    status_code: int = 200,
    **extra: Any,
) -> Response:
    directory, unreadable = _current(ctx)
    entries = [e for e in directory.entries if filters.keep(e)] if directory else []
    pages = max(1, -(-len(entries) // PAGE_SIZE))
    number = Pages.clamp(number, pages)
    start = (number - 1) * PAGE_SIZE

    def page_url(n: int) -> str:
        return "/console/directory?" + urlencode({**filters.query(), "page": str(n)})

    texts = page_texts(request, user)
    history = version_history(ctx.engine, HISTORY_ROWS)
    context = {
        "active": "directory",
        "directory": directory,
        "unreadable": unreadable,
        "file": _file(ctx),
        "recorded": directory is not None and is_recorded(ctx.engine, directory.version),
        "named": len(directory.entries) - len(directory.generated()) if directory else 0,
        "placeholders": len(directory.generated()) if directory else 0,
        "rows": entries[start : start + PAGE_SIZE],
        "total": len(entries),
        "first": start + 1,
        "number": number,
        "pages": pages,
        "paging": Pages.at(number, pages, number < pages, page_url),
        "filters": filters,
        "tiers": list(Tier),
        "place": full_name,
        "categories": lambda e: ", ".join(texts.label(c) for c in e.categories),
        "history": history,
        "csv_url": "/console/directory.csv",
        "errors": [],
        "values": {},
        **extra,
    }
    return render(request, "directory.html", context, status_code, user)


@router.get("/directory")
def directory_page(
    request: Request,
    ctx: Ctx,
    user: User,
    tier: str = "",
    prefix: str = "",
    generated: str = "",
    q: str = "",
    page: int = 1,
    imported: str = "",
    edited: str = "",
    unchanged: str = "",
) -> Response:
    """机构名录: the institutions with filters and pages, the version and its history."""
    if refused := _refused(request, user):
        return refused
    filters = Filters.read(tier, prefix, generated, q)
    return _page(
        request,
        ctx,
        user,
        filters,
        page,
        imported=imported if re.fullmatch(VERSION_PATTERN, imported) else "",
        edited=edited if re.fullmatch(VERSION_PATTERN, edited) else "",
        unchanged=unchanged if re.fullmatch(VERSION_PATTERN, unchanged) else "",
    )


@router.get("/directory.csv")
def directory_csv(request: Request, ctx: Ctx, user: User, with_generated: bool = False) -> Response:
    """The directory as ``tierflow directory export`` writes it (with a BOM for Excel)."""
    if refused := _refused(request, user):
        return refused
    directory, unreadable = _current(ctx)
    if directory is None:
        return error_page(request, user, HTTPException(503, unreadable))
    rows = [e for e in directory.entries if with_generated or not e.generated]
    name = f"directory-{directory.version}.csv"
    return csv_attachment(BOM + export_csv(rows), name, len(rows))


def _new_version(ctx: ApiContext, wanted: str, taken: set[str], at: datetime) -> str:
    """The version asked for, else a UTC stamp (with -2, -3 ... if that one was used)."""
    if wanted:
        return wanted
    stamp = at.strftime(STAMP)
    version, n = stamp, 1
    while version in taken or is_recorded(ctx.engine, version):
        n += 1
        version = f"{stamp}-{n}"
    return version


def _import_now(
    ctx: ApiContext,
    user: Principal,
    text: str,
    wanted: str,
    source: str,
    allow_removal: bool = False,
) -> ImportResult:
    """Choose the version and import ``text`` (into the database; the file too if there is one)."""
    directory, _ = _current(ctx)
    taken = {r.version for r in directory.imports_log()} if directory else set()
    at = ctx.clock()
    return import_directory(
        text,
        _file(ctx),
        _new_version(ctx, wanted, taken, at),
        source=source,
        imported_by=user.user_id,
        engine=ctx.engine,
        at=at,
        allow_removal=allow_removal,
    )


async def _import(
    ctx: ApiContext,
    user: Principal,
    text: str,
    wanted: str,
    source: str,
    allow_removal: bool = False,
) -> tuple[ImportResult | None, list[Problem], str]:
    """Import ``text`` on a thread; return (what it did, problems, refusal): problems or a
    refusal if it could not."""
    try:
        done = await run_in_threadpool(_import_now, ctx, user, text, wanted, source, allow_removal)
    except DirectoryError as exc:
        return None, problems_of(exc), ""
    except SQLAlchemyError as exc:  # its text can quote a value: types and SQLSTATE only
        return None, [], describe_db_error(exc)
    except OSError as exc:
        return None, [], f"{type(exc).__name__}: {exc}"
    return done, [], ""


def _refusal_text(request: Request, user: Principal, refusal: str) -> str:
    t = gettext(request, user)
    return str(t.gettext("Nothing was imported: %(reason)s") % {"reason": refusal})


@router.post("/directory/import")
async def import_page(request: Request, ctx: Ctx, user: User) -> Response:
    """Import an uploaded CSV as a new version (the admin recorded as who imported it)."""
    form = await posted_form(request, user, _refused(request, user))
    if isinstance(form, Response):
        return form
    t = gettext(request, user)
    upload = form.get("file")
    wanted = form_text(form.get("version")).strip()
    allow_removal = form_text(form.get("allow_removal")) == "yes"
    values = {"version": wanted, "allow_removal": allow_removal}
    filters = Filters()
    if wanted and not re.fullmatch(VERSION_PATTERN, wanted):
        message = t.gettext("Version: 1-64 letters, digits or _.:- (or leave it empty)")
        return _page(request, ctx, user, filters, 1, 422, form_error=message, values=values)
    if not isinstance(upload, UploadFile) or not upload.filename:
        message = t.gettext("Choose a CSV file to import.")
        return _page(request, ctx, user, filters, 1, 422, form_error=message, values=values)
    data = await upload.read()
    try:
        text = decode(data)
    except UnicodeDecodeError:
        message = t.gettext("The file is not CSV text in UTF-8 or GB18030.")
        return _page(request, ctx, user, filters, 1, 422, form_error=message, values=values)
    source = Path(upload.filename).name[:200]
    done, problems, refusal = await _import(ctx, user, text, wanted, source, allow_removal)
    if refusal:
        message = _refusal_text(request, user, refusal)
        code = status.HTTP_500_INTERNAL_SERVER_ERROR
        return _page(request, ctx, user, filters, 1, code, form_error=message, values=values)
    if problems:
        texts = page_texts(request, user)
        context = {"errors": shown_problems(problems, texts), "source": source}
        return _page(request, ctx, user, filters, 1, 422, values=values, **context)
    assert done is not None
    if done.unchanged_from is not None:
        return redirect("/console/directory?" + urlencode({"unchanged": done.unchanged_from}))
    return redirect("/console/directory?" + urlencode({"imported": done.version}))


# --------------------------------------------------------------------------- one institution
def _named_entry(ctx: ApiContext, institution_id: str) -> tuple[Directory, DirectoryEntry] | None:
    directory, _ = _current(ctx)
    entry = directory.get(institution_id) if directory else None
    if directory is None or entry is None or entry.generated:
        return None
    return directory, entry


def _edit_page(
    request: Request,
    user: Principal,
    entry: DirectoryEntry,
    values: dict[str, Any],
    status_code: int = 200,
    **extra: Any,
) -> Response:
    context = {
        "active": "directory",
        "entry": entry,
        "values": values,
        "options": list(Category),
        "place": full_name(entry.division_code),
        "errors": [],
        **extra,
    }
    return render(request, "directory_entry.html", context, status_code, user)


def _not_listed(request: Request, user: Principal, institution_id: str) -> Response:
    message = gettext(request, user).gettext(
        "%(id)s is not a named institution of the current directory"
    )
    return error_page(request, user, HTTPException(404, message % {"id": institution_id[:64]}))


@router.get("/directory/institutions/{institution_id}")
def edit_form(request: Request, ctx: Ctx, user: User, institution_id: str) -> Response:
    """Edit one named institution's name, categories and contact."""
    if refused := _refused(request, user):
        return refused
    found = _named_entry(ctx, institution_id)
    if found is None:
        return _not_listed(request, user, institution_id)
    _, entry = found
    values = {
        "name": entry.name,
        "categories": [c.value for c in entry.categories],
        "contact": entry.contact or "",
    }
    return _edit_page(request, user, entry, values)


@router.post("/directory/institutions/{institution_id}")
async def save_entry(request: Request, ctx: Ctx, user: User, institution_id: str) -> Response:
    """Save the edit as a new directory version (the same import as a CSV's)."""
    form = await posted_form(request, user, _refused(request, user))
    if isinstance(form, Response):
        return form
    found = _named_entry(ctx, institution_id)
    if found is None:
        return _not_listed(request, user, institution_id)
    directory, entry = found
    known = {c.value for c in Category}
    values: dict[str, Any] = {
        "name": form_text(form.get("name")).strip(),
        "categories": [c for c in form.getlist("categories") if isinstance(c, str) and c in known],
        "contact": form_text(form.get("contact")).strip(),
    }
    changed = entry.model_copy(
        update={
            "name": values["name"],
            "categories": tuple(Category(c) for c in values["categories"]),
            "contact": values["contact"] or None,
        }
    )
    named = [changed if e.id == entry.id else e for e in directory.entries if not e.generated]
    source = f"console: {entry.id}"[:200]
    done, problems, refusal = await _import(ctx, user, export_csv(named), "", source)
    if refusal:
        message = _refusal_text(request, user, refusal)
        code = status.HTTP_500_INTERNAL_SERVER_ERROR
        return _edit_page(request, user, entry, values, code, form_error=message)
    if problems:
        errors = shown_problems(problems, page_texts(request, user))
        return _edit_page(request, user, entry, values, 422, errors=errors)
    assert done is not None
    if done.unchanged_from is not None:  # saved as it was
        return redirect("/console/directory?" + urlencode({"unchanged": done.unchanged_from}))
    return redirect("/console/directory?" + urlencode({"edited": done.version, "q": entry.id}))
