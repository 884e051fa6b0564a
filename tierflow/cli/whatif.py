"""`tierflow whatif`: replay the recorded requests under a candidate SLA policy, or verify.

The simulation (``whatif/``) runs the live workflow code, so it is imported only when the
command runs: ``tierflow --help`` and the other commands never load the workflow.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from schemas.policy import CalendarData
from tierflow.cli.database import operator
from tierflow.cli.texts import _, checked_choice, explain, fail, say
from tierflow.i18n import os_reason

if TYPE_CHECKING:
    from whatif.trail import Scope


def register(app: typer.Typer) -> None:
    """Add the command to the root command."""
    app.command("whatif")(whatif)


def _when(text: str | None, name: str) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        fail(_("%(name)s: %(value)r is not an ISO 8601 time") % {"name": name, "value": text}, 2)
    if moment.tzinfo is None:
        fail(_("%(name)s: give a time zone (e.g. +08:00)") % {"name": name}, 2)
    return moment


def _scope(
    since: str | None,
    until: str | None,
    categories: list[str],
    priorities: list[str],
    division: str | None,
) -> Scope:
    from schemas.domain import Category, Priority
    from whatif.trail import Scope

    chosen_categories = tuple(checked_choice(Category, c, "--category") for c in categories)
    chosen_priorities = tuple(checked_choice(Priority, p, "--priority") for p in priorities)
    if division is not None and not (division.isdigit() and 1 <= len(division) <= 6):
        fail(_("--division: a prefix of a division code, 1-6 digits"), 2)
    start, end = _when(since, "--since"), _when(until, "--until")
    if start is not None and end is not None and start >= end:
        fail(
            _("--since: %(since)s is not before --until %(until)s")
            % {"since": since, "until": until},
            2,
        )
    return Scope(
        since=start,
        until=end,
        categories=chosen_categories,
        priorities=chosen_priorities,
        division_prefix=division,
    )


def _read(path: Path, name: str) -> str:
    try:
        return path.read_text("utf-8")
    except OSError as exc:
        reason = say(os_reason(exc))
        fail(
            _("%(name)s: cannot read %(path)s: %(reason)s")
            % {"name": name, "path": path, "reason": reason}
        )
    except UnicodeDecodeError:
        fail(_("%(file)s: not UTF-8 text") % {"file": path})


def _write(path: Path, text: str) -> None:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(_("cannot write %(path)s: %(reason)s") % {"path": path, "reason": exc.strerror or exc})


def whatif(
    policy: Path | None = typer.Option(None, help="The candidate SLA policy file (TOML)"),
    calendar: Path | None = typer.Option(
        None,
        help="A candidate business calendar (JSON, as `tierflow calendar show --json` writes it)",
    ),
    verify: bool = typer.Option(
        False, "--verify", help="Replay under each request's own policy and compare"
    ),
    since: str | None = typer.Option(None, help="Requests submitted at or after (ISO 8601)"),
    until: str | None = typer.Option(None, help="Requests submitted before (ISO 8601)"),
    category: list[str] = typer.Option([], help="Only this category (repeatable)"),
    priority: list[str] = typer.Option([], help="Only this priority (repeatable)"),
    division: str | None = typer.Option(None, help="Only enterprises whose division starts so"),
    as_of: str | None = typer.Option(
        None, "--as-of", help="The instant the data stands for (default: now)"
    ),
    tolerance: float = typer.Option(
        0.0, help="--verify: business seconds an instant may differ from its record"
    ),
    json_out: Path | None = typer.Option(None, "--json", help="Write the report as JSON here"),
    csv_out: Path | None = typer.Option(
        None, "--csv", help="Write the figures as CSV here (and the changed requests beside it)"
    ),
    save: bool = typer.Option(False, "--save", help="Keep the run in the database"),
    processes: int = typer.Option(2, min=1, max=64, help="Processes that simulate in parallel"),
) -> None:
    """What a candidate SLA policy would have done to the recorded requests, before and after."""
    from tierflow.db.engine import make_engine
    from tierflow.policy import PolicyError, parse_policy
    from tierflow.settings import Settings
    from whatif.report import changed_csv, groups_csv
    from whatif.run import Candidate, VerifyJob, WhatIfJob, run_verify, run_whatif
    from whatif.store import save_run

    if verify == (policy is not None):
        fail(_("give either --policy FILE or --verify"), 2)
    if verify:  # a verify replays each request's own policy: it tries and keeps nothing else
        for name, given in (("--calendar", calendar), ("--csv", csv_out), ("--save", save)):
            if given:
                fail(
                    _("%(name)s: not with --verify (it checks the recorded requests)")
                    % {"name": name},
                    2,
                )
    scope = _scope(since, until, category, priority, division)
    horizon = _when(as_of, "--as-of") or datetime.now(UTC)
    url = Settings().resolved_database_url
    if verify:
        checking = VerifyJob(url, scope, horizon, processes, timedelta(seconds=tolerance))
        found = run_verify(checking)
        if json_out is not None:
            _write(json_out, json.dumps(found.as_dict(), ensure_ascii=False, indent=2))
        typer.echo(
            _("%(agreed)d of %(requests)d requests replay exactly as recorded")
            % {"agreed": found.agreed, "requests": found.requests}
        )
        for skipped in found.skipped:
            typer.echo(
                _("not replayed: %(request)s: %(reason)s")
                % {
                    "request": skipped["request_id"],
                    "reason": skipped["reason"],
                }
            )
        for differs in found.disagreements:
            typer.echo(_("differs: %(what)s") % {"what": differs.describe()})
        raise typer.Exit(0 if found.holds else 1)
    assert policy is not None
    text = _read(policy, "--policy")
    try:
        parse_policy(text, policy.name)
    except PolicyError as exc:
        fail(_("--policy: %(reason)s") % {"reason": explain(exc)})
    calendar_text = _read(calendar, "--calendar") if calendar is not None else None
    if calendar_text is not None:
        try:
            CalendarData.model_validate_json(calendar_text)
        except ValueError as exc:  # a TOML file, a policy: named before any request is read
            first = str(exc).splitlines()[1:2] or [str(exc)]
            fail(_("--calendar: not a calendar (%(reason)s)") % {"reason": first[0].strip()}, 2)
    job = WhatIfJob(url, scope, horizon, processes, Candidate(text, calendar_text))
    report = run_whatif(job)
    data = report.as_dict()
    if json_out is not None:
        _write(json_out, json.dumps(data, ensure_ascii=False, indent=2, default=str))
    if csv_out is not None:
        _write(csv_out, groups_csv(data))
        _write(csv_out.with_name(f"{csv_out.stem}-changed.csv"), changed_csv(data))
    _print(data)
    if save:
        engine = make_engine(url)
        try:
            run_id = save_run(engine, report, text, scope, operator(), calendar_text)
        finally:
            engine.dispose()
        typer.echo(_("saved as run %(run)s") % {"run": run_id})


def _percent(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.1f}%"


def _print(data: dict[str, Any]) -> None:
    """The totals before and after, and how many requests change."""
    typer.echo(
        _("candidate %(version)s over %(requests)d requests (%(changed)d change)")
        % {
            "version": data["candidate_version"],
            "requests": data["requests"],
            "changed": len(data["changed"]),
        }
    )
    labels = {
        "breaches": _("breaches"),
        "escalations": _("escalations for a breach"),
        "reminders": _("reminders"),
        "supervisions": _("supervisions for lateness"),
        "warnings": _("warnings"),
        "on_time_rate": _("on-time rate"),
        "mean_resolution_business_hours": _("mean business hours to resolution"),
    }
    for name, label in labels.items():
        before, after = data["before"][name], data["after"][name]
        if name == "on_time_rate":  # as the console shows it
            before, after = _percent(before), _percent(after)
        typer.echo(f"  {label}: {before} -> {after}")
    if data["skipped"]:
        typer.echo(
            _("%(count)d requests not replayed (see the report)") % {"count": len(data["skipped"])}
        )
