"""Bodies the API accepts and returns (besides the shared schemas it reuses)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator

from schemas.domain import Category, Grade, State, Tier
from schemas.lifecycle import (
    ActionFields,
    ActionKind,
    RequestSummary,
    RequestView,
    TimelineEntry,
)
from schemas.request import AttachmentOut
from tierflow.db.models import TierHoldBase


class ReasonOut(BaseModel):
    """An error's words as a catalog message: ``message`` % ``values`` is the English reason
    (a 422 item's ``msg`` may be pydantic's own words for it). A value may itself be a
    reason, read in the same language."""

    message: str = Field(
        description="The msgid, e.g. 'cannot %(kind)s: no appeal waits for a decision'"
    )
    values: dict[str, str | int | ReasonOut]


class FieldErrorOut(BaseModel):
    """One field's error in a 422 answer: FastAPI's item, the field named as a dotted path,
    and, when tierflow words it, its reason as a catalog message."""

    loc: list[str | int] = Field(description="Where: body, query, path or header, then keys")
    msg: str = Field(description="Why, in English")
    type: str = Field(description="The kind of error, e.g. missing, enum, value_error")
    field: str = Field(description="The field, dotted, e.g. enterprise.uscc")
    reason: ReasonOut | None = None
    text: str | None = Field(
        default=None,
        description="Why, in the caller's language (Accept-Language; Chinese by default), "
        "where the route words it so (SLA policies, what-if)",
    )


class ErrorOut(BaseModel):
    """An error: ``detail`` says what was wrong and why, in English; ``reason``, when the
    server worded it as a catalog message (a refused action, a request not found), is the same
    for a client that shows it in another language."""

    detail: str
    reason: ReasonOut | None = None
    text: str | None = Field(
        default=None,
        description="The reason in the caller's language (Accept-Language; Chinese by "
        "default), where the server worded it as a catalog message (``reason``)",
    )


class SubmitAccepted(BaseModel):
    request_id: str
    workflow_id: str
    status: str = Field(
        description="accepted: this submit started the request's workflow; duplicate: the "
        "same request (id and content) was submitted before, and this one changed nothing"
    )
    tier: Tier | None = Field(
        default=None,
        description="Where it was routed, when the submit asked to wait for it (wait=true) and "
        "the request was routed in time; null otherwise",
    )
    institution_id: str | None = Field(default=None, description="The unit it was routed to")
    in_scope: bool | None = Field(
        default=None,
        description="Whether the caller may read it now: false for a walk-in registered for an "
        "enterprise another unit serves (GET answers 404 to the caller)",
    )


class ActionBody(ActionFields):
    """The fields a caseworker sends with an action; the actor comes from the token. A field
    it does not have is refused: a misspelt optional field (``stage``) would be lost."""

    model_config = ConfigDict(extra="forbid")


class RequestItem(RequestSummary):
    """A request in a queue: its summary (``schemas.lifecycle``) and its nearest deadline."""

    next_due_at: datetime | None = Field(
        description="The nearest running SLA deadline; for a request the caller's unit "
        "co-handles (协办), its open part's deadline"
    )
    co_handled: bool = Field(
        default=False,
        description="协办: another unit holds the request and the caller's unit has a part of "
        "it (the reason it is in a caseworker's queue)",
    )


class RequestRow(RequestItem):
    """One request in full, for callers allowed to see it; its contact in full only for those
    who reach the enterprise, masked for the others (``api.contact``)."""

    contact_name: str | None
    contact_phone: str | None
    contact_email: str | None
    contact_masked: bool = Field(
        default=False,
        description="The contact is partly hidden (王*, 139****5678, w***@example.com): the "
        "caller oversees the request but does not reach the enterprise. In full for the "
        "holding unit's caseworkers and lead, a co-handling unit's caseworkers (open part), "
        "the dispatch and follow-up desks, and system clients granted contact",
    )
    description: str
    channel: str
    attachments: list[AttachmentOut] = Field(
        default_factory=list,
        description="The documents the enterprise attached to its submission (their content "
        "lives where their links point); empty for a request projected before they were kept",
    )

    @field_validator("attachments", mode="before")
    @classmethod
    def _none_is_empty(cls, value: object) -> object:
        return [] if value is None else value


class QueuePage(BaseModel):
    total: int = Field(description="Matching requests; a lower bound when total_exact is false")
    total_exact: bool = Field(
        default=True,
        description="False when counting stopped at the count limit (1,000 matches): "
        "the listing goes on, only the count is cut short",
    )
    limit: int
    offset: int
    items: list[RequestItem]


class ViewMissing(StrEnum):
    """Why ``GET /requests/{id}`` answers from the read model alone."""

    FORGOTTEN = "forgotten"
    UNAVAILABLE = "unavailable"
    NO_ANSWER = "no_answer"


class RequestDetail(BaseModel):
    """The read model row and the workflow's live view (either may be missing briefly)."""

    request_id: str
    request: RequestRow | None
    view: RequestView | None = Field(
        description="The workflow's live view; null while a submission is admitted, and when "
        "it is missing (view_missing says why)"
    )
    allowed_actions: list[ActionKind] = Field(
        description="Actions the state allows and the caller may take: their role, their "
        "scope (the holding unit, or their unit's co-handling part) and, to transfer, their "
        "handling"
    )
    received_first: bool = Field(
        default=False,
        description="首问负责: the caller's unit received the request first (registered it or "
        "was the first sent it) and follows it while another unit holds it: read only, no "
        "actions, the contact masked",
    )
    timeline: list[TimelineEntry] = Field(
        default_factory=list,
        description="The full audit timeline from the read model (the view keeps the newest)",
    )
    holds: list[TierHoldBase] = Field(
        default_factory=list,
        description="When the view is missing (view_missing): the request's stays at each "
        "unit (tier holds), oldest first, from the read model: who held it, from when to when, "
        "and whether its deadlines were kept (the view has its own holds)",
    )
    grade_declared: Grade | None = Field(
        default=None, description="The specialized-new grade the submitter declared"
    )
    grade_applied: Grade | None = Field(
        default=None,
        description="The grade the SLA targets were scaled by: the one the grade registry held "
        "on the submission day (None: unknown yet, or pinned before the registry)",
    )
    view_missing: ViewMissing | None = Field(
        default=None,
        description="Why a request the read model holds comes without the workflow's view "
        "(the row and the full audit timeline still do; no action is offered): forgotten "
        "(Temporal deleted the ended workflow once the namespace's retention passed), "
        "unavailable (Temporal cannot answer now: retry later) or no_answer (the workflow "
        "did not answer its view)",
    )


