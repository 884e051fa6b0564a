"""考核 figures from the read model, checked against a computation made while generating them.

A seeded corpus of requests goes through the real projection into a real database (SQLite and
PostgreSQL); the report's figures must equal what the generator counted itself, for every
institution and every figure, and added up by tier, province and city with the groups this
module names itself (not the product's grouping). The full check runs on 10,000 requests in
PostgreSQL.
"""

from __future__ import annotations

import importlib
import random
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, text, update
from sqlmodel import Session, col, select

from activities.persistence import TransitionWriter
from api.app import create_app
from schemas.chased import charged_unit
from schemas.domain import Role, State, Tier
from schemas.lifecycle import EventType
from tests.utils.api_helpers import asgi_client
from tests.utils.factories import T0, RecordFactory, caseworker, make_request
from tierflow import assessment as figures
from tierflow.auth_store import create_user, issue_token
from tierflow.db.engine import make_engine
from tierflow.db.migrate import upgrade
from tierflow.db.models import InstitutionRow, Rating, TierHoldRow
from tierflow.settings import Settings

UNITS = ["zj-330106-sme", "zj-330105-sme", "zj-330108-sme"]


@dataclass(frozen=True)
class Unit:
    """An institution of the wide corpus: where its requests come from and its groups."""

    id: str
    tier: Tier
    enterprise_division: str  # a county the requests it holds come from
    division: str | None  # its own division in the directory; None: not in the directory
    expected: tuple[str, str, str]  # the groups this test expects: tier, province, city

    @property
    def groups(self) -> dict[str, str]:
        return dict(zip(("tier", "province", "city"), self.expected, strict=True))


WIDE = [
    Unit("zj-330106-sme", Tier.COUNTY, "330106", "330106", ("county", "330000", "330100")),
    Unit("zj-330105-sme", Tier.COUNTY, "330105", "330105", ("county", "330000", "330100")),
    Unit("js-320102-sme", Tier.COUNTY, "320102", "320102", ("county", "320000", "320100")),
    Unit("zj-330100-sme", Tier.MUNICIPAL, "330106", "330100", ("municipal", "330000", "330100")),
    Unit("zj-330000-sme", Tier.PROVINCIAL, "330105", "330000", ("provincial", "330000", "330000")),
    Unit("cn-000000-sme", Tier.NATIONAL, "320102", "000000", ("national", "000000", "000000")),
    Unit("zz-unlisted", Tier.COUNTY, "320102", None, ("unknown", "unknown", "unknown")),
]
COUNTY_UNITS = [Unit(u, Tier.COUNTY, u[3:9], u[3:9], ("county", "330000", "330100")) for u in UNITS]


def _corpus(
    seed: int, n: int, start: datetime = T0, units: list[Unit] = COUNTY_UNITS
) -> tuple[list[Any], dict[str, dict[str, int]]]:
    """Records of ``n`` requests from ``start`` on, and the figures counted while making them."""
    rng = random.Random(seed)
    # 受理评价 draws from its own generator: the other figures of a seed stay as they were
    intake = random.Random(f"intake-{seed}")
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    records = []
    for i in range(n):
        place = rng.choice(units)
        unit = place.id
        request = make_request(f"req-assess-{seed}-{i}", division_code=place.enterprise_division)
        f = RecordFactory(request, start + timedelta(seconds=i))
        rec = [f.submitted(), f.assigned(unit, place.tier)]
        c = counts[unit]
        c["holds"] += 1
        cw = caseworker(unit)
        late_sign = rng.random() < 0.3
        if late_sign:
            rec.append(f.breached("sign_for"))
        rec.append(f.emit(EventType.SIGNED_FOR, actor=cw))
        if intake.random() < 0.4:  # some enterprises rate the intake too, while it is open
            intake_rating = intake.randint(1, 5)
            rec.append(f.rated(intake_rating, stage="intake"))
            c["intake_ratings"] += 1
            c["intake_satisfied"] += int(intake_rating >= 3)
        c["sign_for_measured"] += 1
        c["sign_for_on_time"] += int(not late_sign)
        late_response = rng.random() < 0.25
        if late_response:
            rec.append(f.breached("response"))
            rec.append(f.emit(EventType.REMINDED, details={"clock": "response"}))
            c["reminders"] += 1
        rec.append(f.emit(EventType.ACKNOWLEDGED, State.ACKNOWLEDGED, actor=cw))  # 受理
        c["response_measured"] += 1
        c["responded_on_time"] += int(not late_response)
        if rng.random() < 0.2:
            rec.append(f.emit(EventType.EXTENSION_APPROVED, details={"days": 3}))
            c["extensions"] += 1
        late_resolution = rng.random() < 0.2
        if late_resolution:
            rec.append(f.breached("resolution"))
            rec.append(f.emit(EventType.SUPERVISION_OPENED, details={"clock": "resolution"}))
            c["supervisions"] += 1
            if rng.random() < 0.5:
                rec.append(f.emit(EventType.REPRIMANDED, details={"clock": "resolution"}))
                c["reprimands"] += 1
        rec.append(f.resolved())
        c["concluded"] += 1
        c["concluded_on_time"] += int(not late_resolution)
        outcome = rng.choice(["satisfied", "unsatisfied", "unreachable"])
        rec.append(f.emit(EventType.FOLLOWED_UP, details={"outcome": outcome, "attempt": 1}))
        if outcome != "unreachable":
            c["followed_up"] += 1
            c["solved"] += int(outcome == "satisfied")
        rating = rng.randint(1, 5)
        rec.append(f.rated(rating))
        excluded = rating <= 2 and rng.random() < 0.5
        if rating <= 2:
            rec.append(f.emit(EventType.RECTIFICATION_OPENED, details={"due_at": "x"}))
            c["rectifications"] += int(not excluded)  # an upheld appeal: not the unit's mark
            if rng.random() < 0.7:  # concluded, in time or late
                on_time = rng.random() < 0.6
                rec.append(
                    f.emit(
                        EventType.RECTIFICATION_CONCLUDED, actor=cw, details={"on_time": on_time}
                    )
                )
                # an appeal upheld after it: neither in the measure nor on time
                c["rectifications_concluded"] += int(not excluded)
                c["rectifications_on_time"] += int(on_time and not excluded)
        if excluded:
            rec.append(f.emit(EventType.APPEAL_UPHELD, details={"rating": rating}))
        else:
            c["ratings"] += 1
            c["satisfied"] += int(rating >= 3)
        records.append(rec)
    return records, counts


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _added_up(counts: dict[str, dict[str, int]], by: str) -> dict[str, dict[str, int]]:
    """The generator's counts added up by this module's own groups of the wide units."""
    groups = {unit.id: unit.groups[by] for unit in WIDE}
    out: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for unit, c in counts.items():
        for name, value in c.items():
            out[groups[unit]][name] += value
    return out


