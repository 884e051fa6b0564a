"""Apply TransitionRecords to the read model, exactly once per event id.

The transition row is inserted first with ``ON CONFLICT DO NOTHING``; only when that insert
wrote a row do the other tables change. Everything runs in the caller's transaction, so a
retry after a crash either sees the committed event (and does nothing) or redoes it all.
Records of one request must be applied in sequence order (the workflow's outbox does that);
the request summary itself is guarded by ``last_sequence`` and never goes backwards, so a
batch writes it once per request, from the request's newest record (``newest_by_request``,
``write_summary``). The other tables change in rounds: the first new record of every request
in the batch, then the second, and so on; a round's rows touch one record per request, so
each of its statements runs once for all of them (``_project_in_rounds``).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from enum import Enum
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, Executable, Table, bindparam, exists, select, update
from sqlmodel import SQLModel

from schemas.chased import part_unit
from schemas.lifecycle import EventType, RatingStage, RequestInput, TransitionRecord
from schemas.permissions import HANDLER_ROLES
from tierflow.db.engine import conflict_insert
from tierflow.db.models import (
    Comment,
    Rating,
    RequestPart,
    ServiceRequest,
    TierHoldRow,
    Transition,
    awaiting_text,
)

# Events that move the request to an institution: the old stay ends, a new one begins.
OPENS_HOLD = {
    EventType.ASSIGNED,
    EventType.ESCALATED,
    EventType.HANDED_BACK,
    EventType.REASSIGNED,
    EventType.REOPENED,
    EventType.RETURN_APPROVED,
}
# Steps that end a pause of the clocks, with the business seconds it lasted (paused_seconds):
# the enterprise's reply, a resumption (by hand or when a suspension ends), a wait that ran out.
ENDS_PAUSE = {EventType.INFO_PROVIDED, EventType.RESUMED, EventType.ENTERPRISE_WAIT_EXPIRED}
# Events that end the current stay without a new one.
CLOSES_HOLD = {EventType.RESOLVED, EventType.REJECTED, EventType.WITHDRAWN, EventType.CLOSED}
# the tier hold's flag for a breached clock (the resolution clock's by default)
BREACH_FLAGS = {"response": "response_breached", "sign_for": "sign_for_breached"}
# 协办: events that close a co-handler's part
CLOSES_PART = {EventType.PART_CONCLUDED, EventType.PART_WAIVED}
# the request ended (withdrawn, rejected, closed for no reply): any part still open ends with
# it, and its unit no longer sees the request (a supervision of its part still owed keeps it)
ENDS_PARTS = {EventType.WITHDRAWN, EventType.REJECTED, EventType.CLOSED}
# 督办 of a late part opens, or is answered (a reply, or a reprimand for none): its unit owes
# one reply more, or one fewer
REPLIES_OWED = {
    EventType.SUPERVISION_OPENED: 1,
    EventType.SUPERVISION_REPLIED: -1,
    EventType.REPRIMANDED: -1,
}

BATCH_ROWS = 50  # audit rows per insert statement when many records go in at once

SUMMARY_COLUMNS = (
    "state tier institution_id category priority grade division_code enterprise_uscc "
    "enterprise_name subject policy_version sla_status response_due_at resolution_due_at "
    "submitted_at updated_at resolved_at closed_at escalation_count needs_operator "
    "sign_for_due_at signed_for_at handler_id awaiting follow_up_due_at paused_until "
    "rating scope_division rectifying_unit last_sequence"
).split()

_tables = SQLModel.metadata.tables
_service_request: Table = _tables[ServiceRequest.__tablename__]
_transition: Table = _tables[Transition.__tablename__]
_tier_hold: Table = _tables[TierHoldRow.__tablename__]
_comment: Table = _tables[Comment.__tablename__]
_rating: Table = _tables[Rating.__tablename__]
_part: Table = _tables[RequestPart.__tablename__]


def apply_transition(conn: Connection, record: TransitionRecord) -> bool:
    """Project ``record``; return True if this call recorded it, False if it was known."""
    if not record_transition(conn, record):
        return False
    write_summary(conn, record, record.request, _first_holder(record))
    return True


def _first_holder(record: TransitionRecord) -> str | None:
    """The unit the request was first sent to, if ``record`` is that (its one ``assigned``)."""
    return record.institution_id if record.event_type is EventType.ASSIGNED else None


def newest_by_request(
    records: list[TransitionRecord],
) -> list[tuple[TransitionRecord, RequestInput | None, str | None]]:
    """Each request's newest record among ``records``, with the submission among them if any
    and the unit it was first sent to (``_first_holder``).

    Upserting the summary of the newest record alone leaves the row as one upsert per record
    would (an older summary never overwrites a newer one), at a fraction of the statements.
    """
    newest: dict[str, TransitionRecord] = {}
    submitted: dict[str, RequestInput] = {}
    first_sent: dict[str, str] = {}
    for record in records:
        known = newest.get(record.request_id)
        if known is None or record.sequence > known.sequence:
            newest[record.request_id] = record
        if record.request is not None:
            submitted[record.request_id] = record.request
        if (unit := _first_holder(record)) is not None:
            first_sent[record.request_id] = unit
    return [
        (record, submitted.get(request_id), first_sent.get(request_id))
        for request_id, record in newest.items()
    ]


def record_transition(conn: Connection, record: TransitionRecord) -> bool:
    """Project ``record`` but for the request's summary row (``write_summary`` writes that);
    return True if this call recorded it, False if it was known."""
    return bool(record_transitions(conn, [record]))


def record_transitions(conn: Connection, records: list[TransitionRecord]) -> list[TransitionRecord]:
    """``record_transition`` for each of ``records`` in order; return those this call recorded.

    Their audit rows go in as one statement (a drain's records, or a backfill's thousands,
    cost one round trip instead of one each); the rest follows for the new ones only.
    """
    if not records:
        return []
    rows = [_transition_row(record) for record in records]
    # RETURNING, not rowcount: psycopg reports no rowcount for this statement.
    written = set(conn.execute(_transition_insert(conn.dialect.name), rows).scalars())
    recorded = []
    for record in records:
        if record.event_id in written:
            written.discard(record.event_id)  # the same event twice in a batch: once
            recorded.append(record)
    _project_in_rounds(conn, recorded)
    return recorded


# A statement and the parameters of one of its rows.
Step = tuple[Executable, dict[str, Any]]


def _project_in_rounds(conn: Connection, records: list[TransitionRecord]) -> None:
    """Apply what ``records`` change besides their audit rows and the summaries.

    Round k holds each request's k-th record, so a round's steps touch distinct requests and
    their order within the round does not matter, only each record's own order: the first
    steps of the round's records run, a statement at a time with all its rows, then the
    second steps. A backfill of thousands of requests costs a few statements per round
    instead of one per step; one request's records cost what they did one at a time.
    """
    seen: dict[str, int] = defaultdict(int)  # records of each request so far: the round
    rows: dict[tuple[int, int, Executable], list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        k = seen[record.request_id]
        seen[record.request_id] += 1
        for j, (statement, params) in enumerate(_steps(record)):
            rows[(k, j, statement)].append(params)
    # by round, then step; a stable sort keeps a step's statements in the records' order
    for (_, _, statement), params_list in sorted(rows.items(), key=lambda item: item[0][:2]):
        conn.execute(statement, params_list)


def _steps(record: TransitionRecord) -> list[Step]:
    """What an event changes besides its audit row and the summary, in order."""
    steps = _hold_steps(record)
    if record.event_type is EventType.COMMENTED:
        steps.append((_INSERT_COMMENT, _comment_row(record)))
    elif record.event_type is EventType.RATED:
        row = _rating_row(record)
        steps.append((_INSERT_RATING, row))
        if row["stage"] == RatingStage.INTAKE.value:  # 受理评价: the unit that did the 受理
            steps.append((_CHARGE_INTAKES, _request(record)))
    elif record.event_type is EventType.CO_HANDLER_ADDED:
        steps.append((_OPEN_PART, _part_row(record)))
    elif record.event_type in CLOSES_PART:
        steps.append((_CLOSE_PART, _part_closed(record)))
    elif record.event_type in ENDS_PARTS:
        ended = _request(record) | {"b_at": record.occurred_at, "b_by": record.event_type.value}
        steps.append((_END_PARTS, ended))
    elif (
        record.event_type in REPLIES_OWED
        and not record.details.get("late")  # a reply after its reprimand: owed no more
        and (unit := _part_of_chase(record))
    ):
        step = REPLIES_OWED[record.event_type]
        steps.append((_OWE_REPLY if step > 0 else _OWED_REPLY_ANSWERED, _part_unit(record, unit)))
    elif record.event_type is EventType.APPEAL_UPHELD:  # the conclusion's rating stops counting
        steps.append((_EXCLUDE_CONCLUSION_RATING, {"b_request_id": record.request_id}))
    elif record.event_type is EventType.ACKNOWLEDGED:  # 受理: an intake rated before is its
        steps.append((_CHARGE_INTAKES, _request(record)))
    return steps


def _untimed_sign_for(record: TransitionRecord) -> bool:
    """A sign-for under a policy without a sign-for deadline (pinned before the rule): the
    workflow records its business seconds as null."""
    details = record.details
    return "sign_for_business_seconds" in details and details["sign_for_business_seconds"] is None


def _part_row(record: TransitionRecord) -> dict[str, Any]:
    """协办: a co-handler's part opens (its unit then sees the request in scope)."""
    return {
        "request_id": record.request_id,
        "institution_id": str(record.details.get("co_handler", "")),
        "opened_by": record.event_id,
        "added_at": record.occurred_at,
        "due_at": datetime.fromisoformat(str(record.details["part_due_at"])),
    }


