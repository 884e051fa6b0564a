"""The console's SLA what-if page (策略推演), for supervisors and admins.

Over the API's what-if service (``api.service.whatif``): pick a recorded policy version or
upload a TOML (and optionally a calendar), choose the period (days in China time) and scope,
run; a run's page shows the totals before and after, a before/after bar chart per group for
one measure at a time (inline SVG, measures picked by links, no script), the requests whose
outcome changes (each linked to its page), the downloads, who ran it and when. An admin
promotes the run's candidate from a date there: the policies service records the candidate
(if it was uploaded) and the release, citing the run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from enum import StrEnum
from gettext import NullTranslations
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile

from api.auth import can
from api.console import language
from api.console.forms import day_of, field_errors, form_text, joined
from api.console.routes import (
    User,
    error_page,
    forbidden_page,
    gettext,
    page_locale,
    page_texts,
    posted_form,
    redirect,
    render,
)
from api.console.views import Texts, fit_label
from api.deps import ApiContext, Ctx
from api.downloads import attachment, csv_attachment
from api.service import policies
from api.service import whatif as service
from schemas.divisions import DIVISIONS
from schemas.domain import Category, Priority, State, Tier
from schemas.edge import full_match
from schemas.policy import CalendarData
from tierflow import policy_store
from tierflow.auth_store import Principal
from tierflow.directory_store import institution_names
from tierflow.grades import SHANGHAI
from tierflow.i18n import N_
from tierflow.policy import PolicyFile
from whatif.report import DIMENSIONS

router = APIRouter(prefix="/console", include_in_schema=False)
CHART_MEASURES = (
    "breaches",
    "escalations",
    "warnings",
    "reminders",
    "supervisions",
    "on_time_rate",
    "mean_resolution_business_hours",
)
MEASURE_LABELS = {
    "requests": N_("Requests"),
    "breaches": N_("Breaches"),
    # the engine's own: a person's 提级 or 督办 is an action, the same before and after
    "escalations": N_("Escalations for a breach"),
    "reminders": N_("Reminders"),
    "supervisions": N_("Supervisions for lateness"),
    "warnings": N_("Warnings"),
    "resolved": N_("Resolved"),
    "on_time": N_("Resolved on time"),
    "on_time_rate": N_("On-time rate"),
    "mean_resolution_business_hours": N_("Mean business hours to resolution"),
}
DIMENSION_LABELS = {
    "institution": N_("Institution"),
    "tier": N_("Tier"),
    "category": N_("Category"),
    "priority": N_("Priority"),
}
FIELD_LABELS = {
    **MEASURE_LABELS,
    "institution_id": N_("First institution"),
    "tier": N_("Tier at the end"),
    "state": N_("State"),
    "resolution_business_seconds": N_("Business hours to resolution"),
    "refused_actions": N_("Recorded actions refused"),
}
ENUMS: dict[str, type[StrEnum]] = {
    "tier": Tier,
    "category": Category,
    "priority": Priority,
    "state": State,
}
CHART_ROWS = 15  # groups per chart: those with the largest figures
CHART_WIDTH = 640.0
CHART_LABEL = 200.0  # SVG units left of the bars for the group's name
CHART_BAR = 350.0
CHART_ROW = 34.0
CHANGED_ROWS = 500  # changed requests listed on the page (all of them in the CSV)
VERSIONS_OFFERED = 100


def can_run_whatif(user: Principal | None) -> bool:
    """Whether the navigation shows 策略推演 (supervisors and admins)."""
    return user is not None and can(user, "whatif")


language.add_global("can_run_whatif", can_run_whatif)


# --------------------------------------------------------------------------- figures as shown
def shown(measure: str, value: Any) -> str:
    """A figure as the page shows it: a rate in per cent, hours with one decimal."""
    if value is None:
        return "—"
    if measure.endswith("_rate"):
        return f"{value * 100:.1f}%"
    if measure.endswith("_hours"):
        return f"{value:.1f}"
    return str(value)


def change(measure: str, before: Any, after: Any) -> tuple[str, str]:
    """The change as text and its direction (up, down, same)."""
    if before is None or after is None or before == after:
        return ("±0" if before == after else "—"), "same"
    delta = after - before
    sign = "+" if delta > 0 else "−"
    if measure.endswith("_rate"):
        text = f"{sign}{abs(delta) * 100:.1f} pp"
    elif measure.endswith("_hours"):
        text = f"{sign}{abs(delta):.1f}"
    else:
        text = f"{sign}{abs(delta)}"
    return text, "up" if delta > 0 else "down"


@dataclass(frozen=True)
class PairBar:
    """One group of a chart: its bars before and after."""

    group: str
    name: str
    label: str  # the name, cut to fit left of the bars
    y: float
    before: str
    after: str
    before_width: float
    after_width: float
    direction: str


def group_name(dimension: str, group: str, texts: Texts, names: dict[str, str]) -> str:
    if dimension == "institution":
        return names.get(group, group)
    kind = ENUMS.get(dimension)
    try:
        return texts.label(kind(group)) if kind else group
    except ValueError:
        return group


def pair_chart(
    dimension: str,
    groups: dict[str, dict[str, Any]],
    measure: str,
    texts: Texts,
    names: dict[str, str],
) -> list[PairBar]:
    """The groups with the largest figures (before or after), each with two bars."""

    def value(pair: dict[str, Any], side: str) -> float:
        return float(pair[side][measure] or 0)

    ranked = sorted(
        groups.items(), key=lambda kv: (-max(value(kv[1], "before"), value(kv[1], "after")), kv[0])
    )[:CHART_ROWS]
    top = (
        1.0
        if measure.endswith("_rate")
        else max([max(value(p, "before"), value(p, "after")) for _, p in ranked] + [0.0])
    )
    scale = CHART_BAR / top if top else 0.0
    bars = []
    for index, (group, pair) in enumerate(ranked):
        before, after = pair["before"][measure], pair["after"][measure]
        name = group_name(dimension, group, texts, names)
        bars.append(
            PairBar(
                group,
                name,
                fit_label(name, CHART_LABEL - 8),
                index * CHART_ROW,
                shown(measure, before),
                shown(measure, after),
                value(pair, "before") * scale,
                value(pair, "after") * scale,
                change(measure, before, after)[1],
            )
        )
    return bars


def field_value(name: str, value: Any, texts: Texts) -> str:
    """A changed request's field as the page shows it."""
    t = texts.t
    if value is None:
        return "—"
    if isinstance(value, bool):
        return str(t.gettext("yes") if value else t.gettext("no"))
    if name == "resolution_business_seconds":
        return f"{value / 3600:.1f}"
    kind = ENUMS.get(name)
    if kind is not None:
        try:
            return texts.label(kind(value))
        except ValueError:
            return str(value)
    return str(value)