def _list_in_directory(engine: Engine, units: list[Unit]) -> None:
    with Session(engine) as session:
        for unit in units:
            if unit.division is not None:
                session.merge(
                    InstitutionRow(
                        id=unit.id, name=unit.id, tier=unit.tier, division_code=unit.division
                    )
                )
        session.commit()


def _persist(engine: Engine, records: list[Any], chunk: int = 1) -> None:
    """Write the records through the real projection, ``chunk`` requests a transaction."""
    writer = TransitionWriter(engine)
    for i in range(0, len(records), chunk):
        batch = [record for rec in records[i : i + chunk] for record in rec]
        assert writer.persist(batch) == len(batch)


BACKFILL = importlib.import_module(
    "tierflow.db.migrations.versions.0024_hold_responded_at"
).BACKFILL
PERIOD = {
    "since": (T0 - timedelta(days=1)).isoformat(),
    "until": (T0 + timedelta(days=30)).isoformat(),
}
INTAKE_UNIT = importlib.import_module("tierflow.db.migrations.versions.0026_intake_rating_unit")
UNTIMED = importlib.import_module("tierflow.db.migrations.versions.0038_untimed_sign_fors")


async def _report(
    engine: Engine, home: Any, by: str | None = None, supervisor_of: str | None = None
) -> tuple[Any, Any]:
    """The API's report and its CSV, for an admin (or a supervisor of the institution
    ``supervisor_of``), over the corpus' period."""
    user = f"assessor-{by}-{supervisor_of}"
    if supervisor_of is None:
        create_user(engine, user, Role.ADMIN)
    else:
        create_user(engine, user, Role.SUPERVISOR, supervisor_of)
    headers = {"Authorization": f"Bearer {issue_token(engine, user)}"}
    params = PERIOD | ({"by": by} if by else {})
    app = create_app(Settings(home=home), None, engine)
    async with asgi_client(app) as client:
        r = await client.get("/api/v1/reports/assessment", params=params, headers=headers)
        assert r.status_code == 200, r.text
        csv = await client.get("/api/v1/reports/assessment.csv", params=params, headers=headers)
    return r.json(), csv