def _part_closed(record: TransitionRecord) -> dict[str, Any]:
    return {
        "b_request_id": record.request_id,
        "b_unit": str(record.details.get("co_handler", "")),
        "b_at": record.occurred_at,
        "b_by": record.event_type.value,
    }


def _part_of_chase(record: TransitionRecord) -> str | None:
    clock = record.details.get("clock")
    return part_unit(clock) if isinstance(clock, str) else None


def _request(record: TransitionRecord) -> dict[str, Any]:
    return {"b_request_id": record.request_id}


def _part_unit(record: TransitionRecord, unit: str) -> dict[str, Any]:
    return _request(record) | {"b_unit": unit}


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    """Replace enum members by their values so every driver stores the same strings."""
    return {k: v.value if isinstance(v, Enum) else v for k, v in values.items()}


def _transition_row(record: TransitionRecord) -> dict[str, Any]:
    return _plain(
        {
            "event_id": record.event_id,
            "request_id": record.request_id,
            "sequence": record.sequence,
            "event_type": record.event_type,
            "occurred_at": record.occurred_at,
            "actor_id": record.actor.id,
            "actor_role": record.actor.role,
            "actor_institution_id": record.actor.institution_id,
            "actor_via": record.actor.via,
            "actor_tier": record.actor.tier,
            "actor_division_code": record.actor.division_code,
            "actor_grants": record.actor.grants or None,
            "action_id": record.action_id,
            "from_state": record.from_state,
            "to_state": record.to_state,
            "from_tier": record.from_tier,
            "to_tier": record.to_tier,
            "institution_id": record.institution_id,
            "reason": record.reason,
            "policy_version": record.policy_version,
            "details": record.model_dump(mode="json", include={"details"})["details"],
            "recorded_at": datetime.now(UTC),
        }
    )


