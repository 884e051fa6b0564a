"""SLA what-ifs for supervisors and admins: run one over the recorded requests, read the runs.

The simulation is ``whatif``'s, the CLI's own. Here it runs on a thread in the API's process
(``processes=1``: the API never forks), one run at a time per API process, over at most
``Settings.whatif_max_requests`` requests; larger runs belong to ``tierflow whatif``. Every
run is saved with the caller as ``run_by``. A supervisor stays in their region: a run they
start covers their division prefix (or a narrower one), and they read only runs so scoped.

A refusal answers 422 naming the field: ``msg`` in English (stable, for programs), ``text``
in the caller's language (``Accept-Language``, Chinese by default), as the policies API does.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from fastapi import HTTPException, status
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.orm import defer
from sqlmodel import Session, col, select

from api.auth import require
from api.deps import ApiContext
from api.errors import field_name
from schemas import permissions
from schemas.domain import Category, Priority, Role, Tier
from schemas.messages import pydantic_reason
from schemas.policy import CalendarData
from tierflow import policy_store
from tierflow.auth_store import Principal
from tierflow.csv_text import BOM
from tierflow.db.models import WhatIfRun
from tierflow.i18n import N_, Said, TranslatableError, from_accept_language, translations
from tierflow.policy import VERSION_PATTERN, PolicyError, parse_policy
from whatif.report import changed_csv, groups_csv
from whatif.run import Candidate, WhatIfJob, run_whatif
from whatif.store import load_run, save_run
from whatif.trail import Scope, request_ids

POLICY_CHARS = 64_000  # a policy file is a few kB
CALENDAR_CHARS = 200_000  # a calendar of many years, as `tierflow calendar` writes it
LISTED_RUNS = 50
RUN_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:+-]{0,63}$"  # `whatif.store.save_run`: wi-<stamp>-<hex>
_RUNNING = threading.Lock()  # one what-if at a time: it takes a core while it runs


class WhatIfRefused(TranslatableError):
    """A what-if refused before it ran; ``field`` is the input at fault."""

    def __init__(self, field: str, message: str, **values: object) -> None:
        self.field = field
        super().__init__(message, **values)


class WhatIfAsk(BaseModel):
    """What to try (a recorded version or a policy file, optionally a calendar) and on what."""

    model_config = ConfigDict(extra="forbid")

    version: str | None = Field(
        default=None, pattern=VERSION_PATTERN, description="A recorded policy version to try"
    )
    policy: str | None = Field(
        default=None, max_length=POLICY_CHARS, description="A candidate policy file (TOML)"
    )
    calendar: str | None = Field(
        default=None,
        max_length=CALENDAR_CHARS,
        description="A candidate business calendar (JSON, as `tierflow calendar` writes it)",
    )
    since: AwareDatetime | None = Field(
        default=None, description="Requests submitted at or after (default: the first)"
    )
    until: AwareDatetime | None = Field(
        default=None, description="Requests submitted before (default: the latest)"
    )
    categories: list[Category] = Field(default_factory=list, description="Only these")
    priorities: list[Priority] = Field(default_factory=list, description="Only these")
    division_prefix: str | None = Field(
        default=None,
        pattern=r"^[0-9]{1,6}$",
        description="Only enterprises whose division code starts so (a supervisor: within "
        "their region; default: their region)",
    )


class RunSummaryOut(BaseModel):
    """A saved run as lists show it."""

    run_id: str
    created_at: datetime
    run_by: str
    candidate_version: str
    since: datetime | None
    until: datetime | None
    division_prefix: str | None
    requests: int
    changed: int


class RunList(BaseModel):
    runs: list[RunSummaryOut] = Field(description="The newest first")


class RunOut(RunSummaryOut):
    """A saved run whole: the scope, the candidate, the report, the releases citing it."""

    scope: dict[str, Any] = Field(
        description="Who and what it covered: since, until, categories, priorities, "
        "division_prefix, tiers (the caller's and below); held_above: requests of that "
        "region and period that tiers above hold now, left out (absent when none); as_of: "
        "the instant the data stood for (timers due after it did not fire; `tierflow whatif "
        "--as-of` makes the run again)"
    )
    candidate_content: str = Field(description="The candidate policy file as given")
    candidate_calendar: str | None = Field(
        default=None,
        description="The candidate calendar (JSON) the run tried instead of the policy's own",
    )
    report: dict[str, Any] = Field(
        description="Before/after totals, groups per institution, tier, category and "
        "priority, the changed requests, the skipped ones (`tierflow whatif --json`)"
    )
    releases: list[policy_store.Release] = Field(
        description="The policy releases this run justified"
    )


@dataclass(frozen=True)
class Prepared:
    """A what-if checked and ready to run."""

    policy_text: str
    calendar_json: str | None
    scope: Scope
    requests: int
    held_above: int = 0  # in the region and period, held by tiers above the caller's now


# --------------------------------------------------------------------------- scope of a caller
def region(principal: Principal) -> str:
    """The division prefix a caller's what-ifs stay in ("" for admins and national ones)."""
    if principal.role is Role.ADMIN:
        return ""
    prefix = permissions.region_prefix(principal.tier, principal.division_code)
    if prefix is None:  # a supervisor without an institution has no region
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            Said(N_("%(user)s has no region to run what-ifs in"), user=principal.user_id),
        )
    return prefix