def _assert_rows_equal(rows: dict[str, Any], counts: dict[str, dict[str, int]]) -> None:
    assert set(rows) == set(counts)
    for unit, c in counts.items():
        row = rows[unit]
        assert row["holds"] == c["holds"]
        assert row["sign_for_on_time_rate"] == _rate(c["sign_for_on_time"], c["sign_for_measured"])
        assert row["response_rate"] == _rate(c["responded_on_time"], c["response_measured"])
        assert row["conclusion_on_time_rate"] == _rate(c["concluded_on_time"], c["concluded"])
        assert row["resolution_rate"] == _rate(c["solved"], c["followed_up"])
        assert row["follow_up_rate"] == _rate(c["followed_up"], c["concluded"])
        assert row["satisfaction_rate"] == _rate(c["satisfied"], c["ratings"])
        assert row["rectification_on_time_rate"] == _rate(
            c["rectifications_on_time"], c["rectifications_concluded"]
        )
        assert row["intake_satisfaction_rate"] == _rate(c["intake_satisfied"], c["intake_ratings"])
        for name in (
            "ratings",
            "intake_ratings",
            "extensions",
            "reminders",
            "supervisions",
            "reprimands",
        ):
            assert row[name] == c[name], (unit, name)
        assert row["rectifications"] == c["rectifications"]


async def test_the_figures_equal_an_independent_count(db_engine: Engine, tmp_path) -> None:
    records, counts = _corpus(seed=7, n=120)
    _persist(db_engine, records)
    report, csv = await _report(db_engine, tmp_path)
    rows = {row["institution_id"]: row for row in report["rows"]}
    assert all(row["group"] == unit for unit, row in rows.items())
    _assert_rows_equal(rows, counts)
    assert csv.status_code == 200
    assert csv.text.startswith("\ufeffgroup,institution_id,tier,holds")
    assert len(csv.text.strip().splitlines()) == 1 + len(counts)


@pytest.mark.parametrize("by", ["tier", "province", "city"])
async def test_the_figures_add_up_by_tier_and_region(db_engine: Engine, tmp_path, by: str) -> None:
    """Every group's figures equal the generator's counts of its institutions added up, and
    the rows behind a group's number are as many as the number says."""
    records, counts = _corpus(seed=11, n=150, units=WIDE)
    _persist(db_engine, records, chunk=50)
    _list_in_directory(db_engine, WIDE)
    report, csv = await _report(db_engine, tmp_path, by)
    assert report["by"] == by
    rows = {row["group"]: row for row in report["rows"]}
    assert all(row["institution_id"] is None for row in rows.values())
    expected = _added_up(counts, by)
    _assert_rows_equal(rows, expected)
    assert len(csv.text.strip().splitlines()) == 1 + len(expected)
    period = (T0 - timedelta(days=1), T0 + timedelta(days=30))
    for group, c in expected.items():
        units = figures.members(db_engine, by, group)
        # the unknown group: the units that held requests the directory does not list
        assert sorted(units or []) == sorted(u.id for u in WIDE if u.groups[by] == group)
        behind = figures.behind(db_engine, [], period, units or [], "holds")
        assert len(behind) == c["holds"]
        satisfied = figures.behind(db_engine, [], period, units or [], "satisfaction_rate")
        assert (len(satisfied), sum(bool(m.counts) for m in satisfied)) == (
            c["ratings"],
            c["satisfied"],
        )
        at_intake = figures.behind(db_engine, [], period, units or [], "intake_satisfaction_rate")
        assert (len(at_intake), sum(bool(m.counts) for m in at_intake)) == (
            c["intake_ratings"],
            c["intake_satisfied"],
        )


async def test_an_unknown_grouping_is_refused_naming_the_field(db_engine: Engine, tmp_path) -> None:
    create_user(db_engine, "assessor", Role.ADMIN)
    headers = {"Authorization": f"Bearer {issue_token(db_engine, 'assessor')}"}
    app = create_app(Settings(home=tmp_path), None, db_engine)
    async with asgi_client(app) as client:
        r = await client.get("/api/v1/reports/assessment", params={"by": "planet"}, headers=headers)
    assert r.status_code == 422
    assert "by" in r.text and "province" in r.text


@pytest.mark.postgres
async def test_ten_thousand_requests_in_postgresql(request, tmp_path) -> None:
    """The whole check at scale: 10,000 requests through the projection into PostgreSQL."""
    server = request.getfixturevalue("postgres_server")
    url = server.create_database(f"t_{uuid.uuid4().hex[:16]}")
    upgrade(url)
    engine = make_engine(url)
    try:
        records, counts = _corpus(seed=23, n=10_000, units=WIDE)
        _persist(engine, records, chunk=200)
        _list_in_directory(engine, WIDE)
        report, _ = await _report(engine, tmp_path)
        _assert_rows_equal({row["group"]: row for row in report["rows"]}, counts)
        assert sum(row["holds"] for row in report["rows"]) == 10_000
        for by in ("tier", "province", "city"):
            report, _ = await _report(engine, tmp_path, by)
            _assert_rows_equal({row["group"]: row for row in report["rows"]}, _added_up(counts, by))
    finally:
        engine.dispose()


