"""`tierflow policy`: SLA policies as versioned data (admins; talks to the database).

``add`` records a candidate policy file, ``promote`` makes a recorded version the policy new
requests pin from a date (with the what-if run that justified it), ``list`` shows the versions
and the releases, the one in force now marked. Workers pick a promotion up within seconds
(``TIERFLOW_POLICY_REFRESH_SECONDS``); requests already running keep the policy they pinned.
What they print for people is in the operator's language (``tierflow.cli.texts``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from tierflow.cli.database import database, operator
from tierflow.cli.texts import _, catalog, explain, fail, say
from tierflow.i18n import os_reason

if TYPE_CHECKING:
    from tierflow.policy_store import PolicyStoreError

app = typer.Typer(
    help="SLA policies: add a candidate, promote it from a date, list versions and releases.",
    no_args_is_help=True,
)


def _shown(moment: datetime) -> str:
    """An instant to the second in China's time zone (a release starts at an exact instant)."""
    from tierflow.i18n.formats import CHINA

    return moment.astimezone(CHINA).isoformat()


@app.command("add")
def add(
    file: Path = typer.Argument(..., dir_okay=False, help="Candidate policy TOML"),
) -> None:
    """Validate a candidate policy file and record it under its version."""
    from tierflow.policy import PolicyError, load_policy_file
    from tierflow.policy_store import PolicyStoreError, add_policy
    from tierflow.settings import Settings

    try:
        text = file.read_text("utf-8")
    except OSError as exc:
        fail(_("%(file)s: cannot read: %(error)s") % {"file": file, "error": say(os_reason(exc))})
    except UnicodeDecodeError:
        fail(_("%(file)s: not UTF-8 text") % {"file": file})
    try:
        configured = load_policy_file(Settings().policy_file)
    except PolicyError as exc:
        fail(_("the worker's policy file: %(reason)s") % {"reason": explain(exc)})
    with database() as engine:
        try:
            done = add_policy(
                engine, text, added_by=operator(), source=file.name, configured=configured
            )
        except PolicyStoreError as exc:
            fail(_("not added: %(reason)s") % {"reason": explain(exc)})
    said = (
        _("policy %(version)s added; promote it with `tierflow policy promote %(version)s`")
        if done.new
        else _("policy %(version)s was recorded before with the same content")
    )
    typer.echo(said % {"version": done.version})


@app.command("list")
def list_policies() -> None:
    """List the recorded versions and the releases (the one in force now marked)."""
    from tierflow.i18n.formats import when
    from tierflow.policy_store import in_force, policy_versions, releases, timeline

    with database() as engine:
        versions = policy_versions(engine)
        known = timeline(engine)
        every = releases(engine)
    t = catalog()
    now = in_force(known, datetime.now(UTC))
    in_force_now = known[now][0].id if now is not None else None
    parsed = {release.id for release, _policy in known}
    typer.echo(_("# versions: version, recorded, added by"))
    for info in versions:
        by = info.added_by or _("worker or db seed")
        typer.echo(f"{info.version}\t{when(info.loaded_at, t)}\t{by}")
    typer.echo(_("# releases: in force from, version, promoted by, promoted, what-if run, note"))
    for release in every:
        mark = "\t" + _("in force now") if release.id == in_force_now else ""
        if release.id not in parsed:  # a stricter check since it was released
            mark = "\t" + _("does not parse any more: left out")
        typer.echo(
            f"{_shown(release.in_force_from)}\t{release.version}\t{release.promoted_by}\t"
            f"{when(release.promoted_at, t)}\t{release.whatif_run_id or '—'}\t"
            f"{release.note or '—'}{mark}"
        )
    if now is None and len(every) > len(parsed):  # releases, none of them in force
        typer.echo(_("# in force now: the worker's policy file (no release in force)"))
    elif now is None:
        typer.echo(_("# in force now: the worker's policy file (no release yet)"))


# the fields a promotion refuses, as this command's options name them (the API's field names)
OPTION_OF_FIELD = {"in_force_from": "--from", "whatif_run_id": "--whatif-run"}


def _as_option(exc: PolicyStoreError) -> str:
    """The refusal in the reader's language, naming the command's option rather than the
    field it fills (the refusals are shared with the API, which names its fields)."""
    said = explain(exc)
    option = OPTION_OF_FIELD.get(exc.field)
    return option + said.removeprefix(exc.field) if option and said.startswith(exc.field) else said


@app.command("promote")
def promote(
    version: str = typer.Argument(..., help="A recorded policy version"),
    in_force_from: str = typer.Option(
        ...,
        "--from",
        help="From when new requests pin it: ISO 8601 with a time zone, e.g. "
        "2027-01-01T00:00+08:00, or now",
    ),
    whatif_run: str | None = typer.Option(
        None, "--whatif-run", help="The what-if run that justified it (its run id)"
    ),
    note: str | None = typer.Option(None, help="Why, for the record"),
) -> None:
    """Make a recorded version the policy new requests pin from a date (an audited release)."""
    from tierflow.policy_store import PolicyStoreError
    from tierflow.policy_store import promote as promote_version

    try:
        start = (
            datetime.now(UTC)
            if in_force_from.strip().lower() == "now"
            else datetime.fromisoformat(in_force_from)
        )
    except ValueError:
        fail(_("--from: %(text)r is not an ISO 8601 time") % {"text": in_force_from}, 2)
    with database() as engine:
        try:
            release = promote_version(
                engine,
                version,
                start,
                promoted_by=operator(),
                whatif_run_id=whatif_run,
                note=note,
            )
        except PolicyStoreError as exc:
            fail(_("not promoted: %(reason)s") % {"reason": _as_option(exc)})
    said = {
        "version": release.version,
        "from": _shown(release.in_force_from),
        "id": release.id,
        "by": release.promoted_by,
    }
    typer.echo(
        _("policy %(version)s in force for new requests from %(from)s (release %(id)d by %(by)s)")
        % said
    )