def tiers(principal: Principal) -> tuple[Tier, ...]:
    """The tiers a caller's what-ifs stay in, as their reads do: their own and below (():
    every tier, for admins and national supervisors)."""
    if principal.role is Role.ADMIN:
        return ()
    found = tuple(permissions.tiers_at_or_below(principal.tier))
    return () if set(found) == set(Tier) else found


def visible(run_scope: dict[str, Any] | None, prefix: str, reach: tuple[Tier, ...]) -> bool:
    """Whether a run with ``run_scope`` lies in the region ``prefix`` at the tiers ``reach``
    (a run saved before its scope named tiers covered every tier)."""
    scope = run_scope or {}
    if not run_region(scope).startswith(prefix):
        return False
    covered = set(scope.get("tiers") or [t.value for t in Tier])
    return not reach or covered <= {t.value for t in reach}


def run_region(scope: dict[str, Any]) -> str:
    """The region a run covered: a supervisor's (the requests overseen from it), else the
    enterprises' division it named ('': every one)."""
    return str(scope.get("overseen_prefix") or scope.get("division_prefix") or "")


def refusal(exc: WhatIfRefused, language: str | None) -> HTTPException:
    """A 422 naming the field at fault, worded in English and in the caller's language."""
    loc = ["body", exc.field]
    text = exc.text(translations(from_accept_language(language) or "zh-CN"))
    item = {"loc": loc, "msg": str(exc), "type": "value_error", "field": field_name(loc)}
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, [item | {"text": text}])


# --------------------------------------------------------------------------- checks
def _policy_text(ctx: ApiContext, ask: WhatIfAsk) -> str:
    if (ask.version is None) == (ask.policy is None):
        raise WhatIfRefused(
            "policy", N_("policy: give a recorded version or a policy file (TOML), one of them")
        )
    if ask.version is not None:
        text = policy_store.policy_content(ctx.engine, ask.version)
        if text is None:
            raise WhatIfRefused(
                "version",
                N_("version: %(version)s is not recorded (tierflow policy list)"),
                version=ask.version,
            )
        return text
    assert ask.policy is not None
    try:
        parse_policy(ask.policy, Said(N_("candidate policy")))
    except PolicyError as exc:
        raise WhatIfRefused("policy", N_("policy: %(reason)s"), reason=exc.said) from None
    return ask.policy


def _calendar(ask: WhatIfAsk) -> str | None:
    if not ask.calendar:
        return None
    try:
        CalendarData.model_validate_json(ask.calendar)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "JSON"
        reason = pydantic_reason(first) or first["msg"]
        raise WhatIfRefused(
            "calendar", N_("calendar: %(where)s: %(reason)s"), where=where, reason=reason
        ) from None
    return ask.calendar


def _utc(value: datetime | None, name: str) -> datetime | None:
    try:
        return value.astimezone(UTC) if value is not None else None
    except OverflowError:  # an instant at the edge of the calendar
        raise WhatIfRefused(name, N_("%(name)s: out of range"), name=name) from None


def _scope(ask: WhatIfAsk, prefix: str, reach: tuple[Tier, ...]) -> Scope:
    since, until = _utc(ask.since, "since"), _utc(ask.until, "until")
    if ask.since is not None and ask.until is not None and ask.since >= ask.until:
        raise WhatIfRefused(
            "until",
            N_("until: %(until)s is not after since (%(since)s)"),
            until=ask.until.isoformat(),
            since=ask.since.isoformat(),
        )
    division = ask.division_prefix or prefix or None
    if not (division or "").startswith(prefix):
        raise WhatIfRefused(
            "division_prefix",
            N_("division_prefix: %(asked)s is outside your region (%(region)s)"),
            asked=division,
            region=prefix,
        )
    return Scope(
        since=since,
        until=until,
        categories=tuple(dict.fromkeys(ask.categories)),
        priorities=tuple(dict.fromkeys(ask.priorities)),
        # a supervisor's run: the requests of their queue (overseen from their region), of
        # enterprises from the division asked, if any
        division_prefix=(ask.division_prefix or None) if reach else division,
        overseen_prefix=prefix if reach else None,
        tiers=reach,
    )


