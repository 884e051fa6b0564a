"""Contacts of ended requests are erased after their retention or at the enterprise's request,
on SQLite and PostgreSQL: open requests keep theirs, the cutoff is strict, a second run erases
nothing, and every erasure is recorded; migration 0027 adds and drops the record's table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, inspect
from sqlmodel import Session

from tests.utils.ended_requests import (
    Made,
    closed,
    contacts,
    erasures,
    persist,
    rejected,
    resolved,
    running,
    withdrawn,
)
from tests.utils.factories import enterprise_uscc
from tierflow.db import repository
from tierflow.db.engine import make_engine
from tierflow.db.migrate import downgrade, upgrade
from tierflow.db.models import ErasureBasis
from tierflow.privacy import erase_contacts, erase_enterprise

T = datetime(2026, 1, 5, 2, 0, tzinfo=UTC)
NOW = datetime(2029, 1, 6, 1, 0, tzinfo=UTC)
KEPT = ("王芳", "13800000000", "wang@example.com")
GONE = (None, None, None)


def test_only_requests_that_ended_before_the_cutoff_lose_their_contact(db_engine: Engine) -> None:
    early = [closed("r-closed", T), withdrawn("r-withdrawn", T), rejected("r-rejected", T)]
    at_cutoff = closed("r-at-cutoff", T + timedelta(hours=1))  # closed at T + 1 h 30 min
    never_given = closed("r-no-contact", T, contact=False)
    not_ended = [running("r-open", T), resolved("r-resolved", T)]
    later = withdrawn("r-later", T + timedelta(hours=2))
    persist(db_engine, *early, at_cutoff, never_given, *not_ended, later)
    cutoff = at_cutoff.at
    assert [made.at for made in early] == [T + timedelta(minutes=m) for m in (30, 10, 20)]

    assert erase_contacts(db_engine, ended_before=cutoff, by="cli:ops", now=NOW) == 3
    for made in early:
        assert contacts(db_engine, made.records[0].request_id) == GONE
    for rid in ("r-at-cutoff", "r-open", "r-resolved", "r-later"):
        assert contacts(db_engine, rid) == KEPT, rid
    recorded = erasures(db_engine)
    assert set(recorded) == {"r-closed", "r-withdrawn", "r-rejected"}  # none for r-no-contact
    for erasure in recorded.values():
        assert (erasure.erased_at, erasure.erased_by) == (NOW, "cli:ops")
        assert erasure.basis is ErasureBasis.RETENTION
    with Session(db_engine) as session:  # the rest of the request and its trail stay
        row = repository.get_request(session, "r-closed")
        trail = repository.transitions(session, "r-closed")
    assert row is not None and row.state == "closed"
    assert row.description == "需要500万元流动资金贷款"
    assert row.enterprise_name == "杭州启明智能科技有限公司" and len(trail) == 4

    again = NOW + timedelta(days=1)
    assert erase_contacts(db_engine, ended_before=cutoff, by="cli:other", now=again) == 0
    assert erasures(db_engine) == recorded  # the first erasure stays on record
    one_later = cutoff + timedelta(microseconds=1)
    assert erase_contacts(db_engine, ended_before=one_later, by="cli:ops", now=again) == 1
    assert contacts(db_engine, "r-at-cutoff") == GONE
    assert contacts(db_engine, "r-open") == contacts(db_engine, "r-later") == KEPT


def test_a_large_erasure_goes_in_batches_and_skips_none(db_engine: Engine) -> None:
    made = [
        (closed if i % 3 else running)(f"b-{i:02d}", T + timedelta(minutes=i)) for i in range(11)
    ]
    persist(db_engine, *made)
    ended = {m.records[0].request_id for i, m in enumerate(made) if i % 3}
    cutoff = T + timedelta(days=1)

    assert erase_contacts(db_engine, ended_before=cutoff, by="cli:ops", now=NOW, batch=2) == 7
    assert set(erasures(db_engine)) == ended
    for m in made:
        rid = m.records[0].request_id
        assert contacts(db_engine, rid) == (GONE if rid in ended else KEPT), rid
    assert erase_contacts(db_engine, ended_before=cutoff, by="cli:ops", now=NOW, batch=2) == 0


def test_an_enterprise_asks_and_its_ended_requests_lose_their_contact(db_engine: Engine) -> None:
    """个人信息删除请求: the ended requests now, the open ones once they end."""
    asking, other = enterprise_uscc("330106"), enterprise_uscc("330105")
    ended = [closed("e-closed", T, uscc=asking), withdrawn("e-withdrawn", T, uscc=asking)]
    still = running("e-open", T, uscc=asking)
    persist(db_engine, *ended, still, resolved("e-resolved", T, uscc=asking))
    persist(db_engine, closed("o-closed", T, uscc=other))

    with pytest.raises(ValueError, match="check character"):
        erase_enterprise(db_engine, uscc=asking[:17] + "0", by="cli:ops", now=NOW)
    assert erasures(db_engine) == {}

    said = erase_enterprise(db_engine, uscc=f" {asking.lower()} ", by="cli:ops", now=NOW)
    assert said == (2, 2)  # e-open and e-resolved keep theirs until they end
    assert contacts(db_engine, "e-closed") == contacts(db_engine, "e-withdrawn") == GONE
    for rid in ("e-open", "e-resolved", "o-closed"):
        assert contacts(db_engine, rid) == KEPT, rid
    recorded = erasures(db_engine)
    assert set(recorded) == {"e-closed", "e-withdrawn"}
    assert {e.basis for e in recorded.values()} == {ErasureBasis.REQUEST}
    assert erase_enterprise(db_engine, uscc=asking, by="cli:ops", now=NOW) == (0, 2)

    f = still.factory
    persist(db_engine, Made([f.resolved(), f.closed()], f))  # e-open ends
    assert erase_enterprise(db_engine, uscc=asking, by="cli:ops", now=NOW) == (1, 1)
    assert contacts(db_engine, "e-open") == GONE


def test_migration_0027_adds_the_erasure_record_and_drops_it(empty_db_url: str) -> None:
    upgrade(empty_db_url, "0026_intake_rating_unit")
    engine = make_engine(empty_db_url)
    try:
        assert "contact_erasure" not in inspect(engine).get_table_names()
        upgrade(empty_db_url)
        persist(engine, closed("m-closed", T))
        assert erase_contacts(engine, ended_before=NOW, by="cli:ops", now=NOW) == 1
        assert set(erasures(engine)) == {"m-closed"}

        downgrade(empty_db_url, "0026_intake_rating_unit")
        inspect(engine).clear_cache()
        assert "contact_erasure" not in inspect(engine).get_table_names()
        assert contacts(engine, "m-closed") == GONE  # erased contacts do not come back

        upgrade(empty_db_url)
        assert erasures(engine) == {}
    finally:
        engine.dispose()