class CountRow(BaseModel):
    tier: Tier
    state: State
    category: Category
    count: int


class SummaryReport(BaseModel):
    total: int
    by_tier: dict[str, int]
    by_state: dict[str, int]
    by_category: dict[str, int]
    rows: list[CountRow]


class SlaRow(BaseModel):
    institution_id: str
    tier: Tier
    holds: int
    response_breached: int
    resolution_breached: int
    attainment: float = Field(
        description="Share of holds with no breach so far (0..1): a stay still open, or moved "
        "on before a deadline, counts as kept; 考核's rates (reports/assessment) measure only "
        "stays that answered, concluded or missed a deadline"
    )


class SlaReport(BaseModel):
    since: datetime
    until: datetime
    rows: list[SlaRow]


class EscalationRow(BaseModel):
    from_tier: Tier | None
    to_tier: Tier
    cause: str = Field(description="sla_breach or manual")
    reason_code: str = Field(description="EscalationReason: sla_breach, beyond_remit, ...")
    count: int


class EscalationReport(BaseModel):
    since: datetime
    until: datetime
    total: int
    rows: list[EscalationRow]


class HandlerLoad(BaseModel):
    """One handler's open requests in a unit (handler_id None: nobody handles them yet)."""

    handler_id: str | None
    open: int
    breached: int


class Workload(BaseModel):
    """Open requests of one institution per handler (承办人), most loaded first."""

    institution_id: str
    handlers: list[HandlerLoad]


class AssessmentRow(BaseModel):
    """考核 figures of one institution or group; a rate with nothing to measure is null."""

    group: str = Field(
        description="The institution id, the tier, or the governing division code; "
        "'unknown' for institutions missing from the directory"
    )
    institution_id: str | None = Field(default=None, description="Set when by=institution")
    tier: Tier | None = None
    holds: int = Field(description="Stays at the institution that began in the period")
    sign_for_on_time_rate: float | None = Field(description="签收 in time, of those due")
    response_rate: float | None = Field(description="响应率: holds answered in time")
    conclusion_on_time_rate: float | None = Field(description="按时办结率, of those concluded")
    follow_up_rate: float | None = Field(
        description="回访率: conclusions whose enterprise a follow-up reached, of all conclusions"
    )
    resolution_rate: float | None = Field(description="解决率: follow-ups that found it solved")
    satisfaction_rate: float | None = Field(description="满意率: ratings 3-5 (appeals upheld out)")
    rectification_on_time_rate: float | None = Field(
        description="整改 concluded in time, of those concluded"
    )
    intake_satisfaction_rate: float | None = Field(
        description="受理满意率: intake ratings (受理评价) 3-5, of all intake ratings"
    )
    ratings: int = Field(description="Conclusion ratings (办结评价), upheld appeals left out")
    intake_ratings: int = Field(description="受理评价数: ratings of the intake")
    returns: int
    extensions: int
    reminders: int
    supervisions: int
    reprimands: int
    redos: int
    rectifications: int


class AssessmentReport(BaseModel):
    since: datetime
    until: datetime
    by: str = Field(default="institution", description="institution, tier, province or city")
    rows: list[AssessmentRow]
