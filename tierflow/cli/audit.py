"""`tierflow audit security`: read the security audit log (等保 2.0 安全审计; talks to the
database).

Who created users, issued and revoked tokens, signed in, failed to, signed out, whose session
expired and which addresses were locked out, newest first. The table is in the reader's
language (``tierflow.cli.texts``), times in China time; ``--json`` prints the rows as stored
(codes, UTC times) for scripts. The records are written by ``tierflow.security_log``.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import typer

from tierflow.cli.database import database
from tierflow.cli.texts import _, catalog, fail, ngettext, term
from tierflow.i18n.formats import labelled, listed, semicolon
from tierflow.i18n.labels import NC_

if TYPE_CHECKING:
    from tierflow.db.auth_models import SecurityEvent, SecurityEventKind

app = typer.Typer(help="Audit records (operators; talks to the database).", no_args_is_help=True)

# what the reader calls each kind (``SecurityEventKind``'s values: imported only when run)
KIND = {
    "user_created": NC_("security", "User created"),
    "user_disabled": NC_("security", "User disabled"),
    "user_enabled": NC_("security", "User enabled"),
    "token_issued": NC_("security", "Token issued"),
    "token_revoked": NC_("security", "Token revoked"),
    "sign_in": NC_("security", "Signed in"),
    "sign_in_failed": NC_("security", "Sign-in refused"),
    "address_locked": NC_("security", "Address locked out"),
    "sign_out": NC_("security", "Signed out"),
    "session_expired": NC_("security", "Session expired"),
}
# what the reader calls each detail (``tierflow.security_log``'s callers write them)
DETAIL = {
    "role": NC_("security", "role"),
    "institution_id": NC_("security", "institution"),
    "grants": NC_("security", "grants"),
    "tier": NC_("security", "tier"),
    "division_code": NC_("security", "division"),
    "token_id": NC_("security", "token id"),
    "expires_at": NC_("security", "expires"),
    "all_of_user": NC_("security", "with all of the user's tokens"),
    "reason": NC_("security", "reason"),
    "via": NC_("security", "via"),
    "failures": NC_("security", "refused tokens allowed"),
    "window_seconds": NC_("security", "counted over"),
    "retry_after_seconds": NC_("security", "refused for"),
    "noticed_at": NC_("security", "noticed"),
}
# why a sign-in was refused (``TokenRefused.reason``)
REASON = {
    "unknown": NC_("security", "unknown token"),
    "revoked": NC_("security", "revoked token"),
    "expired": NC_("security", "expired token"),
    "disabled": NC_("security", "user disabled"),
}
CONSOLE = NC_("security", "web console")
CHINA = "Asia/Shanghai"


def _day(option: str, text: str | None) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        said = _("%(option)s: %(day)r is not a date (YYYY-MM-DD)")
        fail(said % {"option": option, "day": text}, 2)


def _kind(text: str | None) -> SecurityEventKind | None:
    from tierflow.db.auth_models import SecurityEventKind

    try:
        return SecurityEventKind(text) if text else None
    except ValueError:
        known = ", ".join(k.value for k in SecurityEventKind)
        fail(_("--kind: unknown kind %(kind)r (%(known)s)") % {"kind": text, "known": known}, 2)


@app.command("security")
def security(
    since: str | None = typer.Option(None, "--since", help="From this day, YYYY-MM-DD (China)"),
    until: str | None = typer.Option(
        None, "--until", help="To this day included, YYYY-MM-DD (China)"
    ),
    kind: str | None = typer.Option(
        None, "--kind", help="Only this kind: user_created, token_issued, sign_in, ..."
    ),
    user: str | None = typer.Option(
        None, "--user", help="Only what this user (or cli:<os user>) did or was done to"
    ),
    limit: int = typer.Option(100, "--limit", min=1, max=100_000, help="At most this many"),
    as_json: bool = typer.Option(False, "--json", help="Print the records as JSON"),
) -> None:
    """Show the security audit log, newest first: users, tokens, sign-ins and lockouts."""
    from tierflow.privacy import day_start
    from tierflow.security_log import read

    first, last = _day("--since", since), _day("--until", until)
    wanted = _kind(kind)
    with database() as engine:
        rows = read(
            engine,
            since=day_start(first) if first else None,
            until=day_start(last + timedelta(days=1)) if last else None,
            kind=wanted,
            user=user,
            limit=limit,
        )
    if as_json:
        typer.echo(json.dumps([_json(row) for row in rows], indent=2, ensure_ascii=False))
        return
    _table(rows)


def _json(row: SecurityEvent) -> dict[str, Any]:
    return {
        "id": row.id,
        "occurred_at": row.occurred_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "kind": str(row.kind),
        "actor": row.actor,
        "subject": row.subject,
        "address": row.address,
        "details": row.details,
    }


def _table(rows: list[SecurityEvent]) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    if not rows:
        typer.echo(_("no security audit records match"))
        return
    title = ngettext(
        "Security audit log: %(num)d record, newest first",
        "Security audit log: %(num)d records, newest first",
        len(rows),
    )
    table = Table(title=title % {"num": len(rows)}, caption=_("times in China time (UTC+8)"))
    table.add_column(_("Time"), no_wrap=True)
    for column in (_("Event"), _("By"), _("User"), _("Address"), _("Details")):
        table.add_column(column, overflow="fold")
    t = catalog()
    for row in rows:
        table.add_row(
            _china(row.occurred_at),
            escape(str(t.pgettext(*KIND[row.kind])) if row.kind in KIND else str(row.kind)),
            escape(row.actor or "—"),
            escape(row.subject or "—"),
            escape(row.address or "—"),
            escape(_details(row.details)),
        )
    Console().print(table)


def _details(details: dict[str, Any]) -> str:
    """The details in the reader's words: "角色：县级…；令牌编号：7"; a key or a code this
    command does not know as stored."""
    t = catalog()
    said = []
    for key, value in details.items():
        if key == "all_of_user":
            said.append(str(t.pgettext(*DETAIL[key])))
            continue
        name = str(t.pgettext(*DETAIL[key])) if key in DETAIL else key
        said.append(labelled(name, _value(key, value), t))
    return semicolon(t).join(said)


def _value(key: str, value: Any) -> str:
    from schemas.domain import Role, Tier

    t = catalog()
    if value is None or value == []:
        return "—"
    if key == "role" and value in set(Role):
        return term(Role(value))
    if key == "tier" and value in set(Tier):
        return term(Tier(value))
    if key == "reason" and value in REASON:
        return str(t.pgettext(*REASON[value]))
    if key == "via" and value == "console":
        return str(t.pgettext(*CONSOLE))
    if key in ("expires_at", "noticed_at") and isinstance(value, str):
        return _china(datetime.fromisoformat(value.replace("Z", "+00:00")))
    if key.endswith("_seconds"):
        return str(t.gettext("{n} s")).format(n=value)
    if isinstance(value, list):
        return listed([str(item) for item in value], t)
    return str(value)


def _china(moment: datetime) -> str:
    """An instant in China time, to the second (the same in both languages)."""
    return moment.astimezone(ZoneInfo(CHINA)).strftime("%Y-%m-%d %H:%M:%S")
