"""The systems that may send commands on Kafka, and what each may do.

Kafka does not tell a consumer who wrote a record, so a command's actor can never be taken
from the record itself. Each system client is configured here: the CloudEvents ``source``
values that name it on the shared commands topic, or a commands topic of its own (which
Kafka ACLs let only its SASL principal write, the way to run with Kafka auth on), the
commands it is granted, the roles of the people it may act for and the region they belong
to, and its rate. The packaged
``tierflow/data/system_clients.toml`` is the local stack's; production sets
``TIERFLOW_SYSTEM_CLIENTS_FILE``.
"""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from schemas.divisions import check_known_division
from schemas.domain import Role, Tier
from schemas.permissions import SYSTEM_GRANTS, division_prefix, region_prefix

PACKAGED_CLIENTS = "system_clients.toml"
DELEGABLE_ROLES = frozenset({Role.ENTERPRISE, Role.CASEWORKER, Role.SUPERVISOR})


class SystemClientError(ValueError):
    """A clients file that cannot be read or does not validate; the message names the field."""


class SystemClient(BaseModel):
    """One system allowed to publish commands."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")
    name: str = Field(min_length=1, max_length=200)
    sources: list[str] = Field(default_factory=list)  # CloudEvents sources on the shared topic
    topic: str | None = Field(default=None, pattern=r"^[A-Za-z0-9._-]{1,249}$")
    grants: list[str] = Field(default_factory=list)
    act_for: list[Role] = Field(default_factory=list)
    # false: it never acts in its own name; a command naming none of the people it acts for
    # is refused (a portal that acts for enterprises would otherwise act on every one's)
    acts_in_own_name: bool = True
    # the division (a province, city or county code) the people it acts for belong to;
    # none: anywhere. A supervisor it names must have a region inside it, a caseworker an
    # institution the directory places inside it.
    region: str | None = Field(default=None, pattern=r"^[0-9]{6}$")
    rate_per_second: float = Field(default=50.0, gt=0)
    burst: int = Field(default=100, ge=1)
    # its own dead-letter topic: its refused commands go there, where it may read them (the
    # shared one holds every client's, contacts included); none: the shared one
    dead_letter_topic: str | None = Field(default=None, pattern=r"^[A-Za-z0-9._-]{1,249}$")

    @field_validator("grants")
    @classmethod
    def _known_grants(cls, grants: list[str]) -> list[str]:
        unknown = sorted(set(grants) - SYSTEM_GRANTS)
        if unknown:
            raise ValueError(f"unknown grant(s) {', '.join(unknown)}")
        return grants

    @field_validator("region")
    @classmethod
    def _known_region(cls, region: str | None) -> str | None:
        return None if region is None else check_known_division(region)

    def acts_within(self, tier: Tier | None, division_code: str | None) -> bool:
        """Whether a person whose scope is (tier, division) lies inside the client's region."""
        if self.region is None:
            return True
        mine = division_prefix(self.region)
        theirs = region_prefix(tier, division_code)
        return theirs is not None and len(theirs) >= len(mine) and theirs.startswith(mine)

    @field_validator("act_for")
    @classmethod
    def _delegable(cls, roles: list[Role]) -> list[Role]:
        bad = sorted(r.value for r in roles if r not in DELEGABLE_ROLES)
        if bad:
            raise ValueError(f"a client may act for people only, not {', '.join(bad)}")
        return roles

    @model_validator(mode="after")
    def _acts_for_someone(self) -> SystemClient:
        if not self.acts_in_own_name and not self.act_for:
            raise ValueError("acts_in_own_name: false needs act_for, the people it acts for")
        return self


class SystemClients:
    """The configured clients, looked up by their own topic or by CloudEvents source."""

    def __init__(self, clients: list[SystemClient]) -> None:
        self.clients = clients
        self._by_source: dict[str, SystemClient] = {}
        self._by_topic: dict[str, SystemClient] = {}
        for client in clients:
            for source in client.sources:
                if source in self._by_source:
                    raise SystemClientError(
                        f"client {client.id}: source {source!r} already names client "
                        f"{self._by_source[source].id}"
                    )
                self._by_source[source] = client
            if client.topic:
                if client.topic in self._by_topic:
                    raise SystemClientError(f"client {client.id}: topic {client.topic} is taken")
                self._by_topic[client.topic] = client

    def by_source(self, source: str) -> SystemClient | None:
        return self._by_source.get(source)

    def by_topic(self, topic: str) -> SystemClient | None:
        return self._by_topic.get(topic)

    def by_id(self, client_id: str) -> SystemClient | None:
        return next((c for c in self.clients if c.id == client_id), None)

    @property
    def topics(self) -> list[str]:
        """The clients' own commands topics."""
        return sorted(self._by_topic)


def parse_system_clients(text: str, origin: str = "system clients") -> SystemClients:
    """Validate a clients file (TOML: one ``[[client]]`` table each)."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SystemClientError(f"{origin}: not TOML: {exc}") from None
    clients = []
    for n, entry in enumerate(raw.get("client", [])):
        try:
            clients.append(SystemClient.model_validate(entry))
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"])
            raise SystemClientError(f"{origin}: client[{n}].{field}: {first['msg']}") from None
    return SystemClients(clients)


def load_system_clients(path: Path | None = None) -> SystemClients:
    """Load the clients file at ``path``, or the packaged one."""
    if path is None:
        text = resources.files("tierflow.data").joinpath(PACKAGED_CLIENTS).read_text("utf-8")
        return parse_system_clients(text, PACKAGED_CLIENTS)
    try:
        return parse_system_clients(path.read_text("utf-8"), str(path))
    except OSError as exc:
        raise SystemClientError(f"{path}: cannot read: {exc.strerror}") from None