async def test_a_stay_that_neither_answered_nor_missed_its_response_is_not_measured(
    db_engine: Engine, tmp_path
) -> None:
    """响应率 is measured over stays that answered (受理) or missed their response deadline: a
    stay pulled up before either, and a redo (no response due), are not counted as answered
    in time. Stays recorded before migration 0024 take their first answer from the trail."""
    county, city = "zj-330106-sme", "zj-330100-sme"
    cw = caseworker(county)
    f = RecordFactory(make_request("req-resp-pulled"), T0)
    pulled = [f.submitted(), f.assigned(county), f.breached("sign_for")]
    pulled.append(f.escalated(city, Tier.MUNICIPAL, reason="sla_breach:sign_for"))
    g = RecordFactory(make_request("req-resp-redo"), T0 + timedelta(seconds=1))
    redone = [g.submitted(), g.assigned(county), g.emit(EventType.SIGNED_FOR, actor=cw)]
    redone += [g.emit(EventType.ACKNOWLEDGED, State.ACKNOWLEDGED, actor=cw), g.resolved()]
    redone += [g.emit(EventType.REOPENED, State.IN_PROGRESS, details={"cause": "follow_up"})]
    h = RecordFactory(make_request("req-resp-late"), T0 + timedelta(seconds=2))
    late = [h.submitted(), h.assigned(county), h.breached("response")]
    late.append(h.emit(EventType.ACKNOWLEDGED, State.ACKNOWLEDGED, actor=cw))
    _persist(db_engine, [pulled, redone, late])
    report, _ = await _report(db_engine, tmp_path)
    [row] = [r for r in report["rows"] if r["institution_id"] == county]
    assert (row["holds"], row["response_rate"]) == (4, 0.5)  # one in time of two that answered

    with db_engine.begin() as conn:  # as migration 0024 found them: no answer recorded
        conn.execute(update(TierHoldRow).values(responded_at=None))
        conn.execute(text(BACKFILL))
    with Session(db_engine) as session:
        answered = session.exec(
            select(TierHoldRow).where(col(TierHoldRow.responded_at).is_not(None))
        )
        found = sorted((stay.request_id, stay.institution_id) for stay in answered)
    assert found == [("req-resp-late", county), ("req-resp-redo", county)]


async def test_a_reprimand_counts_against_the_unit_that_was_supervised(
    db_engine: Engine, tmp_path
) -> None:
    """The request moved up after the county was supervised; the reprimand for the reply the
    county did not write is recorded while the city holds it, naming the county: the county's
    figure, not the city's."""
    county, city = "zj-330106-sme", "zj-330100-sme"
    f = RecordFactory(make_request("req-reprimand-moved"), T0)
    records = [f.submitted(), f.assigned(county), f.breached("resolution")]
    records.append(f.emit(EventType.SUPERVISION_OPENED, details={"clock": "resolution"}))
    records.append(f.escalated(city, Tier.MUNICIPAL, reason="sla_breach:resolution"))
    records.append(f.emit(EventType.REPRIMANDED, details={"supervised_institution": county}))
    assert records[-1].institution_id == city  # the holder when it was recorded
    _persist(db_engine, [records])
    report, _ = await _report(db_engine, tmp_path)
    rows = {r["institution_id"]: r for r in report["rows"]}
    assert (rows[county]["supervisions"], rows[county]["reprimands"]) == (1, 1)
    assert rows[city]["reprimands"] == 0


async def test_a_late_parts_chase_counts_against_its_co_handler(
    db_engine: Engine, tmp_path
) -> None:
    """协办: the talent office's part is late while the county holds the request. Its reminder,
    supervision and reprimand are the talent office's figures, as recorded now (the
    supervision names it) and as recorded before (the supervision named the holder, the
    reprimand too); the county's own late response stays the county's. The report charges
    each event to the unit ``schemas.chased.charged_unit`` names."""
    county, talent = "zj-330106-sme", "zj-330105-sme"
    part = {"co_handler": talent, "part_due_at": (T0 + timedelta(days=1)).isoformat()}
    made = []
    for i, recorded_before in enumerate((False, True)):
        f = RecordFactory(make_request(f"req-part-chase-{i}"), T0 + timedelta(seconds=i))
        rec = [f.submitted(), f.assigned(county), f.emit(EventType.CO_HANDLER_ADDED, details=part)]
        rec.append(f.emit(EventType.REMINDED, details={"clock": "part", "co_handler": talent}))
        opened = {"clock": f"part:{talent}", "cause": "chase"}
        if not recorded_before:
            opened["supervised_institution"] = talent
        rec.append(f.emit(EventType.SUPERVISION_OPENED, details=opened))
        named = county if recorded_before else talent
        rec.append(
            f.emit(EventType.REPRIMANDED, details={**opened, "supervised_institution": named})
        )
        rec.append(f.emit(EventType.REMINDED, details={"clock": "response"}))  # the county's
        made.append(rec)
    _persist(db_engine, made)
    report, _ = await _report(db_engine, tmp_path)
    rows = {r["institution_id"]: r for r in report["rows"]}
    figure = {"reminded": "reminders", "supervision_opened": "supervisions"}
    figure["reprimanded"] = "reprimands"
    expected: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for record in (r for rec in made for r in rec if r.event_type.value in figure):
        unit = charged_unit(record.event_type.value, record.details, record.institution_id)
        expected[str(unit)][figure[record.event_type.value]] += 1
    assert expected[talent] == {"reminders": 2, "supervisions": 2, "reprimands": 2}
    assert expected[county] == {"reminders": 2}
    for unit, counted in expected.items():
        for name in figure.values():
            assert rows[unit][name] == counted[name], (unit, name)