# --------------------------------------------------------------------------- the form
def _refused(request: Request, user: Principal) -> Response | None:
    if can_run_whatif(user):
        return None
    refusal = gettext(request, user).gettext("%(user)s (%(role)s) may not run SLA what-ifs")
    return forbidden_page(request, user, refusal)


def _offered_versions(ctx: ApiContext) -> list[policy_store.VersionInfo]:
    return policy_store.policy_versions(ctx.engine, VERSIONS_OFFERED)


def _day_start(value: str) -> datetime | None:
    """The start of a day in China time (``2026-12-01`` -> 00:00 +08:00), or None."""
    day = day_of(value)
    return datetime.combine(day, time(0), SHANGHAI) if day is not None else None


async def _file_text(value: Any) -> str | None:
    """The text of an uploaded file (None: none chosen); ValueError if it is not UTF-8."""
    if not isinstance(value, UploadFile) or not value.filename:
        return None
    data = await value.read()
    return data.decode("utf-8") if data else None


def _values(form: FormData | None) -> dict[str, Any]:
    """The form's fields as the page echoes them."""
    if form is None:
        return {"source": "version", "categories": [], "priorities": []}
    return {
        "source": form_text(form.get("source")).strip() or "version",
        "version": form_text(form.get("version")).strip(),
        "since": form_text(form.get("since")).strip(),
        "until": form_text(form.get("until")).strip(),
        "division_prefix": form_text(form.get("division_prefix")).strip(),
        "categories": [c for c in form.getlist("categories") if isinstance(c, str)],
        "priorities": [p for p in form.getlist("priorities") if isinstance(p, str)],
    }