@lru_cache(maxsize=4)
def _transition_insert(dialect_name: str) -> Any:
    """The audit trail's insert, built once per dialect; a known event id inserts nothing.

    Statements built per call cost more than executing them (a profile of the lifecycle
    bench put half of ``persist`` in building and cache-keying this one). Many records go
    in as statements of ``BATCH_ROWS`` rows: psycopg converts each statement's text once and
    caches it, so equal pages cost that once (a page of 1,000 rows took it 0.2 s a time).
    """
    ins = conflict_insert(_transition, dialect_name)
    ins = ins.on_conflict_do_nothing(index_elements=["event_id"])
    paged = ins.execution_options(insertmanyvalues_page_size=BATCH_ROWS)
    return paged.returning(_transition.c.event_id)


@lru_cache(maxsize=4)
def _request_upsert(dialect_name: str) -> Any:
    """The read model's upsert, built once per dialect (building ``excluded`` is costly).

    A newer summary (higher ``last_sequence``) wins, whatever order the writes arrive in.
    """
    ins = conflict_insert(_service_request, dialect_name)
    return ins.on_conflict_do_update(
        index_elements=["request_id"],
        set_={k: ins.excluded[k] for k in SUMMARY_COLUMNS},
        where=_service_request.c.last_sequence < ins.excluded.last_sequence,
    )


