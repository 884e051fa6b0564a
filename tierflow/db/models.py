"""The read model and audit trail: SQLModel tables written only by activities.

Each entity follows the family ``XBase`` (shared fields), ``X(table=True)``, ``XPublic``
(what the API returns). Enumerations are stored as short strings (``EnumText``), not native
enums, so a new state or category needs no schema migration. There are no foreign keys on
purpose: the projection accepts records in any order, and audit rows outlive request rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Index, String, Text, and_, or_, text
from sqlmodel import Field, SQLModel, col

from schemas.domain import Category, Grade, Priority, Role, SlaStatus, State, Tier
from schemas.edge import CONTACT_NAME_BYTES, NAME_BYTES, SHORT_BYTES, SUBJECT_BYTES
from schemas.lifecycle import Awaiting, EventType, RatingStage, known_awaiting
from tierflow.db.types import EnumText, UtcDateTime


# --------------------------------------------------------------------------- service_request
class ServiceRequestBase(SQLModel):
    request_id: str = Field(primary_key=True, sa_type=String(64))
    state: State = Field(sa_type=EnumText(State))
    tier: Tier = Field(sa_type=EnumText(Tier))
    institution_id: str | None = Field(default=None, sa_type=String(64))
    category: Category = Field(sa_type=EnumText(Category))
    priority: Priority = Field(sa_type=EnumText(Priority))
    grade: Grade = Field(sa_type=EnumText(Grade))
    division_code: str = Field(sa_type=String(6))
    enterprise_uscc: str = Field(sa_type=String(18), index=True)
    # The submission's texts take the edges' byte limits as their lengths: a character is at
    # least a byte, so whatever the API or Kafka accepts fits (PostgreSQL counts characters).
    enterprise_name: str = Field(sa_type=String(NAME_BYTES))
    contact_name: str | None = Field(default=None, sa_type=String(CONTACT_NAME_BYTES))
    contact_phone: str | None = Field(default=None, sa_type=String(SHORT_BYTES))
    contact_email: str | None = Field(default=None, sa_type=String(NAME_BYTES))
    subject: str = Field(sa_type=String(SUBJECT_BYTES))
    description: str = Field(default="", sa_type=Text)
    channel: str = Field(default="portal", sa_type=String(SHORT_BYTES))
    # the submission's attachments (schemas.request.Attachment as JSON); None: projected before
    # they were kept (migration 0028)
    attachments: list[dict[str, Any]] | None = Field(default=None, sa_type=JSON)
    policy_version: str = Field(sa_type=String(64))
    sla_status: SlaStatus = Field(sa_type=EnumText(SlaStatus))
    response_due_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    resolution_due_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    submitted_at: datetime = Field(sa_type=UtcDateTime)
    updated_at: datetime = Field(sa_type=UtcDateTime)
    resolved_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    closed_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    escalation_count: int = 0
    needs_operator: bool = False  # a step failed permanently; an operator must act
    sign_for_due_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    signed_for_at: datetime | None = Field(default=None, sa_type=UtcDateTime)  # 签收
    handler_id: str | None = Field(default=None, sa_type=String(100))  # 承办人
    # whose turn it is besides the unit, as " code code " (``awaiting_text``): queues filter it
    awaiting: str | None = Field(default=None, sa_type=String(200))
    follow_up_due_at: datetime | None = Field(default=None, sa_type=UtcDateTime)  # 待回访
    paused_until: datetime | None = Field(default=None, sa_type=UtcDateTime)  # 挂起, 待企业补充
    rating: int | None = None  # 好差评 of the conclusion, once given (差评: 1 or 2)
    # the division its supervisors and desks oversee it from when not the enterprise's: the
    # holding unit's, outside which the enterprise lies (None: ``division_code``)
    scope_division: str | None = Field(default=None, sa_type=String(6))
    # the rated unit while it owes a step of a bad rating's 整改 (its scope wherever the
    # request is: ``api.auth.scope_conditions``); None when no unit owes one
    rectifying_unit: str | None = Field(default=None, sa_type=String(64))
    last_sequence: int = 0


def awaiting_text(codes: Sequence[Awaiting]) -> str | None:
    """The ``awaiting`` column's text: each code between spaces, so that a queue finds one
    with ``LIKE '% code %'`` on any database; None for none."""
    return f" {' '.join(codes)} " if codes else None


def awaiting_codes(text: str | None) -> list[Awaiting]:
    """The codes the ``awaiting`` column holds that this release knows: a newer release's
    workers, during a rolling upgrade, may write one it does not (left out, not an error)."""
    return [Awaiting(code) for code in known_awaiting((text or "").split())]


# Rows not ended (``schemas.domain.TERMINAL_STATES``), as the queues filter them: a partial
# index's predicate, which a query's ``state NOT IN (...)`` must match to use it.
OPEN_ROWS = "state NOT IN ('closed', 'rejected', 'withdrawn')"


class ServiceRequest(ServiceRequestBase, table=True):
    """One row per request: the latest summary the workflow reported."""

    # 首问负责: the unit whose caseworker or lead registered it at its window (None: online, a
    # system, a desk) and the unit it was first sent to (api.auth.received_by)
    registered_by: str | None = Field(default=None, sa_type=String(64))
    first_holder: str | None = Field(default=None, sa_type=String(64))
    # SHA-256 of what was submitted (RequestInput.content_digest): another request reusing the
    # id is told from a copy of the submit once Temporal forgot the workflow (tierflow.submission;
    # None: projected before migration 0035)
    submission_digest: str | None = Field(default=None, sa_type=String(64))

    __tablename__ = "service_request"
    __table_args__ = (
        Index("ix_service_request_queue", "institution_id", "state", "resolution_due_at"),
        Index("ix_service_request_tier_state", "tier", "state"),
        Index("ix_service_request_category_submitted", "category", "submitted_at"),
        Index("ix_service_request_handler", "institution_id", "handler_id"),
        Index("ix_service_request_registered_by", "registered_by"),
        # the few rows a worklist looks for (closed ones too): what waits for someone
        Index(
            "ix_service_request_awaiting",
            "awaiting",
            postgresql_where=text("awaiting IS NOT NULL"),
            sqlite_where=text("awaiting IS NOT NULL"),
        ),
        Index("ix_service_request_first_holder", "first_holder"),
        # the queues' and gauges' open requests, a small part of a year's rows
        Index(
            "ix_service_request_open_unit",
            "institution_id",
            postgresql_where=text(OPEN_ROWS),
            sqlite_where=text(OPEN_ROWS),
        ),
        Index(
            "ix_service_request_open_region",
            "division_code",
            "tier",
            postgresql_where=text(OPEN_ROWS),
            sqlite_where=text(OPEN_ROWS),
        ),
        Index(
            "ix_service_request_scope_division",
            "scope_division",
            "tier",
            postgresql_where=text("scope_division IS NOT NULL"),
            sqlite_where=text("scope_division IS NOT NULL"),
        ),
        Index(
            "ix_service_request_rectifying_unit",
            "rectifying_unit",
            postgresql_where=text("rectifying_unit IS NOT NULL"),
            sqlite_where=text("rectifying_unit IS NOT NULL"),
        ),
        Index("ix_service_request_submitted", "submitted_at", "request_id"),  # by date
        Index("ix_service_request_updated", "updated_at", "request_id"),  # what changed since
        Index(
            "ix_service_request_needs_operator",
            "needs_operator",
            postgresql_where=text("needs_operator"),
            sqlite_where=text("needs_operator"),
        ),
    )


def overseen_from(prefix: str) -> Any:
    """The rows a region (a division-code prefix) oversees: its enterprises' requests, but
    those sent to a unit outside their division, which that unit's region oversees
    (``scope_division``, ``schemas.permissions.in_scope``)."""
    scope = col(ServiceRequest.scope_division)
    return or_(
        and_(scope.is_(None), col(ServiceRequest.division_code).startswith(prefix)),
        scope.startswith(prefix),
    )


class ServiceRequestPublic(ServiceRequestBase):
    """A request as the API shows it (contact fields are PII: filter before exposing)."""


# --------------------------------------------------------------------------- transition
class TransitionBase(SQLModel):
    event_id: str = Field(primary_key=True, sa_type=String(200))
    request_id: str = Field(sa_type=String(64))
    sequence: int
    event_type: EventType = Field(sa_type=EnumText(EventType))
    occurred_at: datetime = Field(sa_type=UtcDateTime)
    actor_id: str = Field(sa_type=String(100))
    actor_role: Role = Field(sa_type=EnumText(Role))
    actor_institution_id: str | None = Field(default=None, sa_type=String(64))
    # the system client that acted for the person named above (None: they acted themselves)
    actor_via: str | None = Field(default=None, sa_type=String(100))
    # the scope the actor's permissions were judged by: a supervisor's tier and division, a
    # system client's grants (None on rows recorded before they were kept)
    actor_tier: Tier | None = Field(default=None, sa_type=EnumText(Tier))
    actor_division_code: str | None = Field(default=None, sa_type=String(6))
    actor_grants: list[str] | None = Field(default=None, sa_type=JSON)
    action_id: str | None = Field(default=None, sa_type=String(200))
    from_state: State | None = Field(default=None, sa_type=EnumText(State))
    to_state: State = Field(sa_type=EnumText(State))
    from_tier: Tier | None = Field(default=None, sa_type=EnumText(Tier))
    to_tier: Tier = Field(sa_type=EnumText(Tier))
    institution_id: str | None = Field(default=None, sa_type=String(64))
    reason: str | None = Field(default=None, sa_type=Text)
    policy_version: str = Field(sa_type=String(64))
    details: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)


class Transition(TransitionBase, table=True):
    """The audit trail: one immutable row per lifecycle event, keyed by its event id."""

    __tablename__ = "transition"
    __table_args__ = (
        Index("ix_transition_request_sequence", "request_id", "sequence"),
        Index("ix_transition_type_occurred", "event_type", "occurred_at"),  # 考核 by period
    )
    recorded_at: datetime = Field(sa_type=UtcDateTime)


class TransitionPublic(TransitionBase):
    recorded_at: datetime


# --------------------------------------------------------------------------- tier_hold
class TierHoldBase(SQLModel):
    request_id: str = Field(sa_type=String(64))
    tier: Tier = Field(sa_type=EnumText(Tier))
    institution_id: str = Field(sa_type=String(64))
    since: datetime = Field(sa_type=UtcDateTime)
    until: datetime | None = Field(default=None, sa_type=UtcDateTime)
    response_breached: bool = False
    resolution_breached: bool = False
    paused_seconds: int = 0
    left_by: str | None = Field(default=None, sa_type=String(32))
    signed_for_at: datetime | None = Field(default=None, sa_type=UtcDateTime)  # 签收
    sign_for_breached: bool = False
    responded_at: datetime | None = Field(default=None, sa_type=UtcDateTime)  # 响应 (受理)


class TierHoldRow(TierHoldBase, table=True):
    """A stay of a request at one institution: who held it, how long, SLA kept or not."""

    __tablename__ = "tier_hold"
    __table_args__ = (
        Index("ix_tier_hold_request_since", "request_id", "since"),
        Index("ix_tier_hold_since", "since"),  # 考核 by period
    )
    id: int | None = Field(default=None, primary_key=True)
    opened_by: str = Field(sa_type=String(200), unique=True)  # event id that opened it


class TierHoldPublic(TierHoldBase):
    id: int


# --------------------------------------------------------------------------- request_part
class RequestPart(SQLModel, table=True):
    """协办: a co-handling unit's part of a request; its unit sees the request in its scope
    while the part is open or a supervision of its part waits for its reply."""

    __tablename__ = "request_part"
    __table_args__ = (Index("ix_request_part_institution", "institution_id", "request_id"),)
    id: int | None = Field(default=None, primary_key=True)
    request_id: str = Field(sa_type=String(64))
    institution_id: str = Field(sa_type=String(64))
    opened_by: str = Field(sa_type=String(200), unique=True)  # event id that added it
    added_at: datetime = Field(sa_type=UtcDateTime)
    due_at: datetime = Field(sa_type=UtcDateTime)
    closed_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    closed_by: str | None = Field(default=None, sa_type=String(32))  # concluded or waived
    # 督办 of this unit for its late part, waiting for its reply: the unit keeps the request in
    # scope to write it, after its part is closed too
    replies_owed: int = Field(default=0, sa_column_kwargs={"server_default": "0"})


# --------------------------------------------------------------------------- comment, rating
class CommentBase(SQLModel):
    request_id: str = Field(sa_type=String(64), index=True)
    author_id: str = Field(sa_type=String(100))
    author_role: Role = Field(sa_type=EnumText(Role))
    institution_id: str | None = Field(default=None, sa_type=String(64))
    body: str = Field(sa_type=Text)
    created_at: datetime = Field(sa_type=UtcDateTime)


class Comment(CommentBase, table=True):
    __tablename__ = "comment"
    id: int | None = Field(default=None, primary_key=True)
    event_id: str = Field(sa_type=String(200), unique=True)


class CommentPublic(CommentBase):
    id: int


class RatingBase(SQLModel):
    request_id: str = Field(sa_type=String(64), index=True)
    rating: int
    comment: str | None = Field(default=None, sa_type=Text)
    rated_by: str = Field(sa_type=String(100))
    institution_id: str | None = Field(default=None, sa_type=String(64))
    tier: Tier = Field(sa_type=EnumText(Tier))
    created_at: datetime = Field(sa_type=UtcDateTime)
    # 申诉 upheld: the rating no longer counts in satisfaction statistics (kept for the record)
    excluded: bool = False
    # what it rates: "conclusion" (办结, the satisfaction rate's) or "intake" (受理评价)
    stage: RatingStage = Field(default=RatingStage.CONCLUSION, sa_type=EnumText(RatingStage))


class Rating(RatingBase, table=True):
    """The enterprise's satisfaction rating of the institution that resolved its request."""

    __tablename__ = "rating"
    __table_args__ = (Index("ix_rating_created_at", "created_at"),)  # 考核 by period
    id: int | None = Field(default=None, primary_key=True)
    event_id: str = Field(sa_type=String(200), unique=True)


