"""The console's accounts as the Kafka ingress checks a named person against them.

A system client may name the person it acts for. When that name is an account of tierflow's
own (a caseworker or supervisor who also signs in to the console), the person is who the
account says: its role, its institution, its region, and not disabled. The ingress reads the
accounts every few seconds on a thread of its own (``CheckedSource``), so disabling a user in
the console stops commands in their name within that time, without a restart.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine, select

from schemas.domain import Role, Tier
from tierflow.checked_source import CheckedSource
from tierflow.db.auth_models import ApiUser

log = logging.getLogger("tierflow.accounts")

REFRESH_SECONDS = 5.0


@dataclass(frozen=True)
class Account:
    """What an account says of its person."""

    id: str
    role: Role
    institution_id: str | None
    tier: Tier | None
    division_code: str | None
    disabled: bool


class RecordedAccounts(CheckedSource):
    """Every account, read every ``interval`` seconds; ``find`` never waits for the database.

    Accounts are found by their name case-folded, so that a look-alike (``Zhang`` for
    ``zhang``) is found too and refused, not taken for someone the console does not know.
    """

    what = "accounts"
    log = log

    def __init__(
        self,
        engine: Engine,
        *,
        interval: float = REFRESH_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._accounts: dict[str, Account] = {}
        super().__init__(engine, interval=interval, clock=clock)

    def check(self) -> None:
        table = ApiUser.__table__  # type: ignore[attr-defined]
        columns = (table.c.id, table.c.role, table.c.institution_id, table.c.tier)
        with self.engine.connect() as conn:
            rows = conn.execute(select(*columns, table.c.division_code, table.c.disabled)).all()
        self._accounts = {row.id.casefold(): Account(**row._asdict()) for row in rows}

    def keeping(self) -> str:
        return f"the {len(self._accounts)} accounts read last"

    def find(self, name: str) -> Account | None:
        """The account whose name is ``name`` up to case and surrounding spaces (``NotReadYet``
        before a first check worked: who has an account is unknown, not nobody)."""
        self.read_once()
        return self._accounts.get(name.strip().casefold())
