"""`tierflow users` and `tierflow tokens`: API users and tokens, written directly to the database.

Admin commands for whoever runs the deployment; caseworkers use the API commands instead.
"""

from __future__ import annotations

from typing import Any, NoReturn

import typer

users_app = typer.Typer(help="API users (admin; talks to the database).", no_args_is_help=True)
tokens_app = typer.Typer(help="API tokens (admin; talks to the database).", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add the ``users`` and ``tokens`` groups to the root ``tierflow`` app."""
    app.add_typer(users_app, name="users")
    app.add_typer(tokens_app, name="tokens")


def _fail(message: str) -> NoReturn:
    typer.echo(message, err=True)
    raise typer.Exit(1)


def _engine() -> Any:
    from tierflow.db.engine import make_engine
    from tierflow.settings import Settings

    return make_engine(Settings().resolved_database_url)


@users_app.command("add")
def users_add(
    name: str = typer.Argument(..., help="User name (also the actor id in the audit trail)"),
    role: str = typer.Option(..., help="caseworker, supervisor, admin or system"),
    institution: str | None = typer.Option(None, help="Institution id (caseworker, supervisor)"),
    grant: list[str] = typer.Option([], help="System clients: submit, read, reports or a kind"),
) -> None:
    """Create an API user; supervisors' tier and region come from their institution."""
    from schemas.domain import Role
    from tierflow.auth_store import AuthStoreError, create_user
    from tierflow.directory import Directory
    from tierflow.settings import Settings

    try:
        role_value = Role(role)
    except ValueError:
        _fail(f"role: {role!r} is not one of caseworker, supervisor, admin, system")
    try:
        user = create_user(
            _engine(),
            name,
            role_value,
            institution,
            grant,
            Directory.load(Settings().directory_file),
        )
    except AuthStoreError as exc:
        _fail(str(exc))
    where = f" at {user.institution_id} ({user.tier}, {user.division_code})" if user.tier else ""
    typer.echo(f"user {user.id} ({user.role}){where} created")


@users_app.command("list")
def users_list() -> None:
    """List API users."""
    from tierflow.auth_store import list_users

    for user in list_users(_engine()):
        grants = f" grants={','.join(user.grants)}" if user.grants else ""
        typer.echo(f"{user.id}\t{user.role}\t{user.institution_id or '-'}{grants}")


@tokens_app.command("issue")
def tokens_issue(user: str = typer.Argument(..., help="User name")) -> None:
    """Issue a token for USER and print it once (only its hash is stored)."""
    from tierflow.auth_store import AuthStoreError, issue_token

    try:
        token = issue_token(_engine(), user)
    except AuthStoreError as exc:
        _fail(str(exc))
    typer.echo(token)


@tokens_app.command("revoke")
def tokens_revoke(user: str = typer.Argument(..., help="User name")) -> None:
    """Revoke every token of USER."""
    from tierflow.auth_store import revoke_tokens

    typer.echo(f"revoked {revoke_tokens(_engine(), user)} token(s) of {user}")
