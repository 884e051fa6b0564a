"""Tokens, users, scope rules and the rate limiter, without servers (SQLite in tmp_path)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine
from sqlmodel import Session, SQLModel, select

import tierflow.db.auth_models  # noqa: F401 - registers the auth tables
import tierflow.db.models  # noqa: F401 - registers the read model tables
from activities.handlers import refusal as handler_refusal
from api.auth import action_refusal, allowed_kinds, can, in_scope, region_prefix
from api.errors import field_name
from schemas import permissions
from schemas.domain import Role, Tier
from schemas.lifecycle import ActionKind, HandlerCheck
from schemas.request import Actor
from tests.utils.eventually import eventually_sync
from tierflow.auth_store import (
    AuthStoreError,
    Principal,
    authenticate,
    create_user,
    hash_token,
    issue_token,
    new_token,
    possible_handlers,
    revoke_tokens,
)
from tierflow.db.auth_models import ApiToken, ApiUser
from tierflow.db.engine import make_engine
from tierflow.db.migrate import upgrade
from tierflow.rate_limit import FailureLimit, RateLimiter


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    url = f"sqlite:///{tmp_path / 'auth.db'}"
    upgrade(url)
    engine = make_engine(url)
    yield engine
    engine.dispose()


def test_migration_builds_the_auth_tables_as_modelled(engine: Engine) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), SQLModel.metadata
        )
    assert [d for d in diff if "api_" in str(d)] == []


def test_tokens_are_random_prefixed_and_stored_only_hashed(engine: Engine) -> None:
    assert new_token().startswith("tf_") and new_token() != new_token()
    assert hash_token("tf_x") == hash_token("tf_x") and len(hash_token("tf_x")) == 64
    create_user(engine, "ana", Role.ADMIN)
    token = issue_token(engine, "ana")
    with Session(engine) as session:
        row = session.exec(select(ApiToken)).one()
    assert row.token_hash == hash_token(token) and token not in row.model_dump_json()
    assert row.display_prefix == token[:9]
    principal = authenticate(engine, token)
    assert principal is not None and principal.user_id == "ana" and principal.role is Role.ADMIN
    assert authenticate(engine, token + "x") is None
    assert authenticate(engine, "not-ours") is None
    assert revoke_tokens(engine, "ana") == 1
    assert authenticate(engine, token) is None


def test_possible_handlers_are_the_units_enabled_caseworkers_and_lead(engine: Engine) -> None:
    unit = "zj-330106-sme"
    for name, role, institution in (
        ("wang", Role.CASEWORKER, unit),
        ("li", Role.SUPERVISOR, unit),  # the unit's lead
        ("zhao", Role.FOLLOW_UP, unit),  # the unit's follow-up desk: no handler
        ("chen", Role.CASEWORKER, "zj-330105-sme"),  # another unit
        ("sun", Role.CASEWORKER, unit),
    ):
        create_user(engine, name, role, institution)
    with Session(engine) as session:
        gone = session.get(ApiUser, "sun")
        assert gone is not None
        gone.disabled = True
        session.add(gone)
        session.commit()
    assert possible_handlers(engine, unit) == ["li", "wang"]
    for name in ("zhao", "chen", "sun"):  # each one the handler check refuses
        with Session(engine) as session:
            user = session.get(ApiUser, name)
        assert handler_refusal(user, HandlerCheck(handler_id=name, institution_id=unit))


def test_supervisor_tier_and_region_come_from_the_directory(engine: Engine) -> None:
    user = create_user(engine, "sup", Role.SUPERVISOR, "zj-330100-sme")
    assert (user.tier, user.division_code) == (Tier.MUNICIPAL, "330100")
    principal = authenticate(engine, issue_token(engine, "sup"))
    assert principal is not None and region_prefix(principal) == "3301"


def test_a_system_clients_region_is_its_actors_and_only_clients_have_one(
    engine: Engine,
) -> None:
    user = create_user(engine, "hotline", Role.SYSTEM, None, ["comment"], region="330100")
    assert (user.tier, user.division_code) == (None, "330100")
    principal = authenticate(engine, issue_token(engine, "hotline"))
    assert principal is not None and principal.actor.division_code == "330100"
    assert permissions.in_scope(principal.actor, Tier.COUNTY, "zj-330106-sme", "330106")
    assert not permissions.in_scope(principal.actor, Tier.COUNTY, "zj-330212-sme", "330212")
    with pytest.raises(AuthStoreError, match="region: only system clients have one"):
        create_user(engine, "cw", Role.CASEWORKER, "zj-330106-sme", region="330100")
    with pytest.raises(AuthStoreError, match="region: division code '339999' is not in"):
        create_user(engine, "sys2", Role.SYSTEM, None, region="339999")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("bad name!", Role.ADMIN, None, None), "name:"),
        (("cw", Role.CASEWORKER, None, None), "institution: required for role caseworker"),
        (("cw", Role.CASEWORKER, "nowhere", None), "'nowhere' is not in the directory"),
        (("adm", Role.ADMIN, "zj-330100-sme", None), "institution: only an institution's staff"),
        (("cw", Role.CASEWORKER, "zj-330106-sme", ["submit"]), "only system clients"),
        (("sys", Role.SYSTEM, None, ["fly"]), "grant: unknown fly"),
        (("ent", Role.ENTERPRISE, None, None), "role:"),
    ],
)
def test_bad_users_are_refused_naming_the_field(engine: Engine, args: tuple, message: str) -> None:
    with pytest.raises(AuthStoreError, match=message):
        create_user(engine, *args)


def test_duplicate_users_and_tokens_for_unknown_users_are_refused(engine: Engine) -> None:
    create_user(engine, "ana", Role.ADMIN)
    with pytest.raises(AuthStoreError, match="already exists"):
        create_user(engine, "ana", Role.ADMIN)
    with pytest.raises(AuthStoreError, match="does not exist"):
        issue_token(engine, "bob")


CW = Principal("cw", Role.CASEWORKER, "zj-330106-sme", Tier.COUNTY, "330106")
SUP_CITY = Principal("sc", Role.SUPERVISOR, "zj-330100-sme", Tier.MUNICIPAL, "330100")
SUP_PROV = Principal("sp", Role.SUPERVISOR, "zj-330000-sme", Tier.PROVINCIAL, "330000")
ADMIN = Principal("ad", Role.ADMIN)
PORTAL = Principal("portal", Role.SYSTEM, grants=frozenset({"submit", "comment"}))


SUP_NINGBO = Principal("sn", Role.SUPERVISOR, "zj-330200-sme", Tier.MUNICIPAL, "330200")


@pytest.mark.parametrize(
    ("principal", "tier", "institution", "division", "scope", "visible"),
    [
        (CW, Tier.COUNTY, "zj-330106-sme", "330106", None, True),
        (CW, Tier.COUNTY, "zj-330105-sme", "330105", None, False),
        (CW, Tier.MUNICIPAL, "zj-330100-sme", "330106", None, False),  # escalated away
        (SUP_CITY, Tier.COUNTY, "zj-330105-sme", "330105", None, True),  # same city
        (SUP_CITY, Tier.MUNICIPAL, "zj-330100-sme", "330106", None, True),  # own tier
        (SUP_CITY, Tier.PROVINCIAL, "zj-330000-sme", "330106", None, False),  # above their tier
        (SUP_CITY, Tier.COUNTY, "zj-330203-sme", "330203", None, False),  # other city
        (SUP_PROV, Tier.COUNTY, "zj-330203-sme", "330203", None, True),
        (SUP_PROV, Tier.COUNTY, "js-320505-sme", "320505", None, False),  # other province
        (ADMIN, Tier.NATIONAL, "cn-000000-sme", "320505", None, True),
        (PORTAL, Tier.COUNTY, "js-320505-sme", "320505", None, True),
        # a Hangzhou enterprise's request the province sent to 鄞州区: overseen from Ningbo
        (SUP_CITY, Tier.COUNTY, "zj-330212-sme", "330106", "330212", False),
        (SUP_NINGBO, Tier.COUNTY, "zj-330212-sme", "330106", "330212", True),
        (SUP_PROV, Tier.COUNTY, "zj-330212-sme", "330106", "330212", True),
        (CW, Tier.COUNTY, "zj-330212-sme", "330106", "330212", False),
    ],
)
def test_scope(
    principal: Principal,
    tier: Tier,
    institution: str,
    division: str,
    scope: str | None,
    visible: bool,
) -> None:
    held = SimpleNamespace(
        tier=tier, institution_id=institution, division_code=division, scope_division=scope
    )
    assert in_scope(principal, held) is visible


@pytest.mark.parametrize(
    ("enterprise", "holder", "scope"),
    [
        ("330106", "330106", None),  # its own county
        ("330106", "330100", None),  # its city, escalated
        ("330106", "330000", None),
        ("330106", "000000", None),  # the national tier contains every division
        ("330106", "330212", "330212"),  # another city's county
        ("330106", "330200", "330200"),  # another city
        ("330106", "320000", "320000"),  # another province
        ("330106", None, None),  # no unit holds it
    ],
)
def test_a_request_is_overseen_from_its_holders_division_only_outside_the_enterprises(
    enterprise: str, holder: str | None, scope: str | None
) -> None:
    assert permissions.scope_division(enterprise, holder) == scope


def test_role_permissions() -> None:
    assert ActionKind.REASSIGN not in allowed_kinds(CW)
    assert ActionKind.REASSIGN in allowed_kinds(SUP_CITY)
    assert allowed_kinds(ADMIN) == frozenset(ActionKind)
    assert allowed_kinds(PORTAL) == {ActionKind.COMMENT}
    assert action_refusal(CW, ActionKind.WITHDRAW) == "role caseworker may not withdraw a request"
    assert "no grant for resolve" in (action_refusal(PORTAL, ActionKind.RESOLVE) or "")
    assert can(PORTAL, "submit") and not can(PORTAL, "read") and not can(PORTAL, "reports")
    assert can(CW, "read") and not can(CW, "reports") and can(SUP_CITY, "reports")


def test_rate_limiter_refills_per_key_and_forgets_idle_keys(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [1000.0]  # the clock of limits' storage and strategies, moved by hand
    clock = SimpleNamespace(time=lambda: now[0])
    for module in ("limits.storage.memory", "limits.strategies", "tierflow.rate_limit"):
        monkeypatch.setattr(f"{module}.time", clock)
    limiter = RateLimiter(per_second=2.0, burst=2)  # 2 hits per 1 s sliding window
    assert limiter.take("a") is None and limiter.take("a") is None
    now[0] += 0.3
    assert limiter.take("a") == pytest.approx(0.7)  # refused until the window moves on
    assert limiter.take("b") is None  # limits are per key
    now[0] += 0.9  # the sliding window has let go of a share of the first window's hits
    assert limiter.take("a") is None
    assert any("/a/" in key for key in limiter.storage.expirations)
    now[0] += 5  # past both windows of "a" and "b": the storage's sweep drops their keys

    def idle_keys_gone() -> bool:
        limiter.take("c")  # a hit schedules the storage's sweep (a 10 ms timer thread)
        return not [k for k in limiter.storage.expirations if "/a/" in k or "/b/" in k]

    eventually_sync(
        idle_keys_gone,
        timeout=10,
        what="idle keys evicted",
        detail=lambda: sorted(limiter.storage.expirations),
    )


def test_failure_limit_locks_a_key_out_until_its_window_frees(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [1000.0]
    clock = SimpleNamespace(time=lambda: now[0])
    for module in ("limits.storage.memory", "limits.strategies", "tierflow.rate_limit"):
        monkeypatch.setattr(f"{module}.time", clock)
    limit = FailureLimit(3, 600)  # 3 failures per 10 minutes
    for _ in range(3):
        assert limit.locked_for("203.0.113.7") is None  # checking counts nothing
        limit.fail("203.0.113.7")
    wait = limit.locked_for("203.0.113.7")
    assert wait is not None and 0 < wait <= 600
    assert limit.locked_for("198.51.100.2") is None  # per address
    now[0] += 1200  # two windows later every failure has slid out
    assert limit.locked_for("203.0.113.7") is None


def test_rate_limiter_window_keeps_the_long_run_rate() -> None:
    assert RateLimiter(per_second=2.0, burst=20).item.get_expiry() == 10
    assert RateLimiter(per_second=0.01, burst=2).item.get_expiry() == 200
    assert RateLimiter(per_second=20.0, burst=2).item.get_expiry() == 1  # at least a second


def test_field_names_drop_the_location() -> None:
    assert field_name(("body", "enterprise", "uscc")) == "enterprise.uscc"
    assert field_name(("query", "limit")) == "limit"
    assert field_name(()) == "body"


def test_a_regional_client_oversees_only_the_units_of_its_region() -> None:
    """A Hangzhou system client serves Hangzhou's enterprises wherever their requests went,
    but supervises or re-dispatches in its own name only where a request is overseen from its
    region (属地)."""
    hangzhou = Actor(
        id="hz-desk", role=Role.SYSTEM, grants=["comment", "supervise"], division_code="330100"
    )
    ningbo = hangzhou.model_copy(update={"id": "nb-desk", "division_code": "330200"})
    sent_to_ningbo = (Tier.COUNTY, "zj-330212-sme", "330106", "330212")
    at_home = (Tier.COUNTY, "zj-330106-sme", "330106", None)
    refuse = permissions.action_refusal
    assert refuse(hangzhou, ActionKind.COMMENT, *sent_to_ningbo) is None  # its enterprise's
    said = refuse(hangzhou, ActionKind.SUPERVISE, *sent_to_ningbo)
    assert said == (
        "system hz-desk acts in region 330100; the request is overseen from 330212 (属地) "
        "since it was sent there"
    )
    assert refuse(ningbo, ActionKind.SUPERVISE, *sent_to_ningbo) is None
    assert refuse(hangzhou, ActionKind.SUPERVISE, *at_home) is None
    assert refuse(ningbo, ActionKind.COMMENT, *sent_to_ningbo) is not None  # not its enterprise