def _period_refusal(since: str, until: str, t: NullTranslations) -> str | None:
    """Why the form's period cannot be run (a day given but not read, or an empty period)."""
    for label, value in ((t.gettext("From"), since), (t.gettext("To"), until)):
        if value and _day_start(value) is None:
            return t.gettext(
                "%(field)s: %(value)s is not a day between 2000-01-01 and 2099-12-31"
            ) % {"field": label, "value": value}
    start, end = _day_start(since), _until(until)
    if start is not None and end is not None and start >= end:
        return t.gettext("From: %(since)s is after To: %(until)s") % {
            "since": since,
            "until": until,
        }
    return None


def _until(value: str) -> datetime | None:
    start = _day_start(value)
    return start + timedelta(days=1) if start is not None else None


def _page(
    request: Request,
    ctx: ApiContext,
    user: Principal,
    runs: service.RunList,
    form: FormData | None = None,
    status_code: int = 200,
    **extra: Any,
) -> Response:
    texts = page_texts(request, user)
    context = {
        "active": "whatif",
        "versions": _offered_versions(ctx),
        "runs": runs.runs,
        "values": _values(form),
        "categories": list(Category),
        "priorities": list(Priority),
        "region": service.region(user),
        "region_name": DIVISIONS.get(user.division_code or "", ""),
        "most": ctx.settings.whatif_max_requests,
        "day": lambda moment: moment.astimezone(SHANGHAI).date().isoformat() if moment else "",
        "last_day": lambda moment: (
            (moment.astimezone(SHANGHAI) - timedelta(microseconds=1)).date().isoformat()
            if moment
            else ""
        ),
        "texts": texts,
        "form_error": "",
        **extra,
    }
    return render(request, "whatif.html", context, status_code, user)


@router.get("/whatif")
async def whatif_page(request: Request, ctx: Ctx, user: User) -> Response:
    """策略推演: the form to run a what-if, and the saved runs."""
    if refused := _refused(request, user):
        return refused
    runs = await service.runs(ctx, user)
    return _page(request, ctx, user, runs)


def refusal_text(exc: HTTPException) -> str:
    """A service refusal as one line in the page's language (its ``text``, else ``msg``)."""
    if isinstance(exc.detail, list):
        return "; ".join(str(item.get("text") or item.get("msg", "")) for item in exc.detail)
    return str(exc.detail)


@router.post("/whatif")
async def run_page(request: Request, ctx: Ctx, user: User) -> Response:
    """Run the what-if the form asks for and open its page (the form again, if refused)."""
    form = await posted_form(request, user, _refused(request, user))
    if isinstance(form, Response):
        return form
    t = gettext(request, user)
    values = _values(form)
    try:
        policy = await _file_text(form.get("policy")) if values["source"] == "file" else None
        calendar = await _file_text(form.get("calendar"))
    except UnicodeDecodeError:
        message = t.gettext("The file is not UTF-8 text.")
        runs = await service.runs(ctx, user)
        return _page(request, ctx, user, runs, form, 422, form_error=message)
    period = _period_refusal(values["since"], values["until"], t)
    if period:  # a day that cannot be read narrows nothing: the run would cover everything
        runs = await service.runs(ctx, user)
        return _page(request, ctx, user, runs, form, 422, form_error=period)
    ask = {
        "version": values["version"] or None if values["source"] != "file" else None,
        "policy": policy,
        "calendar": calendar,
        "since": _day_start(values["since"]),
        "until": _until(values["until"]),
        "categories": [c for c in values["categories"] if c in {x.value for x in Category}],
        "priorities": [p for p in values["priorities"] if p in {x.value for x in Priority}],
        "division_prefix": values["division_prefix"] or None,
    }
    try:
        asked = service.WhatIfAsk.model_validate(ask)
        done = await service.run(ctx, user, asked, page_locale(request, user))
    except HTTPException as exc:
        runs = await service.runs(ctx, user)
        code = exc.status_code
        return _page(request, ctx, user, runs, form, code, form_error=refusal_text(exc))
    except ValidationError as exc:  # the model's checks (a division prefix of letters ...)
        runs = await service.runs(ctx, user)
        message = joined(field_errors(exc, t), t)
        return _page(request, ctx, user, runs, form, 422, form_error=message)
    return redirect(f"/console/whatif/{done.run_id}")