async def test_lateness_does_not_leave_the_conclusion_rate_by_moving_and_a_return_is_routings(
    db_engine: Engine, tmp_path
) -> None:
    """按时办结率: the county concluded one request in time and let three run past their
    resolution deadline, which pulled them up: 1 of 4, not 1 of 1. The neighbour signed for
    and answered one late and returned it (退单, approved): not its to handle, so neither its
    sign-for, response nor conclusion is measured; it counts as a return."""
    county, neighbour, city = "zj-330106-sme", "zj-330105-sme", "zj-330100-sme"
    made = []
    f = RecordFactory(make_request("req-conc-in-time"), T0)
    cw = caseworker(county)
    rec = [f.submitted(), f.assigned(county), f.emit(EventType.SIGNED_FOR, actor=cw)]
    rec += [f.emit(EventType.ACKNOWLEDGED, State.ACKNOWLEDGED, actor=cw), f.resolved()]
    made.append(rec)
    for i in range(3):
        g = RecordFactory(make_request(f"req-conc-pulled-{i}"), T0 + timedelta(seconds=i + 1))
        rec = [g.submitted(), g.assigned(county), g.emit(EventType.SIGNED_FOR, actor=cw)]
        rec += [g.emit(EventType.ACKNOWLEDGED, State.ACKNOWLEDGED, actor=cw)]
        rec += [g.breached("resolution")]
        rec.append(g.escalated(city, Tier.MUNICIPAL, reason="sla_breach:resolution"))
        made.append(rec)
    h = RecordFactory(make_request("req-returned", division_code="330105"), T0)
    other = caseworker(neighbour)
    rec = [h.submitted(), h.assigned(neighbour), h.breached("sign_for")]
    rec += [h.emit(EventType.SIGNED_FOR, actor=other), h.breached("response")]
    rec += [h.breached("resolution")]
    rec.append(h.emit(EventType.RETURN_APPROVED, State.ASSIGNED, institution_id=county))
    made.append(rec)
    _persist(db_engine, made)
    report, _ = await _report(db_engine, tmp_path)
    rows = {r["institution_id"]: r for r in report["rows"]}
    assert rows[county]["conclusion_on_time_rate"] == 0.25
    assert rows[county]["holds"] == 5  # its four and the returned request re-routed to it
    returned = rows[neighbour]
    assert returned["returns"] == 1 and returned["holds"] == 1
    rates = ("sign_for_on_time_rate", "response_rate", "conclusion_on_time_rate")
    assert [returned[rate] for rate in rates] == [None, None, None]


async def test_an_intake_rating_is_the_unit_that_did_the_intake(
    db_engine: Engine, tmp_path
) -> None:
    """受理评价 rates the 受理: the county answered the request, missed its conclusion and the
    request went up; the enterprise then rated the intake 1. The county's 受理满意率, not the
    city's. A request nobody answered yet rates its holder's intake; once a unit answers it,
    that unit's: here the neighbour the county returned it to."""
    county, city, neighbour = "zj-330106-sme", "zj-330100-sme", "zj-330105-sme"
    cw = caseworker(county)
    f = RecordFactory(make_request("req-intake-moved"), T0)
    rec = [f.submitted(), f.assigned(county), f.emit(EventType.SIGNED_FOR, actor=cw)]
    rec += [f.emit(EventType.ACKNOWLEDGED, State.ACKNOWLEDGED, actor=cw), f.breached("resolution")]
    rec += [f.escalated(city, Tier.MUNICIPAL, reason="sla_breach:resolution")]
    rec += [f.emit(EventType.ACKNOWLEDGED, State.ACKNOWLEDGED, actor=caseworker(city))]
    rec += [f.rated(1, stage="intake")]
    g = RecordFactory(make_request("req-intake-waiting"), T0)
    waiting = [g.submitted(), g.assigned(city, Tier.MUNICIPAL), g.rated(4, stage="intake")]
    h = RecordFactory(make_request("req-intake-returned"), T0)
    returned = [h.submitted(), h.assigned(county), h.rated(2, stage="intake")]
    returned.append(h.emit(EventType.RETURN_APPROVED, State.ASSIGNED, institution_id=neighbour))
    answer = caseworker(neighbour)
    returned.append(h.emit(EventType.ACKNOWLEDGED, State.ACKNOWLEDGED, actor=answer))
    _persist(db_engine, [rec, waiting, returned])
    report, _ = await _report(db_engine, tmp_path)
    rows = {r["institution_id"]: r for r in report["rows"]}
    assert (rows[county]["intake_ratings"], rows[county]["intake_satisfaction_rate"]) == (1, 0.0)
    assert (rows[city]["intake_ratings"], rows[city]["intake_satisfaction_rate"]) == (1, 1.0)
    assert (rows[neighbour]["intake_ratings"], rows[neighbour]["intake_satisfaction_rate"]) == (
        1,
        0.0,
    )


