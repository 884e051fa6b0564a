"""The read-model writer on real SQLite and PostgreSQL: exactly-once effects per event id."""

from __future__ import annotations

import threading
from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, delete, event, func
from sqlmodel import Session, select

from activities.persistence import TransitionWriter
from schemas.domain import Category, State, Tier
from schemas.edge import CONTACT_NAME_BYTES, NAME_BYTES, SHORT_BYTES, SUBJECT_BYTES
from schemas.lifecycle import EventType, TransitionRecord
from schemas.request import Attachment, RequestInput
from tests.utils.factories import RecordFactory, caseworker, make_request
from tierflow.db import models, repository
from tierflow.db.seed import seed_directory, seed_policy
from tierflow.directory import Directory


def persist_one(writer: TransitionWriter, record: TransitionRecord) -> bool:
    """Write one record; return True only for the call that wrote it."""
    return writer.persist([record]) == 1


def count(engine: Engine, model: type) -> int:
    with Session(engine) as session:
        return session.exec(select(func.count()).select_from(model)).one()


def test_same_transition_twice_is_recorded_once(db_engine: Engine) -> None:
    writer = TransitionWriter(db_engine)
    record = RecordFactory().submitted()
    assert persist_one(writer, record) is True
    assert persist_one(writer, record) is False
    assert count(db_engine, models.Transition) == 1
    assert count(db_engine, models.ServiceRequest) == 1


def test_the_longest_texts_the_edges_accept_fit_the_read_model(db_engine: Engine) -> None:
    """Edges bound texts in UTF-8 bytes; in ASCII that many characters must fit the columns
    (PostgreSQL counts characters and refuses a longer value: the request would wedge)."""
    req = make_request("req-longest-1")
    enterprise = req.enterprise.model_copy(
        update={
            "name": "N" * NAME_BYTES,
            "contact_name": "C" * CONTACT_NAME_BYTES,
            "contact_phone": "1" * 15 + "-" * (SHORT_BYTES - 15),  # 15 digits at most
            # one address as long as the rule allows: 64 @ 190 . the rest
            "contact_email": "e" * 64 + "@" + "d" * 190 + "." + "c" * (NAME_BYTES - 256),
        }
    )
    longest = req.model_copy(
        update={
            "enterprise": enterprise,
            "subject": "S" * SUBJECT_BYTES,
            "channel": "c" * SHORT_BYTES,
        }
    )
    RequestInput.model_validate(longest.model_dump())  # what the edges accept

    assert persist_one(TransitionWriter(db_engine), RecordFactory(longest).submitted()) is True
    with Session(db_engine) as s:
        row = repository.get_request(s, "req-longest-1")
        assert row is not None
        stored = (row.enterprise_name, row.contact_name, row.contact_phone, row.contact_email)
        assert stored == (enterprise.name, enterprise.contact_name, enterprise.contact_phone,
                          enterprise.contact_email)  # fmt: skip
        assert (row.subject, row.channel) == (longest.subject, longest.channel)


def test_lifecycle_builds_request_holds_comments_and_ratings(db_engine: Engine) -> None:
    writer = TransitionWriter(db_engine)
    f = RecordFactory(make_request("req-life-1"))
    scan = Attachment(name="营业执照.pdf", media_type="application/pdf", size_bytes=5120,
                      url="https://files.example.org/req-life-1/licence.pdf")  # fmt: skip
    f.request.attachments = [scan]
    records = [
        f.submitted(),
        f.assigned("zj-330106-sme", Tier.COUNTY),
        f.breached("response"),
        f.escalated("zj-330100-sme", Tier.MUNICIPAL),
        f.commented("已联系合作银行，等待授信审批"),
        f.resolved(),
        f.rated(4, "响应及时"),
        f.closed(),
    ]
    assert [persist_one(writer, r) for r in records] == [True] * len(records)
    assert [persist_one(writer, r) for r in records] == [False] * len(records)
    assert writer.persist(records) == 0  # a retried batch writes nothing either

    with Session(db_engine) as s:
        row = repository.get_request(s, "req-life-1")
        assert row is not None
        assert (row.state, row.tier, row.institution_id) == ("closed", "municipal", "zj-330100-sme")
        assert row.escalation_count == 1 and row.last_sequence == len(records)
        assert row.contact_name == "王芳" and row.description == "需要500万元流动资金贷款"
        assert row.attachments == [scan.model_dump(mode="json")]  # what the unit is to read
        assert row.enterprise_uscc == f.request.enterprise.uscc
        assert row.submitted_at == records[0].occurred_at
        assert (
            row.closed_at == records[-1].occurred_at and row.resolved_at == records[5].occurred_at
        )
        assert row.resolution_due_at is None

        trail = repository.transitions(s, "req-life-1")
        assert [t.event_type for t in trail] == [r.event_type.value for r in records]
        assert trail[2].details == {"clock": "response"}
        assert trail[4].actor_role == "caseworker" and trail[4].actor_institution_id

        county, city = repository.tier_holds(s, "req-life-1")
        assert (county.tier, county.institution_id) == ("county", "zj-330106-sme")
        assert county.response_breached and not county.resolution_breached
        assert county.since == records[1].occurred_at and county.until == records[3].occurred_at
        assert county.left_by == EventType.ESCALATED.value
        assert (city.tier, city.institution_id, city.response_breached) == (
            "municipal",
            "zj-330100-sme",
            False,
        )
        assert city.until == records[5].occurred_at and city.left_by == "resolved"

        (comment,) = repository.comments(s, "req-life-1")
        assert comment.body == "已联系合作银行，等待授信审批"
        assert comment.institution_id == "zj-330100-sme" and comment.author_role == "caseworker"
        (rating,) = repository.ratings(s, "req-life-1")
        assert (rating.rating, rating.comment, rating.institution_id) == (
            4,
            "响应及时",
            "zj-330100-sme",
        )
    assert count(db_engine, models.TierHoldRow) == 2
    assert count(db_engine, models.Comment) == 1 and count(db_engine, models.Rating) == 1