# --------------------------------------------------------------------------- one run
def _default_release(now: datetime) -> str:
    """The form's default start of a release: the next midnight in China time."""
    tomorrow = now.astimezone(SHANGHAI).date() + timedelta(days=1)
    return datetime.combine(tomorrow, time(0)).strftime("%Y-%m-%dT%H:%M")


async def _run(
    request: Request, ctx: ApiContext, user: Principal, run_id: str
) -> service.RunOut | Response:
    """The saved run, or the page saying why not (the user may not run what-ifs, or the run is
    not in their region)."""
    if refused := _refused(request, user):
        return refused
    try:
        if not full_match(service.RUN_ID_PATTERN, run_id):  # before the database sees it
            raise HTTPException(status.HTTP_404_NOT_FOUND)
        return await service.saved(ctx, user, run_id)
    except HTTPException as exc:
        if exc.status_code == status.HTTP_404_NOT_FOUND:
            message = gettext(request, user).gettext("No what-if run %(run)s in your region")
            exc = HTTPException(404, message % {"run": run_id[:64]})
        return error_page(request, user, exc)


def _run_page(
    request: Request,
    ctx: ApiContext,
    user: Principal,
    run: service.RunOut,
    measure: str,
    status_code: int = 200,
    **extra: Any,
) -> Response:
    texts = page_texts(request, user)
    t = texts.t
    report = run.report
    groups = report.get("groups", {})
    names = institution_names(ctx.engine, list(groups.get("institution", {})))
    charts = [
        (dimension, pair_chart(dimension, groups.get(dimension, {}), measure, texts, names))
        for dimension in DIMENSIONS
    ]
    changed = report.get("changed", [])
    context = {
        "active": "whatif",
        "run": run,
        "report": report,
        "measure": measure,
        "measures": [(m, f"/console/whatif/{run.run_id}?measure={m}") for m in CHART_MEASURES],
        "totals": list(MEASURE_LABELS),
        "measure_label": lambda name: t.gettext(MEASURE_LABELS[name]),
        "dimension_label": lambda name: t.gettext(DIMENSION_LABELS[name]),
        "field_label": lambda name: t.gettext(FIELD_LABELS[name]) if name in FIELD_LABELS else name,
        "field_value": lambda name, value: field_value(name, value, texts),
        "shown": shown,
        "change": change,
        "charts": charts,
        "chart": {
            "width": CHART_WIDTH,
            "label": CHART_LABEL,
            "bar": CHART_BAR,
            "row": CHART_ROW,
        },
        "changed": changed[:CHANGED_ROWS],
        "changed_total": len(changed),
        "category": lambda value: group_name("category", value, texts, names),
        "priority": lambda value: group_name("priority", value, texts, names),
        "tier": lambda value: group_name("tier", value, texts, names),
        "calendar_version": _calendar_version(run.candidate_calendar),
        # runs saved before it was kept stood for the instant they ran
        "as_of": _as_of(run.scope) or run.created_at,
        # a release carries the policy's own calendar: a run on another cannot justify one
        "can_promote": can(user, "policies") and run.candidate_calendar is None,
        "release_from": _default_release(ctx.clock()),
        "release_values": {},
        "form_error": "",
        "promoted": None,
        "downloads": {
            "json": f"/console/whatif/{run.run_id}.json",
            "csv": f"/console/whatif/{run.run_id}.csv",
            "changed": f"/console/whatif/{run.run_id}/changed.csv",
        },
        **extra,
    }
    return render(request, "whatif_run.html", context, status_code, user)


@router.get("/whatif/{run_id}.json")
async def run_json(request: Request, ctx: Ctx, user: User, run_id: str) -> Response:
    """The run as the API answers it (``GET /api/v1/whatif/{run_id}``), as a download."""
    run = await _run(request, ctx, user, run_id)
    if isinstance(run, Response):
        return run
    return attachment(run.model_dump_json(), "application/json", f"{run.run_id}.json")


@router.get("/whatif/{run_id}.csv")
async def run_csv(request: Request, ctx: Ctx, user: User, run_id: str) -> Response:
    """The figures before and after as CSV."""
    run = await _run(request, ctx, user, run_id)
    if isinstance(run, Response):
        return run
    return csv_attachment(service.figures_csv(run), f"{run.run_id}.csv")