class RatingPublic(RatingBase):
    id: int


# --------------------------------------------------------------------------- institution
class InstitutionBase(SQLModel):
    id: str = Field(primary_key=True, sa_type=String(64))
    name: str = Field(sa_type=String(200))
    tier: Tier = Field(sa_type=EnumText(Tier))
    division_code: str = Field(sa_type=String(6))
    categories: list[str] = Field(default_factory=list, sa_type=JSON)  # empty: all categories
    contact: str | None = Field(default=None, sa_type=String(200))

    def serves(self, category: Category) -> bool:
        """Whether it takes requests of ``category`` (as ``DirectoryEntry.serves``)."""
        return not self.categories or category.value in self.categories


class InstitutionRow(InstitutionBase, table=True):
    """The directory as stored for joins and reports (``tierflow db seed`` fills it)."""

    __tablename__ = "institution"
    __table_args__ = (Index("ix_institution_tier_division", "tier", "division_code"),)


class InstitutionCreate(InstitutionBase):
    pass


class InstitutionPublic(InstitutionBase):
    pass


# --------------------------------------------------------------------------- sla_policy_version
class SlaPolicyVersion(SQLModel, table=True):
    """Every SLA policy version a worker loaded or an admin added as a candidate, kept so old
    deadlines stay explainable and a candidate can be promoted (``sla_policy_release``)."""

    __tablename__ = "sla_policy_version"
    version: str = Field(primary_key=True, sa_type=String(64))
    loaded_at: datetime = Field(sa_type=UtcDateTime)
    content: str = Field(sa_type=Text)
    # who added it (a user id, or cli:<os user>); None: a worker or ``db seed`` recorded it
    added_by: str | None = Field(default=None, sa_type=String(100))