def write_summary(
    conn: Connection,
    record: TransitionRecord,
    submission: RequestInput | None = None,
    first_holder: str | None = None,
) -> None:
    """Upsert the request's row from ``record``'s summary; with the submission, its own fields
    (contact, description, channel, attachments, the unit that registered it, its digest);
    with the unit it was first sent to, that (首问负责): whatever order the records arrive in."""
    summary = record.summary.model_dump()
    summary["last_sequence"] = record.sequence
    summary["awaiting"] = awaiting_text(record.summary.awaiting)
    values = _plain({k: summary[k] for k in SUMMARY_COLUMNS})
    values["request_id"] = record.request_id
    if submission is not None:
        req, ent = submission, submission.enterprise
        registrar = req.submitted_by  # a unit's caseworker or lead at its window; None: online
        values |= {
            "registered_by": registrar.institution_id if registrar.role in HANDLER_ROLES else None,
            "contact_name": ent.contact_name,
            "contact_phone": ent.contact_phone,
            "contact_email": ent.contact_email,
            "description": req.description,
            "channel": req.channel,
            "attachments": [a.model_dump(mode="json") for a in req.attachments],
            "submission_digest": req.content_digest(),
        }
    conn.execute(_request_upsert(conn.dialect.name), values)
    if submission is not None:
        extra = {f"b_{k}": values[k] for k in SUBMISSION_COLUMNS}
        conn.execute(_SUBMISSION_FIELDS, {"b_request_id": record.request_id, **extra})
    if first_holder is not None:
        conn.execute(_FIRST_HOLDER, {"b_request_id": record.request_id, "b_unit": first_holder})


# Statements built once (building and cache-keying one costs more than running it): the
# parameters are bound per call.
SUBMISSION_COLUMNS = (
    "registered_by",
    "contact_name",
    "contact_phone",
    "contact_email",
    "description",
    "channel",
    "attachments",
    "submission_digest",
)
_SUBMISSION_FIELDS = (
    update(_service_request)
    .where(_service_request.c.request_id == bindparam("b_request_id"))
    .values({k: bindparam(f"b_{k}") for k in SUBMISSION_COLUMNS})
)
_FIRST_HOLDER = (
    update(_service_request)
    .where(_service_request.c.request_id == bindparam("b_request_id"))
    .values(first_holder=bindparam("b_unit"))
)
_OPEN_HOLD_ID = (
    select(_tier_hold.c.id)
    .where(_tier_hold.c.request_id == bindparam("b_request_id"), _tier_hold.c.until.is_(None))
    .order_by(_tier_hold.c.since.desc(), _tier_hold.c.id.desc())
    .limit(1)
    .scalar_subquery()
)
_CLOSE_HOLDS = (
    update(_tier_hold)
    .where(_tier_hold.c.request_id == bindparam("b_request_id"), _tier_hold.c.until.is_(None))
    .values(until=bindparam("b_until"), left_by=bindparam("b_left_by"))
)
_OPEN_HOLD = _tier_hold.insert()
_FLAG_OPEN_HOLD = {  # the open stay's breach flag, by flag
    flag: update(_tier_hold).where(_tier_hold.c.id == _OPEN_HOLD_ID).values({flag: True})
    for flag in ("response_breached", "sign_for_breached", "resolution_breached")
}
_SIGN_FOR_OPEN_HOLD = (
    update(_tier_hold)
    .where(_tier_hold.c.id == _OPEN_HOLD_ID)
    .values(signed_for_at=bindparam("b_at"))
)
_RESPOND_OPEN_HOLD = (  # the first answer of the stay (a later one does not move it)
    update(_tier_hold)
    .where(_tier_hold.c.id == _OPEN_HOLD_ID, _tier_hold.c.responded_at.is_(None))
    .values(responded_at=bindparam("b_at"))
)
_PAUSE_OPEN_HOLD = (
    update(_tier_hold)
    .where(_tier_hold.c.id == _OPEN_HOLD_ID)
    .values(paused_seconds=_tier_hold.c.paused_seconds + bindparam("b_paused"))
)
_INSERT_COMMENT = _comment.insert()
_INSERT_RATING = _rating.insert()
# the request's first stay that answered (受理): where an intake rating belongs, wherever the
# request is when the enterprise rates it
_first_answer = (
    select(_tier_hold.c.institution_id, _tier_hold.c.tier)
    .where(
        _tier_hold.c.request_id == bindparam("b_request_id"),
        _tier_hold.c.responded_at.is_not(None),
    )
    .order_by(_tier_hold.c.since, _tier_hold.c.id)
    .limit(1)
    .subquery()
)
# 受理评价 belongs to the unit that did the 受理: charged when the rating comes after it, and
# again at a 受理 (the enterprise may rate the intake as soon as the request is sent to a unit)
_CHARGE_INTAKES = (
    update(_rating)
    .where(
        _rating.c.request_id == bindparam("b_request_id"),
        _rating.c.stage == RatingStage.INTAKE.value,
        exists(select(_first_answer.c.institution_id)),
    )
    .values(
        institution_id=select(_first_answer.c.institution_id).scalar_subquery(),
        tier=select(_first_answer.c.tier).scalar_subquery(),
    )
)
_OPEN_PART = _part.insert()
_CLOSE_PART = (
    update(_part)
    .where(
        _part.c.request_id == bindparam("b_request_id"),
        _part.c.institution_id == bindparam("b_unit"),
        _part.c.closed_at.is_(None),
    )
    .values(closed_at=bindparam("b_at"), closed_by=bindparam("b_by"))
)
_END_PARTS = (
    update(_part)
    .where(_part.c.request_id == bindparam("b_request_id"), _part.c.closed_at.is_(None))
    .values(closed_at=bindparam("b_at"), closed_by=bindparam("b_by"))
)
_OWE_REPLY = (
    update(_part)
    .where(
        _part.c.request_id == bindparam("b_request_id"),
        _part.c.institution_id == bindparam("b_unit"),
    )
    .values(replies_owed=_part.c.replies_owed + 1)
)
_OWED_REPLY_ANSWERED = (
    update(_part)
    .where(
        _part.c.request_id == bindparam("b_request_id"),
        _part.c.institution_id == bindparam("b_unit"),
        _part.c.replies_owed > 0,
    )
    .values(replies_owed=_part.c.replies_owed - 1)
)
_EXCLUDE_CONCLUSION_RATING = (
    update(_rating)
    .where(
        _rating.c.request_id == bindparam("b_request_id"),
        _rating.c.stage == RatingStage.CONCLUSION.value,
    )
    .values(excluded=True)
)