def test_intake_ratings_stored_before_belong_to_the_unit_that_answered(db_engine: Engine) -> None:
    """Migration 0026 charges each intake rating stored before to the request's first stay
    that answered; one of a request nobody answered stays with its holder."""
    county, city = "zj-330106-sme", "zj-330100-sme"
    cw = caseworker(county)
    f = RecordFactory(make_request("req-intake-before"), T0)
    rec = [f.submitted(), f.assigned(county), f.emit(EventType.ACKNOWLEDGED, actor=cw)]
    rec += [f.escalated(city, Tier.MUNICIPAL), f.rated(2, stage="intake")]
    g = RecordFactory(make_request("req-intake-unanswered"), T0)
    unanswered = [g.submitted(), g.assigned(city, Tier.MUNICIPAL), g.rated(4, stage="intake")]
    _persist(db_engine, [rec, unanswered])
    with db_engine.begin() as conn:  # as the migration found them: the holder's
        conn.execute(
            update(Rating)
            .where(col(Rating.request_id) == "req-intake-before")
            .values(institution_id=city, tier="municipal")
        )
        INTAKE_UNIT.backfill(conn)
    with Session(db_engine) as session:
        found = session.exec(select(Rating.request_id, Rating.institution_id, Rating.tier)).all()
    assert sorted(found) == [
        ("req-intake-before", county, "county"),
        ("req-intake-unanswered", city, "municipal"),
    ]


async def test_a_supervisor_reads_its_units_figures_wherever_their_requests_went(
    db_engine: Engine, tmp_path
) -> None:
    """The county let two of its three requests run late and up to the national tier: a
    provincial (and a municipal) supervisor reads the county's figures with them, as an
    admin does; the units above its tier (the national centre) and outside its region are
    not its to read. Requests moving out of its scope do not move a unit's figures."""
    county, city, province = "zj-330106-sme", "zj-330100-sme", "zj-330000-sme"
    national, other = "cn-000000-sme", "js-320102-sme"
    _list_in_directory(
        db_engine, [u for u in WIDE if u.id in (county, city, province, national, other)]
    )
    cw = caseworker(county)
    made = []
    for i in range(3):
        f = RecordFactory(make_request(f"req-up-{i}"), T0 + timedelta(seconds=i))
        rec = [f.submitted(), f.assigned(county), f.emit(EventType.SIGNED_FOR, actor=cw)]
        rec += [f.emit(EventType.ACKNOWLEDGED, State.ACKNOWLEDGED, actor=cw)]
        if i == 0:
            rec.append(f.resolved())
        else:
            for unit, tier in ((city, Tier.MUNICIPAL), (province, Tier.PROVINCIAL)):
                rec += [f.breached("resolution"), f.escalated(unit, tier, "sla_breach:resolution")]
            rec += [f.breached("resolution"), f.escalated(national, Tier.NATIONAL, "x")]
        made.append(rec)
    g = RecordFactory(make_request("req-elsewhere", division_code="320102"), T0)
    made.append([g.submitted(), g.assigned(other)])
    _persist(db_engine, made)
    admin, _ = await _report(db_engine, tmp_path)
    by_admin = {r["institution_id"]: r for r in admin["rows"]}
    assert by_admin[county]["conclusion_on_time_rate"] == round(1 / 3, 4)
    for reader, expected in ((province, {county, city, province}), (city, {county, city})):
        report, _ = await _report(db_engine, tmp_path, supervisor_of=reader)
        rows = {r["institution_id"]: r for r in report["rows"]}
        assert set(rows) == expected, reader
        for unit in expected:
            assert rows[unit] == by_admin[unit], (reader, unit)