# --------------------------------------------------------------------------- sla_policy_release
class SlaPolicyRelease(SQLModel, table=True):
    """A promotion: policy ``version`` is the one new requests pin from ``in_force_from`` on
    (until a later release), with who promoted it and the what-if run that justified it. Rows
    are only added, never changed: they are the audit record of policy changes."""

    __tablename__ = "sla_policy_release"
    __table_args__ = (Index("ix_sla_policy_release_in_force_from", "in_force_from"),)
    id: int | None = Field(default=None, primary_key=True)
    version: str = Field(sa_type=String(64))  # a sla_policy_version.version
    in_force_from: datetime = Field(sa_type=UtcDateTime)
    promoted_by: str = Field(sa_type=String(100))  # a user id, or cli:<os user>
    promoted_at: datetime = Field(sa_type=UtcDateTime)
    whatif_run_id: str | None = Field(default=None, sa_type=String(64))  # a whatif_run.run_id
    note: str | None = Field(default=None, sa_type=Text)


# --------------------------------------------------------------------------- business_calendar
class BusinessCalendar(SQLModel, table=True):
    """Every business calendar's days off by version (``tierflow.calendar_store``): the ones
    workers pin and the ones an operator published to running requests, so a what-if
    replays a request on the days it counted, whichever ``holidays`` data is installed."""

    __tablename__ = "business_calendar"
    version: str = Field(primary_key=True, sa_type=String(100))
    recorded_at: datetime = Field(sa_type=UtcDateTime)
    recorded_by: str = Field(sa_type=String(100))  # a user id, cli:<os user>, or worker
    content: str = Field(sa_type=Text)  # the CalendarData JSON