def _closed(record: TransitionRecord) -> Step:
    params = {
        "b_request_id": record.request_id,
        "b_until": record.occurred_at,
        "b_left_by": record.event_type.value,
    }
    return (_CLOSE_HOLDS, params)


def _hold_steps(record: TransitionRecord) -> list[Step]:
    """The tier holds: a stay opens, closes, is flagged, signed for or paused."""
    event = record.event_type
    request = _request(record)
    if event in OPENS_HOLD:
        opened = {
            "request_id": record.request_id,
            "tier": record.to_tier.value,
            "institution_id": record.institution_id or record.summary.institution_id or "",
            "since": record.occurred_at,
            "opened_by": record.event_id,
            "response_breached": False,
            "resolution_breached": False,
            "paused_seconds": 0,
            "sign_for_breached": False,
        }
        return [_closed(record), (_OPEN_HOLD, opened)]
    if event in CLOSES_HOLD:
        return [_closed(record)]
    if event is EventType.SLA_BREACHED:
        flag = BREACH_FLAGS.get(str(record.details.get("clock")), "resolution_breached")
        return [(_FLAG_OPEN_HOLD[flag], request)]
    if event is EventType.SIGNED_FOR:
        if _untimed_sign_for(record):  # no deadline to sign for by: not measured in 考核
            return []
        return [(_SIGN_FOR_OPEN_HOLD, request | {"b_at": record.occurred_at})]
    if event is EventType.ACKNOWLEDGED:
        return [(_RESPOND_OPEN_HOLD, request | {"b_at": record.occurred_at})]
    if event in ENDS_PAUSE:
        paused = int(record.details.get("paused_seconds", 0) or 0)
        if paused:
            return [(_PAUSE_OPEN_HOLD, request | {"b_paused": paused})]
    return []


def _comment_row(record: TransitionRecord) -> dict[str, Any]:
    return {
        "event_id": record.event_id,
        "request_id": record.request_id,
        "author_id": record.actor.id,
        "author_role": record.actor.role.value,
        "institution_id": record.actor.institution_id or record.institution_id,
        "body": record.reason or "",
        "created_at": record.occurred_at,
    }


def _rating_row(record: TransitionRecord) -> dict[str, Any]:
    value = record.details.get("rating")
    if not isinstance(value, int) or not 1 <= value <= 5:
        raise ValueError(
            f"rated event {record.event_id}: details.rating must be 1-5, got {value!r}"
        )
    return {
        "event_id": record.event_id,
        "request_id": record.request_id,
        "rating": value,
        "comment": record.reason,
        "rated_by": record.actor.id,
        "institution_id": record.institution_id,
        "tier": record.to_tier.value,
        "created_at": record.occurred_at,
        "excluded": False,
        # 受理评价 says so; a conclusion's rating carries no stage (recorded before intakes)
        "stage": str(record.details.get("stage") or RatingStage.CONCLUSION.value),
    }