async def test_a_sign_for_without_a_deadline_is_not_measured(db_engine: Engine, tmp_path) -> None:
    """签收 in time is measured over the stays whose sign-for was due: a request pinned under a
    policy without a sign-for deadline is signed for (its business seconds recorded as null)
    but counts neither for nor against the unit's rate."""
    county = "zj-330106-sme"
    cw = caseworker(county)
    timed = RecordFactory(make_request("req-timed-sign-for"), T0)
    untimed = RecordFactory(make_request("req-untimed-sign-for"), T0)
    _persist(
        db_engine,
        [
            [timed.submitted(), timed.assigned(county)]
            + [
                timed.emit(
                    EventType.SIGNED_FOR, actor=cw, details={"sign_for_business_seconds": 60}
                )
            ],
            [untimed.submitted(), untimed.assigned(county)]
            + [
                untimed.emit(
                    EventType.SIGNED_FOR, actor=cw, details={"sign_for_business_seconds": None}
                )
            ],
        ],
    )
    report, _ = await _report(db_engine, tmp_path)
    (row,) = [r for r in report["rows"] if r["institution_id"] == county]
    assert row["holds"] == 2 and row["sign_for_on_time_rate"] == 1.0
    period = (T0 - timedelta(days=1), T0 + timedelta(days=30))
    on_time = figures.behind(db_engine, [], period, [county], "sign_for_on_time_rate")
    assert [m.request_id for m in on_time] == ["req-timed-sign-for"]

    signed = untimed.now  # as the projection recorded it before: migration 0038 clears it
    with db_engine.begin() as conn:
        conn.execute(
            update(TierHoldRow)
            .where(col(TierHoldRow.request_id) == "req-untimed-sign-for")
            .values(signed_for_at=signed)
        )
        UNTIMED.backfill(conn)
    with Session(db_engine) as session:
        stays = session.exec(select(TierHoldRow.request_id, TierHoldRow.signed_for_at)).all()
    assert sorted((rid, at is not None) for rid, at in stays) == [
        ("req-timed-sign-for", True),
        ("req-untimed-sign-for", False),
    ]


async def test_redos_count_the_follow_ups_and_the_supervisors_not_the_units_own(
    db_engine: Engine, tmp_path
) -> None:
    """`redos` (重办): sent back after an unsatisfied follow-up or by a supervisor above, not a
    unit reopening its own conclusion."""
    county = "zj-330106-sme"
    made = []
    for i, cause in enumerate(("follow_up", "supervisor", None)):
        f = RecordFactory(make_request(f"req-redo-{cause}"), T0 + timedelta(seconds=i))
        rec = [f.submitted(), f.assigned(county), f.resolved()]
        details = {"cause": cause, "redo": 1} if cause else {}
        rec.append(f.emit(EventType.REOPENED, State.IN_PROGRESS, details=details))
        made.append(rec)
    _persist(db_engine, made)
    report, _ = await _report(db_engine, tmp_path)
    [row] = [r for r in report["rows"] if r["institution_id"] == county]
    assert row["redos"] == 2


COUNTY, OTHER, CITY = "zj-330106-sme", "zj-330105-sme", "zj-330100-sme"
YEAR = (T0 - timedelta(days=1), T0 + timedelta(days=60))


def _worked(f: RecordFactory, unit: str) -> list[Any]:
    cw = caseworker(unit)
    return [
        f.submitted(),
        f.assigned(unit),
        f.emit(EventType.SIGNED_FOR, actor=cw),
        f.emit(EventType.ACKNOWLEDGED, State.ACKNOWLEDGED, actor=cw),
    ]


def _followed_up(f: RecordFactory, outcome: str, **details: Any) -> Any:
    return f.emit(EventType.FOLLOWED_UP, details={"outcome": outcome, "attempt": 1, **details})


def _redo(f: RecordFactory) -> Any:
    details = {"cause": "follow_up", "redo": 1}
    return f.emit(EventType.REOPENED, State.IN_PROGRESS, details=details)


def test_a_redo_concluded_in_time_does_not_make_up_for_a_late_conclusion(
    db_engine: Engine,
) -> None:
    """Both units concluded late; one's conclusion did not solve the matter and its 重办 was
    in time. It must not rank above the unit whose late conclusion solved it; a redo that
    runs late is a mark of its own."""
    redone = RecordFactory(make_request("req-redone"), T0)
    rec = _worked(redone, COUNTY) + [redone.breached("resolution"), redone.resolved()]
    rec += [_followed_up(redone, "unsatisfied"), _redo(redone), redone.resolved()]
    solved = RecordFactory(make_request("req-solved", division_code="330105"), T0)
    other = _worked(solved, OTHER) + [solved.breached("resolution"), solved.resolved()]
    other.append(_followed_up(solved, "satisfied"))
    late_redo = RecordFactory(make_request("req-late-redo", division_code="330105"), T0)
    again = _worked(late_redo, OTHER) + [late_redo.resolved(), _redo(late_redo)]
    again += [late_redo.breached("resolution"), late_redo.resolved()]
    _persist(db_engine, [rec, other, again])
    found = figures.tally(db_engine, [], YEAR)
    assert found[COUNTY].figure("conclusion_on_time_rate") == 0.0
    assert found[COUNTY].figure("redos") == 1
    # OTHER: one late conclusion, one in time, and the late redo
    assert (found[OTHER].marks["conclusion_measured"], found[OTHER].marks["concluded_on_time"]) == (
        3,
        1,
    )
    behind = figures.behind(db_engine, [], YEAR, [COUNTY], "conclusion_on_time_rate")
    assert [(m.request_id, m.counts) for m in behind] == [("req-redone", False)]