def test_sign_for_is_kept_per_hold_and_on_the_request(db_engine: Engine) -> None:
    writer = TransitionWriter(db_engine)
    f = RecordFactory(make_request("req-sign-1"))
    submitted, assigned = f.submitted(), f.assigned("zj-330106-sme", Tier.COUNTY)
    late = f.breached("sign_for")
    signed = f.emit(
        EventType.SIGNED_FOR,
        actor=caseworker("zj-330106-sme"),
        details={"sign_for_business_seconds": 30_000},
    )
    signed.summary.signed_for_at = signed.occurred_at
    assert writer.persist([submitted, assigned, late, signed]) == 4

    with Session(db_engine) as s:
        row = repository.get_request(s, "req-sign-1")
        assert row is not None and row.signed_for_at == signed.occurred_at
        (hold,) = repository.tier_holds(s, "req-sign-1")
        assert hold.signed_for_at == signed.occurred_at and hold.sign_for_breached
        assert not (hold.response_breached or hold.resolution_breached)


def test_every_end_of_a_pause_adds_its_time_to_the_hold(db_engine: Engine) -> None:
    """The enterprise's reply, a resumption (a suspension ending) and a wait that ran out each
    end a pause of the clocks and say how long it lasted: the hold counts all three, as the
    workflow's does (the reply alone was counted)."""
    f = RecordFactory(make_request("req-pauses-1"))
    records = [
        f.submitted(),
        f.assigned("zj-330106-sme", Tier.COUNTY),
        f.emit(EventType.INFO_REQUESTED, State.AWAITING_ENTERPRISE),
        f.emit(EventType.INFO_PROVIDED, State.IN_PROGRESS, details={"paused_seconds": 100}),
        f.emit(EventType.SUSPENSION_APPROVED, State.SUSPENDED, details={"days": 2}),
        f.emit(
            EventType.RESUMED,
            State.IN_PROGRESS,
            details={"cause": "suspension_ended", "paused_seconds": 200},
        ),
        f.emit(EventType.INFO_REQUESTED, State.AWAITING_ENTERPRISE),
        f.emit(
            EventType.ENTERPRISE_WAIT_EXPIRED, State.IN_PROGRESS, details={"paused_seconds": 300}
        ),
    ]
    assert TransitionWriter(db_engine).persist(records) == len(records)
    with Session(db_engine) as s:
        (hold,) = repository.tier_holds(s, "req-pauses-1")
    assert hold.paused_seconds == 600


def test_an_upheld_appeal_keeps_the_rating_but_excludes_it(db_engine: Engine) -> None:
    writer = TransitionWriter(db_engine)
    f = RecordFactory(make_request("req-appeal-1"))
    records = [f.submitted(), f.assigned("zj-330106-sme", Tier.COUNTY), f.resolved(), f.rated(1)]
    upheld = f.emit(EventType.APPEAL_UPHELD, actor=caseworker("zj-330106-sme"), reason="误评")
    assert writer.persist([*records, upheld]) == 5
    with Session(db_engine) as s:
        (rating,) = repository.ratings(s, "req-appeal-1")
        assert rating.rating == 1 and rating.excluded


def test_a_late_older_record_does_not_roll_the_summary_back(db_engine: Engine) -> None:
    writer = TransitionWriter(db_engine)
    f = RecordFactory()
    submitted, assigned, acknowledged = (
        f.submitted(),
        f.assigned("zj-330106-sme"),
        f.emit(EventType.ACKNOWLEDGED, State.ACKNOWLEDGED),
    )
    for record in (assigned, acknowledged, submitted):
        assert persist_one(writer, record)
    with Session(db_engine) as s:
        row = repository.get_request(s, f.request.request_id)
        assert row is not None
        assert (row.state, row.last_sequence) == ("acknowledged", 3)
        assert row.contact_email == "wang@example.com"  # the submission's fields still arrive
        assert len(repository.transitions(s, f.request.request_id)) == 3