# --------------------------------------------------------------------------- directory_version
class DirectoryVersion(SQLModel, table=True):
    """Every institution directory version imported (CLI or console), kept whole so any
    version stays retrievable (``tierflow.directory_store.load_version``)."""

    __tablename__ = "directory_version"
    __table_args__ = (Index("ix_directory_version_imported_at", "imported_at"),)
    version: str = Field(primary_key=True, sa_type=String(64))
    imported_at: datetime = Field(sa_type=UtcDateTime)
    imported_by: str = Field(sa_type=String(100))  # a user id, or cli:<os user>
    source: str = Field(sa_type=String(200))  # the CSV's file name, or what the console did
    institutions: int  # named institutions (generated placeholders not counted)
    content: str = Field(sa_type=Text)  # the DirectoryFile JSON, as written to the file


# --------------------------------------------------------------------------- whatif_run
class WhatIfRun(SQLModel, table=True):
    """One saved what-if run: who ran which candidate policy over which requests, and the report
    (``whatif.report.Report`` as JSON)."""

    __tablename__ = "whatif_run"
    __table_args__ = (Index("ix_whatif_run_created_at", "created_at"),)
    run_id: str = Field(primary_key=True, sa_type=String(64))
    created_at: datetime = Field(sa_type=UtcDateTime)
    run_by: str = Field(sa_type=String(100))  # a user id, or cli:<os user>
    candidate_version: str = Field(sa_type=String(64))
    candidate_content: str = Field(sa_type=Text)  # the candidate policy file as given
    # the candidate calendar (JSON) that replaced the policy's own, if the run tried one
    candidate_calendar: str | None = Field(default=None, sa_type=Text)
    since: datetime | None = Field(default=None, sa_type=UtcDateTime)
    until: datetime | None = Field(default=None, sa_type=UtcDateTime)
    scope: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    requests: int
    changed: int
    report: str = Field(sa_type=Text)


# --------------------------------------------------------------------------- contact_erasure
class ErasureBasis(StrEnum):
    """Why a request's contact was erased: its retention ran out after the request ended, or
    the enterprise asked (个人信息删除请求)."""

    RETENTION = "retention"
    REQUEST = "request"


class ContactErasure(SQLModel, table=True):
    """A request whose contact person (``service_request.contact_*``) was erased (PIPL): when,
    by whom and why, for an auditor; the erased values themselves are kept nowhere."""

    __tablename__ = "contact_erasure"
    request_id: str = Field(primary_key=True, sa_type=String(64))
    erased_at: datetime = Field(sa_type=UtcDateTime)
    erased_by: str = Field(sa_type=String(100))  # a user id, or cli:<os user>
    basis: ErasureBasis = Field(sa_type=EnumText(ErasureBasis))
