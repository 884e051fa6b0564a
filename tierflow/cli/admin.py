"""`tierflow users` and `tierflow tokens`: API users and tokens, written directly to the database.

Admin commands for whoever runs the deployment; caseworkers use the API commands instead.
What they print for people is in the admin's language (``tierflow.cli.texts``); a token and
the tab-separated listings' ids and codes stay as they are. What they change is recorded in the
security audit log as done by ``cli:<os user>`` (``tierflow audit security`` reads it).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import typer

from schemas.domain import Role, Tier
from tierflow.cli.database import database, open_engine, operator
from tierflow.cli.texts import _, checked_choice, explain, fail, ngettext, term

users_app = typer.Typer(help="API users (admin; talks to the database).", no_args_is_help=True)
tokens_app = typer.Typer(help="API tokens (admin; talks to the database).", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add the ``users`` and ``tokens`` groups to the root ``tierflow`` app."""
    app.add_typer(users_app, name="users")
    app.add_typer(tokens_app, name="tokens")


@users_app.command("add")
def users_add(
    name: str = typer.Argument(..., help="User name (also the actor id in the audit trail)"),
    role: str = typer.Option(
        ..., help="caseworker, supervisor, dispatcher, follow_up, admin or system"
    ),
    institution: str | None = typer.Option(
        None, help="Institution id (caseworker, supervisor, dispatcher, follow_up)"
    ),
    grant: list[str] = typer.Option(
        [], help="System clients: submit, read, reports, contact or a kind"
    ),
    region: str | None = typer.Option(
        None,
        help="System clients: the province, city or county code of the requests it serves "
        "(none: every request)",
    ),
) -> None:
    """Create an API user; supervisors' tier and region come from their institution."""
    from tierflow.auth_store import AuthStoreError, create_user
    from tierflow.directory import DirectoryError
    from tierflow.directory_store import current_directory
    from tierflow.settings import Settings

    role_value = checked_choice(Role, role, "--role")
    engine = open_engine()
    try:
        # the directory workers route by: an import recorded in the database, else the file
        directory = current_directory(engine, Settings().directory_file)
        user = create_user(
            engine,
            name,
            role_value,
            institution,
            grant,
            directory,
            region=region,
            actor=operator(),
        )
    except (AuthStoreError, DirectoryError) as exc:
        fail(explain(exc))
    said = {"user": user.id, "role": term(Role(user.role))}
    if user.tier:
        where = {"unit": user.institution_id, "tier": term(Tier(user.tier))}
        done = _("user %(user)s (%(role)s) created at %(unit)s (%(tier)s, %(division)s)")
        typer.echo(done % (said | where | {"division": user.division_code}))
    elif user.division_code:
        done = _("user %(user)s (%(role)s) created, acting in region %(region)s")
        typer.echo(done % (said | {"region": user.division_code}))
    else:
        typer.echo(_("user %(user)s (%(role)s) created") % said)


@users_app.command("list")
def users_list() -> None:
    """List API users."""
    from tierflow.auth_store import list_users

    for user in list_users(open_engine()):
        grants = f" grants={','.join(user.grants)}" if user.grants else ""
        if user.role is Role.SYSTEM and user.division_code:
            grants += f" region={user.division_code}"
        off = f"\t{_('disabled')}" if user.disabled else ""
        typer.echo(f"{user.id}\t{user.role}\t{user.institution_id or '-'}{grants}{off}")


@users_app.command("disable")
def users_disable(name: str = typer.Argument(..., help="User name")) -> None:
    """Disable a user (a leaver): their tokens and console sessions are refused at once, they
    are no handler choice and hear nothing; `tierflow users enable` undoes it."""
    _set_disabled(name, True)


@users_app.command("enable")
def users_enable(name: str = typer.Argument(..., help="User name")) -> None:
    """Enable a disabled user again (their tokens still live work again)."""
    _set_disabled(name, False)


def _set_disabled(name: str, disabled: bool) -> None:
    from tierflow.auth_store import AuthStoreError, set_disabled

    try:
        changed = set_disabled(open_engine(), name, disabled, actor=operator())
    except AuthStoreError as exc:
        fail(explain(exc))
    if disabled:
        done = _("user %(user)s disabled") if changed else _("user %(user)s was disabled already")
    else:
        done = _("user %(user)s enabled") if changed else _("user %(user)s was enabled already")
    typer.echo(done % {"user": name})
    if disabled:
        _still_handles(name)


