"""Who sent a command: the configured system client, never the record's own claim.

The client is the one whose own topic the record came on (Kafka ACLs let only its principal
write there) or, on the shared commands topic, the one named by the CloudEvents ``source``.
The command must be one of its grants. A command naming a person (``data.actor`` or
``data.submitted_by``) is taken as that person's only if the client may act for the role,
and is then recorded as the person's via the client; otherwise (no person named, or a
system actor named) the client itself acts, unless it is configured never to act in its own
name (``acts_in_own_name = false``: a portal acting for enterprises), which refuses that.
A client with a region acts only for people inside it: a supervisor whose region lies
within it, a caseworker of an institution the directory places within it; itself, and the
enterprises it acts for, on requests from it.
A person named by the name of one of tierflow's own accounts is who the account says (its
role, institution and region) and acts only while the account is enabled: a client cannot
lend a console user's name to someone else, nor act for a user an administrator disabled.
"""

from __future__ import annotations

from collections.abc import Callable

from schemas import permissions
from schemas.dlq import DeadLetterReason
from schemas.domain import Role, Tier
from schemas.enterprise import validate_uscc
from schemas.events import CommandError, ParsedCommand
from schemas.permissions import REGIONAL_ROLES
from schemas.request import Actor
from tierflow.accounts_source import Account
from tierflow.system_clients import SystemClient, SystemClients


def authorize(
    cmd: ParsedCommand,
    topic: str,
    clients: SystemClients,
    place_of: Callable[[str], str | None] = lambda institution: None,
    trust_sources: bool = True,
    account_of: Callable[[str], Account | None] = lambda name: None,
) -> SystemClient:
    """Set the command's actor from its system client; raise CommandError(forbidden) if none.

    ``place_of`` gives an institution's division code from the directory. With Kafka
    authentication on (``trust_sources`` off), only a client's own topic names it: the
    CloudEvents source on the shared topic is anyone's to write. ``account_of`` finds the
    account a named person's name belongs to, if any. Returns the client (for its rate limit).
    """
    client = clients.by_topic(topic)
    if client is None and not trust_sources:
        raise CommandError(
            DeadLetterReason.FORBIDDEN,
            f"source: with Kafka authentication on, a system client is known by its own "
            f"commands topic, not by the source {cmd.event.source!r} on {topic}",
        )
    client = client or clients.by_source(cmd.event.source)
    if client is None:
        raise CommandError(
            DeadLetterReason.FORBIDDEN,
            f"source: {cmd.event.source!r} is not a configured system client",
        )
    if cmd.command not in client.grants:
        raise CommandError(
            DeadLetterReason.FORBIDDEN,
            f"type: system client {client.id} has no grant for {cmd.command}",
        )
    # a regional client acts on the requests from its region (schemas.permissions.in_scope)
    actor = Actor(
        id=client.id, role=Role.SYSTEM, grants=list(client.grants), division_code=client.region
    )
    claimed = cmd.claimed_actor
    field = "data.submitted_by" if cmd.submit is not None else "data.actor"
    if not client.acts_in_own_name and (claimed is None or claimed.role is Role.SYSTEM):
        roles = " or ".join(role.value for role in client.act_for)
        raise CommandError(
            DeadLetterReason.FORBIDDEN,
            f"{field}: system client {client.id} acts only for the people it names, never in "
            f"its own name; name the {roles} it acts for",
        )
    if claimed is not None and claimed.role is not Role.SYSTEM:  # a system claim: the client
        if claimed.role not in client.act_for:
            raise CommandError(
                DeadLetterReason.FORBIDDEN,
                f"{field}.role: system client {client.id} may not act for a {claimed.role.value}",
            )
        if claimed.role is not Role.ENTERPRISE and (account := account_of(claimed.id)):
            claimed = _as_account(claimed, account, field)
        if not _inside(client, claimed, place_of):
            raise CommandError(
                DeadLetterReason.FORBIDDEN,
                f"{field}: system client {client.id} acts only for people in region "
                f"{client.region}; {_scope(claimed)} is not",
            )
        vouched: dict[str, object] = {"via": client.id, "grants": []}
        if claimed.role is Role.ENTERPRISE:  # where it acts is the client's region, not its say
            vouched["division_code"] = client.region
            vouched["id"] = _enterprise_code(cmd, claimed, field)
            vouched["institution_id"] = vouched["tier"] = None  # no unit's, whatever it says
        actor = claimed.model_copy(update=vouched)
    if cmd.action is not None:
        cmd.action = cmd.action.model_copy(update={"actor": actor})
    if cmd.submit is not None:
        refused = permissions.submit_refusal(actor, cmd.submit.enterprise.division_code)
        if refused:
            raise CommandError(
                DeadLetterReason.FORBIDDEN, f"data.enterprise.division_code: {refused}"
            )
        cmd.submit = cmd.submit.model_copy(update={"submitted_by": actor})
    return client