def test_the_desks_call_back_after_a_bad_rating_is_not_a_second_follow_up(
    db_engine: Engine,
) -> None:
    f = RecordFactory(make_request("req-call-back"), T0)
    rec = _worked(f, COUNTY) + [f.resolved(), _followed_up(f, "satisfied"), f.closed()]
    rec += [f.rated(1, text="没解决"), _followed_up(f, "unsatisfied", call_back=True)]
    _persist(db_engine, [rec])
    found = figures.tally(db_engine, [], YEAR)[COUNTY]
    assert (found.marks["followed_up"], found.marks["solved"]) == (1, 1)
    assert found.figure("resolution_rate") == 1.0 and found.figure("follow_up_rate") == 1.0
    behind = figures.behind(db_engine, [], YEAR, [COUNTY], "resolution_rate")
    assert [m.request_id for m in behind] == ["req-call-back"]


def test_a_rectification_counts_against_its_rated_unit_wherever_the_request_went(
    db_engine: Engine,
) -> None:
    """The county was rated 1 (its 整改), the unsatisfied follow-up sent the request back, the
    redo ran late and was pulled up to the city; the county's late 整改 and its 催办 are the
    county's marks, not the city's."""
    f = RecordFactory(make_request("req-rectified-after-moving"), T0)
    rec = _worked(f, COUNTY) + [f.resolved(), f.rated(1, text="差")]
    opened = {"due_at": "x", "rectifying_institution": COUNTY}
    rec.append(f.emit(EventType.RECTIFICATION_OPENED, details=opened))
    rec += [_followed_up(f, "unsatisfied"), _redo(f), f.breached("resolution")]
    rec.append(f.escalated(CITY, Tier.MUNICIPAL, "sla_breach:resolution"))
    late = {"clock": "rectification", "rectifying_institution": COUNTY}
    rec.append(f.emit(EventType.REMINDED, details=late))
    concluded = {"on_time": False, "rectifying_institution": COUNTY, "rating": 1}
    rec.append(
        f.emit(EventType.RECTIFICATION_CONCLUDED, actor=caseworker(COUNTY), details=concluded)
    )
    _persist(db_engine, [rec])
    found = figures.tally(db_engine, [], YEAR)
    assert found[COUNTY].figure("rectifications") == 1
    assert found[COUNTY].figure("rectification_on_time_rate") == 0.0
    assert found[COUNTY].figure("reminders") == 1
    assert found[CITY].figure("rectification_on_time_rate") is None
    assert found[CITY].figure("reminders") == 0
    assert charged_unit("reminded", late, CITY) == COUNTY  # the notifier's audience too


def test_the_follow_up_rate_counts_each_conclusion_once(db_engine: Engine) -> None:
    """回访率: of the conclusions, those a regular follow-up reached before a later one; an
    unreachable attempt, or only the desk's call back after a bad rating, is no follow-up."""
    reached = RecordFactory(make_request("req-reached"), T0)
    a = _worked(reached, COUNTY) + [reached.resolved(), _followed_up(reached, "unreachable")]
    a.append(_followed_up(reached, "satisfied"))
    never = RecordFactory(make_request("req-never-reached"), T0 + timedelta(seconds=1))
    b = _worked(never, COUNTY) + [never.resolved(), _followed_up(never, "unreachable")]
    b += [never.closed(), never.rated(1), _followed_up(never, "unsatisfied", call_back=True)]
    redone = RecordFactory(make_request("req-redone-reached"), T0 + timedelta(seconds=2))
    c = _worked(redone, COUNTY) + [redone.resolved(), _followed_up(redone, "unsatisfied")]
    c += [_redo(redone), redone.resolved()]  # its second conclusion not followed up (yet)
    _persist(db_engine, [a, b, c])
    found = figures.tally(db_engine, [], YEAR)[COUNTY]
    assert (found.marks["conclusions"], found.marks["conclusions_followed_up"]) == (4, 2)
    assert found.figure("follow_up_rate") == 0.5
    behind = figures.behind(db_engine, [], YEAR, [COUNTY], "follow_up_rate")
    assert sorted((m.request_id, m.counts) for m in behind) == [
        ("req-never-reached", False),
        ("req-reached", True),
        ("req-redone-reached", False),
        ("req-redone-reached", True),
    ]