def test_timestamps_come_back_as_the_same_instant_in_utc(db_engine: Engine) -> None:
    shanghai = ZoneInfo("Asia/Shanghai")
    f = RecordFactory()
    f.now = f.now.astimezone(shanghai)
    persist_one(TransitionWriter(db_engine), f.submitted())
    with Session(db_engine) as s:
        (trail,) = repository.transitions(s, f.request.request_id)
        assert trail.occurred_at == f.now and trail.occurred_at.utcoffset() == timedelta(0)


def test_concurrent_duplicates_from_threads_leave_one_row(db_engine: Engine) -> None:
    writer = TransitionWriter(db_engine)
    f = RecordFactory()
    submitted, assigned = f.submitted(), f.assigned("zj-330106-sme")
    threads_per_record = 6
    barrier = threading.Barrier(threads_per_record * 2)
    results: list[tuple[int, bool]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def persist(record_index: int) -> None:
        record = (submitted, assigned)[record_index]
        try:
            barrier.wait(timeout=30)
            won = persist_one(writer, record)
            with lock:
                results.append((record_index, won))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [
        threading.Thread(target=persist, args=(i % 2,)) for i in range(2 * threads_per_record)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert sorted(i for i, won in results if won) == [0, 1]  # each event counted exactly once
    assert count(db_engine, models.Transition) == 2
    assert count(db_engine, models.TierHoldRow) == 1
    with Session(db_engine) as s:
        row = repository.get_request(s, f.request.request_id)
        assert row is not None and row.state == "assigned" and row.last_sequence == 2


def test_queue_orders_by_resolution_deadline_and_counts_open_per_tier(db_engine: Engine) -> None:
    writer = TransitionWriter(db_engine)
    later, sooner = RecordFactory(), RecordFactory()
    later.now += timedelta(hours=2)  # its deadline is later
    for f in (later, sooner):
        writer.persist([f.submitted(), f.assigned("zj-330106-sme")])
    with Session(db_engine) as s:
        queue = repository.institution_queue(s, "zj-330106-sme")
        assert [r.request_id for r in queue] == [
            sooner.request.request_id,
            later.request.request_id,
        ]
        assert repository.open_requests_by_tier(s)[Tier.COUNTY] == 2


def test_seeded_directory_routes_like_the_file(db_engine: Engine) -> None:
    packaged = Directory.load()
    assert seed_directory(db_engine, packaged) == len(packaged.entries)
    assert seed_directory(db_engine, packaged) == len(packaged.entries)  # upsert, no duplicates
    version, new = seed_policy(db_engine)
    assert new and not seed_policy(db_engine)[1]
    stored = Directory.from_db(db_engine)
    assert len(stored.entries) == len(packaged.entries) == count(db_engine, models.InstitutionRow)
    for county in packaged.counties():
        for category in Category:
            for tier in Tier:
                assert stored.route(county.code, category, tier) == packaged.route(
                    county.code, category, tier
                )
    with Session(db_engine) as s:
        policy = s.get(models.SlaPolicyVersion, version)
        assert policy is not None and version in policy.content


def test_seeding_again_updates_an_institution_in_place(db_engine: Engine) -> None:
    row = {"id": "zj-330106-sme", "name": "西湖区中小企业服务中心", "tier": Tier.COUNTY}
    first = models.InstitutionCreate(**row, division_code="330106", categories=["financing"])
    other = models.InstitutionCreate(**row | {"id": "zj-330100-sme"}, division_code="330100")
    with Session(db_engine) as s:
        assert repository.upsert_institutions(s, [first, other]) == 2
        s.commit()
    renamed = first.model_copy(update={"name": "西湖区中小企业公共服务中心", "contact": "0571-1"})
    with Session(db_engine) as s:
        assert repository.upsert_institutions(s, [renamed]) == 1
        assert repository.upsert_institutions(s, []) == 0
        s.commit()
    with Session(db_engine) as s:
        stored = s.get(models.InstitutionRow, "zj-330106-sme")
        assert stored is not None
        assert (stored.name, stored.contact, stored.tier) == (renamed.name, "0571-1", Tier.COUNTY)
        assert stored.categories == ["financing"]
        assert count(db_engine, models.InstitutionRow) == 2


READ_MODEL = (
    models.ServiceRequest,
    models.Transition,
    models.TierHoldRow,
    models.Comment,
    models.Rating,
)


def _rows(engine: Engine) -> dict[str, list[dict[str, object]]]:
    """Every read-model table's rows, without the ids and write times a writer assigns."""
    skip = {"id", "recorded_at"}
    with Session(engine) as s:
        return {
            model.__name__: sorted(
                (
                    {k: v for k, v in row.model_dump().items() if k not in skip}
                    for row in s.exec(select(model)).all()
                ),
                key=repr,
            )
            for model in READ_MODEL
        }


def test_a_batch_writes_each_summary_once_and_the_rows_one_record_at_a_time_would(
    db_engine: Engine,
) -> None:
    """Two requests' records interleaved in one batch, after a first batch that wrote some;
    the batch's audit rows go in as one statement, and an event twice in it counts once."""
    one, two = (
        RecordFactory(make_request("req-batch-1")),
        RecordFactory(make_request("req-batch-2")),
    )
    first = [one.submitted(), one.assigned("zj-330106-sme", Tier.COUNTY), two.submitted()]
    rest = [
        two.assigned("zj-330106-sme", Tier.COUNTY),
        one.commented("已联系合作银行"),
        two.breached("response"),
        one.resolved(),
        two.escalated("zj-330100-sme", Tier.MUNICIPAL),
        one.rated(5, "办得好"),
    ]
    upserts, audit_inserts = [], []

    def counted(conn, cursor, statement: str, *args: object) -> None:
        if statement.startswith("INSERT INTO service_request"):
            upserts.append(statement)
        if statement.startswith("INSERT INTO transition"):
            audit_inserts.append(statement)

    batched = TransitionWriter(db_engine)
    assert batched.persist(first) == 3
    event.listen(db_engine, "before_cursor_execute", counted)
    try:
        # a retry's known records too, and the comment twice
        assert batched.persist(first[1:] + rest + [rest[1]]) == len(rest)
    finally:
        event.remove(db_engine, "before_cursor_execute", counted)
    assert len(upserts) == 2  # one per request, not one per record
    assert len(audit_inserts) == 1  # one for the batch
    with Session(db_engine) as s:
        row = repository.get_request(s, "req-batch-2")
        assert row is not None and (row.tier, row.last_sequence) == ("municipal", 4)
        assert row.contact_name == "王芳"
    written = _rows(db_engine)

    with db_engine.begin() as conn:
        for model in READ_MODEL:
            conn.execute(delete(model))
    for record in first + rest:
        assert persist_one(batched, record)
    assert _rows(db_engine) == written


def _lifecycle(request_id: str) -> list[TransitionRecord]:
    f = RecordFactory(make_request(request_id))
    return [
        f.submitted(),
        f.assigned("zj-330106-sme", Tier.COUNTY),
        f.breached("response"),
        f.commented("已联系合作银行"),
        f.escalated("zj-330100-sme", Tier.MUNICIPAL),
        f.resolved(),
        f.rated(4, "还行"),
    ]


def test_a_backfill_costs_the_statements_of_one_request_and_writes_what_it_would(
    db_engine: Engine,
) -> None:
    """Thirty requests' lifecycles in one batch run each projection statement once per round
    (the k-th record of every request), as one request's lifecycle does (the audit rows and
    summaries have their own batching); the rows are those of writing each request's records
    one at a time."""
    statements: list[str] = []

    def counted(conn, cursor, statement: str, *args: object) -> None:
        statements.append(statement.split("(")[0].split(" WHERE")[0])

    writer = TransitionWriter(db_engine)
    runs = []
    for batch in (
        [_lifecycle("req-round-0")],
        [_lifecycle(f"req-round-{i}") for i in range(1, 31)],
    ):
        event.listen(db_engine, "before_cursor_execute", counted)
        try:
            assert writer.persist([r for lifecycle in batch for r in lifecycle]) == 7 * len(batch)
        finally:
            event.remove(db_engine, "before_cursor_execute", counted)
        summary_and_audit = ("service_request", "transition ")
        runs.append(sorted(s for s in statements if not any(t in s for t in summary_and_audit)))
        statements.clear()
    assert runs[0] == runs[1]
    assert len(runs[0]) == 8  # assigned: close, open; flag; comment; escalated: close, open; ...
    with Session(db_engine) as s:
        holds = s.exec(select(models.TierHoldRow).order_by(models.TierHoldRow.id)).all()
        by_request = {h.request_id: h for h in holds if h.tier == "county"}
        assert len(holds) == 62 and len(by_request) == 31
        assert all(h.response_breached and h.left_by == "escalated" for h in by_request.values())
        assert count(db_engine, models.Rating) == count(db_engine, models.Comment) == 31

    batched = _rows(db_engine)
    with db_engine.begin() as conn:
        for model in READ_MODEL:
            conn.execute(delete(model))
    for i in range(31):
        for record in _lifecycle(f"req-round-{i}"):
            assert persist_one(writer, record)
    assert _rows(db_engine) == batched
