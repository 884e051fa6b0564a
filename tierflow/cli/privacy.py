"""`tierflow privacy`: personal information in the read model (operators; talks to the
database).

``erase`` erases the contact person (name, phone, e-mail) of ended requests: those that ended
before a day or more than a number of days ago (the retention, run daily by the CronJob
``deploy/k8s/privacy-erase-cronjob.yaml``), or all of one enterprise's at its deletion request
(个人信息删除请求). Open requests keep theirs until they end. What it prints is in the
operator's language (``tierflow.cli.texts``); the work is ``tierflow.privacy``'s.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import typer

from tierflow.cli.database import database, operator
from tierflow.cli.texts import _, checked_uscc, fail, ngettext

app = typer.Typer(
    help="Personal information: erase the contacts of ended requests (PIPL).",
    no_args_is_help=True,
)


def _cutoff(ended_before: str | None, retention_days: int | None, now: datetime) -> datetime:
    """The instant requests must have ended before: a China day's start, given or counted
    back from today."""
    from tierflow.privacy import day_start, retention_cutoff

    if retention_days is not None:
        return retention_cutoff(now, retention_days)
    try:
        return day_start(date.fromisoformat(ended_before or ""))
    except ValueError:
        fail(_("--ended-before: %(day)r is not a date (YYYY-MM-DD)") % {"day": ended_before}, 2)


def _confirm(question: str, **values: str) -> None:
    """Ask ``question`` (with ``values`` and the configured database's ``url``); stop,
    changing nothing, unless the answer is yes."""
    from sqlalchemy.engine import make_url

    from tierflow.settings import Settings

    shown = make_url(Settings().resolved_database_url).render_as_string(hide_password=True)
    if not typer.confirm(question % (values | {"url": shown}), default=False):
        fail(_("nothing changed"), 1)


@app.command("erase")
def erase(
    ended_before: str | None = typer.Option(
        None, "--ended-before", help="Requests that ended before this day, YYYY-MM-DD (China)"
    ),
    retention_days: int | None = typer.Option(
        None, "--retention-days", min=1, help="Requests that ended more than N days ago (China)"
    ),
    uscc: str | None = typer.Option(
        None, "--uscc", help="All ended requests of this enterprise (its deletion request)"
    ),
    yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation"),
) -> None:
    """Erase the contact person (name, phone, e-mail) of ended requests, for good.

    Give one of --ended-before, --retention-days or --uscc. Open requests keep theirs until
    they end; each erasure is recorded (when, by whom, why)."""
    from tierflow.privacy import erase_contacts, erase_enterprise

    given = [o for o in (ended_before, retention_days, uscc) if o is not None]
    if len(given) != 1:
        fail(_("give one of --ended-before, --retention-days or --uscc"), 2)
    now = datetime.now(UTC)
    if uscc is not None:
        code = checked_uscc(uscc)
        if not yes:
            _confirm(
                _(
                    "Erase the contact person of every ended request of enterprise %(uscc)s "
                    "in the database %(url)s? Erased contacts do not come back"
                ),
                uscc=code,
            )
        with database() as engine:
            erased, still_open = erase_enterprise(engine, uscc=code, by=operator(), now=now)
        done = ngettext(
            "%(uscc)s: contact erased from %(num)d ended request",
            "%(uscc)s: contact erased from %(num)d ended requests",
            erased,
        )
        typer.echo(done % {"uscc": code, "num": erased})
        kept = ngettext(
            "%(num)d open request keeps its contact until it ends",
            "%(num)d open requests keep their contact until they end",
            still_open,
        )
        typer.echo(kept % {"num": still_open})
        return
    cutoff = _cutoff(ended_before, retention_days, now)
    day = cutoff.date().isoformat()
    if not yes:
        _confirm(
            _(
                "Erase the contact person of every request that ended before %(day)s (China "
                "time) in the database %(url)s? Erased contacts do not come back"
            ),
            day=day,
        )
    with database() as engine:
        erased = erase_contacts(engine, ended_before=cutoff, by=operator(), now=now)
    done = ngettext(
        "contact erased from %(num)d request that ended before %(day)s",
        "contact erased from %(num)d requests that ended before %(day)s",
        erased,
    )
    typer.echo(done % {"num": erased, "day": day})
