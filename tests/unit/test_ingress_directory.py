"""The directory the ingress places a regional client's caseworkers by: the one the workers
route by, recorded in the database (an institution imported in the console lives there only),
read once before the ingress takes any command; on a real SQLite read model."""

from __future__ import annotations

import asyncio

from sqlalchemy import Engine, text

from schemas.domain import Role, Tier
from tests.unit.test_directory_source import T0, record
from tierflow.auth_store import create_user
from tierflow.settings import Settings
from workers.ingress.process import read_accounts, read_directory


async def test_the_ingress_places_caseworkers_by_the_recorded_directory(
    sqlite_engine: Engine,
) -> None:
    record(sqlite_engine, "v7", T0)  # imported on another host: not in any file
    settings = Settings(directory_refresh_seconds=0)
    directory = await read_directory(sqlite_engine, settings, asyncio.Event())
    assert directory is not None
    assert directory().version == "v7" and directory().get("hz-v7") is not None


async def test_stopped_while_the_database_cannot_be_read_it_takes_nothing(
    sqlite_engine: Engine,
) -> None:
    with sqlite_engine.begin() as conn:  # the read model unreadable from the start
        conn.execute(text("ALTER TABLE directory_version RENAME TO directory_version_away"))
    stop = asyncio.Event()
    stop.set()
    settings = Settings(directory_refresh_seconds=0)
    assert await read_directory(sqlite_engine, settings, stop) is None


async def test_the_ingress_reads_the_accounts_before_it_takes_a_command(
    sqlite_engine: Engine,
) -> None:
    create_user(sqlite_engine, "zj-lead", Role.SUPERVISOR, "zj-330000-sme")
    settings = Settings(directory_refresh_seconds=0)
    find = await read_accounts(sqlite_engine, settings, asyncio.Event())
    assert find is not None
    account = find(" ZJ-Lead ")  # a look-alike is found, for the ingress to refuse
    assert account is not None and account.id == "zj-lead"
    assert (account.tier, account.division_code) == (Tier.PROVINCIAL, "330000")
    assert find("nobody") is None


async def test_stopped_before_the_accounts_could_be_read_it_takes_nothing(
    sqlite_engine: Engine,
) -> None:
    with sqlite_engine.begin() as conn:
        conn.execute(text("ALTER TABLE api_user RENAME TO api_user_away"))
    stop = asyncio.Event()
    stop.set()
    settings = Settings(directory_refresh_seconds=0)
    assert await read_accounts(sqlite_engine, settings, stop) is None