def prepare(ctx: ApiContext, ask: WhatIfAsk, prefix: str, reach: tuple[Tier, ...]) -> Prepared:
    """Check the ask (``WhatIfRefused`` naming the field) and count the requests it covers:
    those in the region ``prefix`` held at the tiers ``reach`` (all when empty)."""
    text = _policy_text(ctx, ask)
    calendar = _calendar(ask)
    scope = _scope(ask, prefix, reach)
    count = len(request_ids(ctx.engine, scope))
    # a supervisor's reach leaves out what was escalated above it: the page says how many
    held_above = len(request_ids(ctx.engine, replace(scope, tiers=()))) - count if reach else 0
    most = ctx.settings.whatif_max_requests
    if count > most:
        raise WhatIfRefused(
            "scope",
            N_(
                "scope: the period and scope cover %(count)d requests, more than a console "
                "run may (%(most)d); narrow them, or run `tierflow whatif --policy FILE "
                "--save` on a host that reaches the database"
            ),
            count=count,
            most=most,
        )
    return Prepared(text, calendar, scope, count, held_above)


def _simulate(ctx: ApiContext, prepared: Prepared, run_by: str) -> str:
    job = WhatIfJob(
        ctx.settings.resolved_database_url,
        prepared.scope,
        ctx.clock(),
        processes=1,
        candidate=Candidate(prepared.policy_text, prepared.calendar_json),
    )
    report = run_whatif(job)
    return save_run(
        ctx.engine,
        report,
        prepared.policy_text,
        prepared.scope,
        run_by,
        prepared.calendar_json,
        prepared.held_above,
    )


# --------------------------------------------------------------------------- the service
async def run(
    ctx: ApiContext, principal: Principal, ask: WhatIfAsk, language: str | None
) -> RunOut:
    """Check, simulate off the event loop, save with the caller as ``run_by``; the run."""
    require(principal, "whatif")
    prefix = region(principal)
    try:
        prepared = await asyncio.to_thread(prepare, ctx, ask, prefix, tiers(principal))
    except WhatIfRefused as exc:
        raise refusal(exc, language) from None
    if not _RUNNING.acquire(blocking=False):
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            Said(N_("a what-if is running on this API server; retry when it ends")),
            headers={"Retry-After": "10"},
        )
    try:
        run_id = await asyncio.to_thread(_simulate, ctx, prepared, principal.user_id)
    finally:
        _RUNNING.release()
    return await saved(ctx, principal, run_id)


def _summary(row: WhatIfRun) -> RunSummaryOut:
    return RunSummaryOut(
        run_id=row.run_id,
        created_at=row.created_at,
        run_by=row.run_by,
        candidate_version=row.candidate_version,
        since=row.since,
        until=row.until,
        division_prefix=(row.scope or {}).get("division_prefix")
        or run_region(row.scope or {})
        or None,
        requests=row.requests,
        changed=row.changed,
    )


def _listing(ctx: ApiContext, prefix: str, reach: tuple[Tier, ...]) -> RunList:
    query = (
        select(WhatIfRun)
        .options(defer(WhatIfRun.report), defer(WhatIfRun.candidate_content))  # type: ignore[arg-type]
        .order_by(col(WhatIfRun.created_at).desc())
    )
    found: list[RunSummaryOut] = []
    with Session(ctx.engine) as session:
        for row in session.exec(query):
            if visible(row.scope, prefix, reach):
                found.append(_summary(row))
                if len(found) == LISTED_RUNS:
                    break
    return RunList(runs=found)


async def runs(ctx: ApiContext, principal: Principal) -> RunList:
    """The newest saved runs the caller may read."""
    require(principal, "whatif")
    return await asyncio.to_thread(_listing, ctx, region(principal), tiers(principal))


def _saved(ctx: ApiContext, prefix: str, reach: tuple[Tier, ...], run_id: str) -> RunOut:
    found = load_run(ctx.engine, run_id)
    if found is None or not visible(found[0].scope, prefix, reach):
        missing = Said(N_("no what-if run %(run)s"), run=run_id)  # worded for the reader
        raise HTTPException(status.HTTP_404_NOT_FOUND, missing)
    row, report = found
    cited = [r for r in policy_store.releases(ctx.engine) if r.whatif_run_id == run_id]
    return RunOut(
        **_summary(row).model_dump(),
        scope=row.scope or {},
        candidate_content=row.candidate_content,
        candidate_calendar=row.candidate_calendar,
        report=report,
        releases=cited,
    )


async def saved(ctx: ApiContext, principal: Principal, run_id: str) -> RunOut:
    """One saved run (404 when it is not recorded or lies outside the caller's region)."""
    require(principal, "whatif")
    return await asyncio.to_thread(_saved, ctx, region(principal), tiers(principal), run_id)


def figures_csv(run: RunOut) -> str:
    """Before, after and the change per dimension, group and measure (UTF-8 with BOM)."""
    return BOM + groups_csv(run.report)


def changes_csv(run: RunOut) -> str:
    """One row per changed request and changed field (UTF-8 with BOM)."""
    return BOM + changed_csv(run.report)