def _as_account(claimed: Actor, account: Account, field: str) -> Actor:
    """The named person as their account says, if the command agrees with the account."""

    def refuse(message: str) -> CommandError:
        return CommandError(DeadLetterReason.FORBIDDEN, f"{field}.{message}")

    if claimed.id != account.id:
        raise refuse(
            f"id: {claimed.id!r} is written unlike the account {account.id!r}; name the "
            "person exactly as the account does"
        )
    if account.disabled:
        raise refuse(f"id: the account {account.id} is disabled")
    if claimed.role is not account.role:
        raise refuse(f"role: {account.id} is a {account.role.value}, not a {claimed.role.value}")
    regional = account.role in REGIONAL_ROLES
    said = {
        "institution_id": (claimed.institution_id, account.institution_id),
        "tier": (claimed.tier, account.tier if regional else None),
        "division_code": (claimed.division_code, account.division_code if regional else None),
    }
    for name, (given, known) in said.items():
        if given is not None and given != known:
            shown = getattr(known, "value", known) or "none"
            raise refuse(
                f"{name}: {account.id}'s account says {shown}, not {getattr(given, 'value', given)}"
            )
    return claimed.model_copy(update={name: known for name, (_, known) in said.items()})


def _enterprise_code(cmd: ParsedCommand, enterprise: Actor, field: str) -> str:
    """The enterprise's unified social credit code, which is its id: it acts as itself, on
    its own requests only (the workflow checks an action's; a submission's is checked here)."""
    try:
        code = validate_uscc(enterprise.id.strip().upper())
    except ValueError as exc:
        raise CommandError(
            DeadLetterReason.FORBIDDEN,
            f"{field}.id: an enterprise acts by its unified social credit code: {exc}",
        ) from None
    if cmd.submit is not None and code != cmd.submit.enterprise.uscc:
        raise CommandError(
            DeadLetterReason.FORBIDDEN,
            f"{field}.id: enterprise {code} may submit only its own requests, not one for "
            f"data.enterprise.uscc {cmd.submit.enterprise.uscc}",
        )
    return code


def _inside(client: SystemClient, person: Actor, place_of: Callable[[str], str | None]) -> bool:
    """Whether the person lies inside the client's region (any person when it has none)."""
    if client.region is None:
        return True
    if person.role is Role.SUPERVISOR:
        return client.acts_within(person.tier, person.division_code)
    if person.role is Role.CASEWORKER:
        division = place_of(person.institution_id) if person.institution_id else None
        return division is not None and client.acts_within(Tier.COUNTY, division)
    return True  # an enterprise acts on its own requests wherever it is registered


def _scope(person: Actor) -> str:
    if person.role is Role.CASEWORKER:
        return f"institution {person.institution_id!r}"
    tier = person.tier.value if person.tier else "no tier"
    return f"a {tier} {person.role.value} of {person.division_code or 'no region'}"