def _still_handles(name: str) -> None:
    """Name the unfinished requests a disabled user still handles: nobody works them until
    their unit's lead or an admin names another handler."""
    from sqlmodel import Session

    from tierflow.db.repository import handled_by

    with database() as engine, Session(engine) as session:
        count, ids = handled_by(session, name)
    if not count:
        return
    shown = ", ".join(ids) + (" …" if count > len(ids) else "")
    typer.echo(
        ngettext(
            "%(user)s still handles %(num)d unfinished request (%(ids)s): their unit's lead or "
            "an admin names another handler (tierflow act <request> assign_handler -f "
            "handler_id=<colleague>)",
            "%(user)s still handles %(num)d unfinished requests (%(ids)s): their unit's lead "
            "or an admin names another handler for each (tierflow act <request> "
            "assign_handler -f handler_id=<colleague>)",
            count,
        )
        % {"user": name, "num": count, "ids": shown}
    )


DURATION = re.compile(r"^([1-9][0-9]{0,4})([dh])$")


def parse_duration(text: str) -> timedelta:
    """Return the lifetime ``30d`` or ``12h`` stands for; exit 2 saying so if it is neither."""
    match = DURATION.fullmatch(text.strip())
    if match is None:
        fail(_("--expires-in %(text)r: use days or hours, e.g. 30d or 12h") % {"text": text}, 2)
    amount, unit = int(match[1]), match[2]
    return timedelta(days=amount) if unit == "d" else timedelta(hours=amount)


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%dT%H:%MZ") if moment else "-"


@tokens_app.command("issue")
def tokens_issue(
    user: str = typer.Argument(..., help="User name"),
    expires_in: str = typer.Option(
        "90d", "--expires-in", help="Lifetime, in days or hours: 30d, 12h (at most 1095d)"
    ),
) -> None:
    """Issue a token for USER and print it once (only its hash is stored)."""
    from tierflow.auth_store import AuthStoreError, issue_token

    lifetime = parse_duration(expires_in)
    try:
        token = issue_token(open_engine(), user, lifetime, actor=operator())
    except AuthStoreError as exc:
        fail(explain(exc))
    expires = datetime.now(UTC) + lifetime
    said = {"when": _when(expires), "user": user}
    typer.echo(_("expires %(when)s; see `tierflow tokens list %(user)s`") % said, err=True)
    typer.echo(token)  # the last line, alone on stdout: scripts capture it


@tokens_app.command("list")
def tokens_list(user: str = typer.Argument(..., help="User name")) -> None:
    """List USER's tokens: id, prefix, created, expires, last used, status (never the token)."""
    from tierflow.auth_store import AuthStoreError, list_tokens

    try:
        rows = list_tokens(open_engine(), user)
    except AuthStoreError as exc:
        fail(explain(exc))
    now = datetime.now(UTC)
    columns = (_("id"), _("prefix"), _("created"), _("expires"), _("last used"), _("status"))
    typer.echo("\t".join(columns))
    for row in rows:
        state = (
            _("revoked") if row.revoked_at else _("expired") if now >= row.expires_at else _("live")
        )
        typer.echo(
            f"{row.id}\t{row.display_prefix}\t{_when(row.created_at)}\t{_when(row.expires_at)}"
            f"\t{_when(row.last_used_at)}\t{state}"
        )


@tokens_app.command("revoke")
def tokens_revoke(
    token_id: int | None = typer.Argument(None, help="Token id (tierflow tokens list USER)"),
    all_of: str | None = typer.Option(None, "--all-of", help="Revoke every token of this user"),
    leaked: bool = typer.Option(
        False,
        "--leaked",
        help="Revoke the token whose value is read from standard input (a leaked token, "
        "found by its value: never put it on the command line)",
    ),
) -> None:
    """Revoke one token by its id, every token of a user with --all-of USER, or a leaked
    token by its value with --leaked."""
    from tierflow.auth_store import AuthStoreError, revoke_token, revoke_tokens, token_id_of

    if leaked and token_id is None and all_of is None:
        try:
            token_id = token_id_of(open_engine(), typer.get_text_stream("stdin").readline())
        except AuthStoreError as exc:
            fail(explain(exc))
    elif leaked or (token_id is None) == (all_of is None):
        fail(_("give a TOKEN_ID, --all-of USER or --leaked (one of them)"), 2)
    if all_of is not None:
        try:
            count = revoke_tokens(open_engine(), all_of, actor=operator())
        except AuthStoreError as exc:
            fail(explain(exc))
        done = ngettext(
            "revoked %(num)d token of %(user)s", "revoked %(num)d tokens of %(user)s", count
        )
        typer.echo(done % {"num": count, "user": all_of})
        return
    assert token_id is not None
    try:
        row = revoke_token(open_engine(), token_id, actor=operator())
    except AuthStoreError as exc:
        fail(explain(exc))
    said = {"id": row.id, "prefix": row.display_prefix, "user": row.user_id}
    typer.echo(_("token %(id)d (%(prefix)s…) of %(user)s revoked") % said)