@router.get("/whatif/{run_id}/changed.csv")
async def run_changed_csv(request: Request, ctx: Ctx, user: User, run_id: str) -> Response:
    """The changed requests as CSV."""
    run = await _run(request, ctx, user, run_id)
    if isinstance(run, Response):
        return run
    return csv_attachment(service.changes_csv(run), f"{run.run_id}-changed.csv")


@router.get("/whatif/{run_id}")
async def run_view(
    request: Request,
    ctx: Ctx,
    user: User,
    run_id: str,
    measure: str = "breaches",
    promoted: str = "",
) -> Response:
    """One run: totals, charts per group, the changed requests, downloads, promotion."""
    run = await _run(request, ctx, user, run_id)
    if isinstance(run, Response):
        return run
    measure = measure if measure in CHART_MEASURES else "breaches"
    release = next((r for r in run.releases if str(r.id) == promoted), None)
    return _run_page(request, ctx, user, run, measure, promoted=release)


def _release_start(value: str) -> datetime | None:
    """A ``datetime-local`` value read in China time, or None."""
    try:
        moment = datetime.fromisoformat(value) if value else None
    except ValueError:
        return None
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=SHANGHAI)


def _as_of(scope: dict[str, Any]) -> datetime | None:
    """The instant a saved run's data stood for, as its scope keeps it."""
    value = scope.get("as_of")
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _calendar_version(calendar_json: str | None) -> str | None:
    """The version of the candidate calendar a run tried (None: the policy's own)."""
    if calendar_json is None:
        return None
    return CalendarData.model_validate_json(calendar_json).version  # validated before the run


def _add_candidate(
    ctx: ApiContext, user: Principal, run: service.RunOut, configured: PolicyFile
) -> None:
    """Record the run's candidate as a policy version (nothing if recorded with it already;
    refused under a version recorded, or configured, with other content)."""
    policy_store.add_policy(
        ctx.engine,
        run.candidate_content,
        added_by=user.user_id,
        configured=configured,
        source=f"whatif {run.run_id}",
        now=ctx.clock(),
    )


@router.post("/whatif/{run_id}/promote")
async def promote(request: Request, ctx: Ctx, user: User, run_id: str) -> Response:
    """Promote the run's candidate from a date (admins), the release citing this run."""
    form = await posted_form(request, user, _refused(request, user))
    if isinstance(form, Response):
        return form
    run = await _run(request, ctx, user, run_id)
    if isinstance(run, Response):
        return run
    t = gettext(request, user)
    locale = page_locale(request, user)
    values = {
        "in_force_from": form_text(form.get("in_force_from")).strip(),
        "note": form_text(form.get("note")).strip(),
    }
    start = _release_start(values["in_force_from"])

    def again(message: str, code: int = 422) -> Response:
        return _run_page(
            request, ctx, user, run, "breaches", code, form_error=message, release_values=values
        )

    if start is None:
        return again(t.gettext("From: give a date and time."))
    if not can(user, "policies"):
        return error_page(request, user, HTTPException(403, t.gettext("Only admins promote.")))
    try:
        await run_in_threadpool(  # before the candidate is recorded: a refusal leaves none
            policy_store.check_before_recording,
            ctx.engine,
            run.candidate_version,
            start,
            run.run_id,
            ctx.clock(),
        )
        configured = policies.configured_policy(ctx)
        await run_in_threadpool(_add_candidate, ctx, user, run, configured)
    except policy_store.PolicyStoreError as exc:
        return again(exc.text(t))
    except HTTPException as exc:  # the worker's policy file cannot be read
        return again(refusal_text(exc), exc.status_code)
    try:
        body = policies.PromoteBody(
            in_force_from=start, whatif_run_id=run.run_id, note=values["note"] or None
        )
        release = await policies.promote(ctx, user, run.candidate_version, body, locale)
    except HTTPException as exc:
        return again(refusal_text(exc), exc.status_code)
    except ValidationError as exc:  # the note's checks
        return again(joined(field_errors(exc, t), t))
    query = urlencode({"promoted": str(release.id)})
    return redirect(f"/console/whatif/{run.run_id}?{query}")
