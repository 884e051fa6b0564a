"""Workflow messages: actions, their results, transition records and snapshots."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Protocol, get_args

from pydantic import (
    BaseModel,
    BeforeValidator,
    Field,
    ModelWrapValidatorHandler,
    model_validator,
)

from schemas.domain import Category, ClockKind, Grade, Priority, Role, SlaStatus, State, Tier
from schemas.edge import (
    ACTION_ID_PATTERN,
    ACTION_TEXT_BYTES,
    INSTITUTION_ID_PATTERN,
    USER_ID_PATTERN,
    limit,
    replaying,
    stored,
    text_rule,
)
from schemas.enterprise import DivisionCode
from schemas.messages import N_, Said, TranslatableError
from schemas.policy import CalendarData, PinnedPolicy, PolicyRequest
from schemas.request import Actor, Attachment, AttachmentOut, RequestInput


class ActionKind(StrEnum):
    """Every action a caseworker, the enterprise or a system can take on a request."""

    SIGN_FOR = "sign_for"  # 签收: the holding unit takes the request it was dispatched
    ACKNOWLEDGE = "acknowledge"
    START = "start"
    REQUEST_INFO = "request_info"
    PROVIDE_INFO = "provide_info"
    RESOLVE = "resolve"
    REOPEN = "reopen"
    ESCALATE = "escalate"
    HAND_BACK = "hand_back"
    REASSIGN = "reassign"
    REJECT = "reject"
    COMMENT = "comment"
    WITHDRAW = "withdraw"
    RATE = "rate"
    EXTERNAL_STATUS = "external_status"
    RETURN = "return"  # 退单: the holder says the request is not its business
    APPROVE_RETURN = "approve_return"  # the dispatcher re-routes it (institution_id)
    REFUSE_RETURN = "refuse_return"  # ... or sends it back to the unit
    REQUEST_EXTENSION = "request_extension"  # 延期申请: more working days to resolve
    APPROVE_EXTENSION = "approve_extension"
    REFUSE_EXTENSION = "refuse_extension"
    SUSPEND = "suspend"  # 挂起申请: stop the clocks for a third party or a procedure
    APPROVE_SUSPENSION = "approve_suspension"
    REFUSE_SUSPENSION = "refuse_suspension"
    RESUME = "resume"  # end a suspension before its days are up
    CLAIM = "claim"  # 承办: a caseworker of the holding unit takes it as its handler
    ASSIGN_HANDLER = "assign_handler"  # the unit's lead names the handler (handler_id)
    TRANSFER = "transfer"  # the handler hands it to a colleague (handler_id)
    ADD_CO_HANDLER = "add_co_handler"  # 协办: the lead unit adds a unit for a part (institution_id)
    SIGN_FOR_PART = "sign_for_part"  # the co-handler takes its part
    CONCLUDE_PART = "conclude_part"  # ... and concludes it
    WAIVE_PART = "waive_part"  # a supervisor lets the lead conclude without that part
    SUPERVISE = "supervise"  # 督办 by hand: a supervisor asks the unit for a written reply
    REPLY_SUPERVISION = "reply_supervision"  # the unit's written reply to a supervision
    FOLLOW_UP = "follow_up"  # 回访: the follow-up desk records what the enterprise said
    CONCLUDE_RECTIFICATION = "conclude_rectification"  # 整改 of a bad rating, done
    APPEAL_RATING = "appeal_rating"  # 申诉: the unit finds the rating mistaken or malicious
    UPHOLD_APPEAL = "uphold_appeal"  # a supervisor agrees: the rating no longer counts
    REJECT_APPEAL = "reject_appeal"
    OPERATOR_RETRY = "operator_retry"  # admin: redo the step that failed permanently
    OPERATOR_RESOLVE = "operator_resolve"  # admin: settle it without that step


# What an operator (admin) does for a request whose step failed permanently.
OPERATOR_ACTIONS = frozenset({ActionKind.OPERATOR_RETRY, ActionKind.OPERATOR_RESOLVE})

# Actions that need a non-empty ``text`` (the reason, question, answer or resolution).
TEXT_REQUIRED = {
    ActionKind.REQUEST_INFO: N_("the question for the enterprise"),
    ActionKind.PROVIDE_INFO: N_("the information provided"),
    ActionKind.RESOLVE: N_("the resolution"),
    ActionKind.REOPEN: N_("the reason for reopening"),
    ActionKind.ESCALATE: N_("the reason for escalating"),
    ActionKind.HAND_BACK: N_("the reason for handing back"),
    ActionKind.REASSIGN: N_("the reason for reassigning"),
    ActionKind.REJECT: N_("the reason for rejecting"),
    ActionKind.COMMENT: N_("the comment"),
    ActionKind.EXTERNAL_STATUS: N_("the status note"),
    ActionKind.OPERATOR_RESOLVE: N_("what the operator did instead of the failed step"),
    ActionKind.RETURN: N_("why the request is not this unit's business"),
    ActionKind.REFUSE_RETURN: N_("why the unit keeps the request"),
    ActionKind.REQUEST_EXTENSION: N_("why more time is needed"),
    ActionKind.REFUSE_EXTENSION: N_("why no more time is given"),
    ActionKind.SUSPEND: N_("what the request waits for"),
    ActionKind.REFUSE_SUSPENSION: N_("why handling goes on"),
    ActionKind.ADD_CO_HANDLER: N_("the part the co-handling unit takes on"),
    ActionKind.CONCLUDE_PART: N_("what the co-handling unit did"),
    ActionKind.WAIVE_PART: N_("why the request can conclude without that part"),
    ActionKind.SUPERVISE: N_("what the unit must answer for"),
    ActionKind.REPLY_SUPERVISION: N_("the unit's written reply"),
    ActionKind.CONCLUDE_RECTIFICATION: N_("what the unit changed"),
    ActionKind.APPEAL_RATING: N_("why the rating is mistaken or malicious"),
    ActionKind.UPHOLD_APPEAL: N_("why the rating no longer counts"),
    ActionKind.REJECT_APPEAL: N_("why the rating stands"),
}

# A withdrawal is the enterprise's own. Staff who record one it asked for by phone or at the
# window (撤单, the dispatch desk) say how and when it asked: the audit trail shows its word.
RECORDED_WITHDRAWAL = N_("how and when the enterprise asked to withdraw")
SELF_SERVICE_ROLES = frozenset({Role.ENTERPRISE, Role.SYSTEM})  # acting in their own name

# A reason's code, with the codes it may be (``missing_field`` fills them in).
WHY_CODE = N_("why, as one of %(choices)s")
# Actions that need other fields: (field, what it holds) each.
FIELD_REQUIRED: dict[ActionKind, tuple[tuple[str, str], ...]] = {
    ActionKind.REASSIGN: (("institution_id", N_("the institution that takes the request over")),),
    ActionKind.APPROVE_RETURN: (("institution_id", N_("the institution the request goes to")),),
    ActionKind.RATE: (("rating", N_("1-5")),),
    ActionKind.RETURN: (("return_reason", WHY_CODE),),
    ActionKind.REQUEST_EXTENSION: (("days", N_("the working days asked for")),),
    ActionKind.SUSPEND: (
        ("suspend_reason", WHY_CODE),
        ("days", N_("working days at most")),
    ),
    ActionKind.ASSIGN_HANDLER: (("handler_id", N_("the caseworker who handles it")),),
    ActionKind.TRANSFER: (("handler_id", N_("the colleague who handles it next")),),
    ActionKind.ADD_CO_HANDLER: (
        ("institution_id", N_("the co-handling institution")),
        ("days", N_("working days for its part")),
    ),
    ActionKind.WAIVE_PART: (("institution_id", N_("the co-handling institution whose part")),),
    ActionKind.FOLLOW_UP: (("outcome", N_("satisfied, unsatisfied or unreachable")),),
}


class EscalationReason(StrEnum):
    """Why a request went up a tier: reports and metrics count these, never the free text."""

    SLA_BREACH = "sla_breach"  # the engine's own: a response or resolution deadline passed
    BEYOND_REMIT = "beyond_remit"  # 超出本级职权: outside what this tier may decide
    NEEDS_COORDINATION = "needs_coordination"  # 需上级协调: several units or regions involved
    COMPLEX_CASE = "complex_case"  # 疑难复杂: needs expertise this tier lacks
    ENTERPRISE_REQUEST = "enterprise_request"  # 企业要求: the enterprise asked for it
    OTHER = "other"  # 其他: see the text


# the reasons a person escalates for (the console's choice); a breach's is the engine's own
PEOPLES_ESCALATION_REASONS = tuple(
    r for r in EscalationReason if r is not EscalationReason.SLA_BREACH
)


class ReturnReason(StrEnum):
    """Why a unit returns a request to the dispatcher (退单): reports count these codes."""

    NOT_OUR_REMIT = "not_our_remit"  # 非本单位职责
    OUTSIDE_REGION = "outside_region"  # 非本辖区
    DUPLICATE = "duplicate"  # 重复工单
    OTHER = "other"  # 其他: see the text


class FollowUpOutcome(StrEnum):
    """What the follow-up desk heard (回访结果)."""

    SATISFIED = "satisfied"  # the matter is solved: the request closes
    UNSATISFIED = "unsatisfied"  # not solved, the unit's doing: 重办 (redo) at the unit
    UNREACHABLE = "unreachable"  # nobody answered; after the policy's attempts it closes


class RatingStage(StrEnum):
    """What a 好差评 rating judges: the intake (受理) or the conclusion (办结)."""

    INTAKE = "intake"  # 受理评价: optional, once, while the request is open
    CONCLUSION = "conclusion"  # 办结评价: after the conclusion; the satisfaction rate's


class SuspendReason(StrEnum):
    """Why handling stops for a while (挂起), beside waiting for the enterprise."""

    THIRD_PARTY = "third_party"  # 等待第三方意见或材料
    LEGAL_PROCEDURE = "legal_procedure"  # 法定程序（鉴定、公示、听证）
    FORCE_MAJEURE = "force_majeure"  # 不可抗力
    OTHER = "other"  # 其他: see the text


class Awaiting(StrEnum):
    """What an open request waits for from someone: the worklists of the desks, supervisors
    and units (a queue filters on it; the read model keeps it with the summary)."""

    FOLLOW_UP = "follow_up"  # 待回访: the follow-up desk calls the enterprise
    RETURN_DECISION = "return_decision"  # 退单待决定: the dispatch desk or a supervisor
    EXTENSION_DECISION = "extension_decision"  # 延期待审批: a supervisor of a tier above
    SUSPENSION_DECISION = "suspension_decision"  # 挂起待审批: a supervisor of a tier above
    APPEAL_DECISION = "appeal_decision"  # 申诉待决定: a supervisor
    SUPERVISION_REPLY = "supervision_reply"  # 督办待回复: the unit's written reply
    # 整改督办待回复: the rated unit's reply to a 督办 of its late 整改, another unit holding
    # the request (``RequestSummary.rectifying_unit``); in the 督办待回复 worklist too
    RECTIFICATION_REPLY = "rectification_reply"


# What an action carries besides its id, kind and actor: one set of rules for the API's
# action body and the Kafka command (the bounds live in schemas/edge.py).
ActionText = Annotated[str | None, limit(ACTION_TEXT_BYTES), text_rule(ACTION_TEXT_BYTES)]
ReassignTarget = Annotated[
    str | None, Field(pattern=INSTITUTION_ID_PATTERN, description="For reassign")
]
Rating = Annotated[int | None, Field(ge=1, le=5, description="For rate")]
ReasonCode = Annotated[
    EscalationReason | None,
    Field(description="For escalate: why, as a code (other if unset); text says more"),
]
ReturnCode = Annotated[
    ReturnReason | None, Field(description="For return: why, as a code; text says more")
]
WorkingDays = Annotated[
    int | None,
    Field(
        ge=1,
        le=60,
        description="Working days: asked for (request_extension, suspend), for a part "
        "(add_co_handler), for the reply (supervise)",
    ),
]
HandlerId = Annotated[
    str | None,
    Field(pattern=USER_ID_PATTERN, description="For assign_handler and transfer: a caseworker"),
]
OutcomeCode = Annotated[
    FollowUpOutcome | None, Field(description="For follow_up: what the enterprise said")
]
SuspendCode = Annotated[
    SuspendReason | None, Field(description="For suspend: why, as a code; text says more")
]
StageCode = Annotated[
    RatingStage,
    Field(
        description="For rate: conclusion (办结, the default: once the request is concluded) "
        "or intake (受理: once, while the request is open)"
    ),
]


# The actions that may carry documents, and how many one may (a submission takes up to 50)
ATTACHING_KINDS = frozenset({ActionKind.PROVIDE_INFO, ActionKind.RESOLVE})
ACTION_ATTACHMENTS_MAX = 20


class ActionFields(BaseModel):
    """What an action carries besides its id, kind and actor: the API's action body and the
    Kafka command's data take these, so both accept the same."""

    text: ActionText = None
    institution_id: ReassignTarget = None
    rating: Rating = None
    reason_code: ReasonCode = None
    return_reason: ReturnCode = None
    days: WorkingDays = None
    suspend_reason: SuspendCode = None
    handler_id: HandlerId = None
    outcome: OutcomeCode = None
    stage: StageCode = RatingStage.CONCLUSION
    attachments: list[Attachment] = Field(
        default_factory=list,
        max_length=ACTION_ATTACHMENTS_MAX,
        description="Documents sent with the step (their content lives where their links "
        "point): the enterprise's 补充材料 with provide_info, the unit's 办结 documents with "
        "resolve; no other action takes any",
    )


class ReplaysAsAccepted(BaseModel):
    """An update's input: decoded as it was accepted while the workflow replays its history
    (``schemas.edge.replaying``), judged by the rules in force when it comes."""

    @model_validator(mode="wrap")
    @classmethod
    def _replayed_as_accepted(cls, data: Any, handler: ModelWrapValidatorHandler[Any]) -> Any:
        if replaying():
            with stored():
                return handler(data)
        return handler(data)


class ActionRequest(ActionFields, ReplaysAsAccepted):
    """One action on a request; ``action_id`` makes it idempotent."""

    action_id: str = Field(
        pattern=ACTION_ID_PATTERN, description="Printable ASCII without spaces, 1-200"
    )
    kind: ActionKind
    actor: Actor

    def content_digest(self) -> str:
        """16 hex digits of SHA-256 over who asks what, without the action id: a retried
        action has the same digest, another action reusing the id (another kind, field or
        person) does not."""
        content = self.model_dump(mode="json", exclude={"action_id", "actor"})
        content["actor"] = [self.actor.id, self.actor.role.value, self.actor.via]
        if not self.attachments:  # as before actions took any: a retry keeps its digest
            del content["attachments"]
        canonical = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    def update_id(self) -> str:
        """The Temporal Update id: the action id and its digest. The server answers a repeated
        Update id with the first outcome unseen by the workflow, so only a true repeat may
        share it; another action reusing the action id reaches the workflow's validator."""
        return f"{self.action_id}#{self.content_digest()}"

    @model_validator(mode="after")
    def _check_fields(self) -> ActionRequest:
        missing = missing_field(self.kind, self)
        if missing:
            name, why = missing
            raise TranslatableError(FIELD_REASON, field=name, reason=why)
        if self.outcome is FollowUpOutcome.UNSATISFIED and not (self.text and self.text.strip()):
            why = Said(N_("required for an unsatisfied follow-up: what is not solved"))
            raise TranslatableError(FIELD_REASON, field="text", reason=why)
        if self.stage is not RatingStage.CONCLUSION and self.kind is not ActionKind.RATE:
            why = Said(N_("only for rate, not for %(kind)s"), kind=self.kind.value)
            raise TranslatableError(FIELD_REASON, field="stage", reason=why)
        if self.attachments and self.kind not in ATTACHING_KINDS:
            why = Said(
                N_("only for provide_info and resolve, not for %(kind)s"), kind=self.kind.value
            )
            raise TranslatableError(FIELD_REASON, field="attachments", reason=why)
        if self.reason_code is not None and self.reason_code not in PEOPLES_ESCALATION_REASONS:
            why = Said(N_("sla_breach is the engine's own; a person escalates for another reason"))
            raise TranslatableError(FIELD_VALUE_REASON, field="reason_code", reason=why)
        return self


def missing_field(
    kind: ActionKind, body: BaseModel, role: Role | None = None
) -> tuple[str, Said] | None:
    """The field ``body`` lacks for ``kind`` (text or another) and why, worded for the
    reader (``required for resolve: the resolution``); None when it has what it needs.

    With the actor's ``role``, also what staff add when they act for the enterprise (the
    model checks without it: a stored action was judged by the rules of its day)."""
    needed = [("text", TEXT_REQUIRED[kind])] if kind in TEXT_REQUIRED else []
    if kind is ActionKind.WITHDRAW and role is not None and role not in SELF_SERVICE_ROLES:
        needed = [("text", RECORDED_WITHDRAWAL)]
    for name, what in needed + list(FIELD_REQUIRED.get(kind, ())):
        value = getattr(body, name, None)
        if value is None or (isinstance(value, str) and not value.strip()):
            what_said = Said(what, choices=_choices(body, name))
            return name, Said(REQUIRED_FOR, kind=kind.value, what=what_said)
    return None


# Ratings as they arrive (the API and the Kafka ingress): a bad rating (差评) says why, so the
# unit's rectification (整改) has something to act on, and staff recording a rating for the
# enterprise say how it gave it. Not checked by the model or the workflow: ratings accepted
# before these rules replay, and simulate in a what-if, as they were.
BAD_RATING_REASON = N_("why the service was rated 1 or 2 (a bad rating)")
RECORDED_RATING = N_("how and when the enterprise gave the rating")
BAD_RATING = 2  # 1 and 2 are bad ratings (差评): a 整改 and a mandatory follow-up


def rating_text_missing(kind: ActionKind, body: BaseModel, role: Role) -> tuple[str, Said] | None:
    """The ``text`` a rating arriving now lacks, and why; None when it needs none or has it."""
    text = getattr(body, "text", None)
    if kind is not ActionKind.RATE or (isinstance(text, str) and text.strip()):
        return None
    rating = getattr(body, "rating", None)
    if role not in SELF_SERVICE_ROLES:
        what = RECORDED_RATING
    elif isinstance(rating, int) and rating <= BAD_RATING:
        what = BAD_RATING_REASON
    else:
        return None
    return "text", Said(REQUIRED_FOR, kind=kind.value, what=Said(what))


def _choices(body: BaseModel, name: str) -> str:
    """The codes a field of ``body`` takes, when it takes codes ("" otherwise): a caller
    told only that a code is missing had to look the codes up."""
    field = type(body).model_fields.get(name)
    for arg in get_args(field.annotation) if field is not None else ():
        if isinstance(arg, type) and issubclass(arg, StrEnum):
            return ", ".join(arg)
    return ""


FIELD_REASON = N_("%(field)s is %(reason)s")  # "text is required for resolve: ..."
FIELD_VALUE_REASON = N_("%(field)s %(reason)s")  # "reason_code sla_breach is the engine's own"
REQUIRED_FOR = N_("required for %(kind)s: %(what)s")


class EventType(StrEnum):
    """Lifecycle events; each becomes ``org.tierflow.request.<value>`` on Kafka."""

    SUBMITTED = "submitted"
    ASSIGNED = "assigned"
    SIGNED_FOR = "signed_for"  # 签收; details: sign_for_business_seconds (None: no clock)
    ACKNOWLEDGED = "acknowledged"
    STARTED = "started"
    INFO_REQUESTED = "info_requested"
    INFO_PROVIDED = "info_provided"
    RESOLVED = "resolved"
    REOPENED = "reopened"
    ESCALATED = "escalated"
    HANDED_BACK = "handed_back"
    REASSIGNED = "reassigned"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"
    COMMENTED = "commented"
    RATED = "rated"
    EXTERNAL_STATUS = "external_status"
    CLOSED = "closed"
    SLA_WARNING = "sla_warning"
    SLA_BREACHED = "sla_breached"
    SUPERVISOR_ALERT = "supervisor_alert"
    REMINDED = "reminded"  # 催办: a late unit is reminded (details: clock, deadline)
    RETURN_REQUESTED = "return_requested"  # 退单 (details: return_reason)
    RETURN_APPROVED = "return_approved"  # re-routed; the returning unit is not charged
    RETURN_REFUSED = "return_refused"
    EXTENSION_REQUESTED = "extension_requested"  # 延期申请 (details: days)
    EXTENSION_APPROVED = "extension_approved"  # details: days, resolution_due_at
    EXTENSION_REFUSED = "extension_refused"
    ENTERPRISE_WAIT_EXPIRED = "enterprise_wait_expired"  # no reply in time: handling resumes
    SUSPENSION_REQUESTED = "suspension_requested"  # 挂起申请 (details: suspend_reason, days)
    SUSPENSION_APPROVED = "suspension_approved"  # details: days, suspended_until
    SUSPENSION_REFUSED = "suspension_refused"
    RESUMED = "resumed"  # a suspension ended (details: cause resumed or suspension_ended)
    HANDLER_CHANGED = "handler_changed"  # 承办人 (details: handler_id, previous, how)
    CO_HANDLER_ADDED = "co_handler_added"  # 协办 (details: co_handler, part_due_at)
    PART_SIGNED_FOR = "part_signed_for"  # details: co_handler
    PART_CONCLUDED = "part_concluded"  # details: co_handler
    PART_WAIVED = "part_waived"  # details: co_handler
    SUPERVISION_OPENED = "supervision_opened"  # 督办 (details: clock, reply_due_at, cause)
    SUPERVISION_REPLIED = "supervision_replied"  # the unit's written reply
    REPRIMANDED = "reprimanded"  # 通报: no written reply by the deadline (counts in 考核)
    FOLLOWED_UP = "followed_up"  # 回访 (details: outcome, attempt)
    RECTIFICATION_OPENED = "rectification_opened"  # 整改 after a bad rating (details: due_at)
    RECTIFICATION_CONCLUDED = "rectification_concluded"
    RATING_APPEALED = "rating_appealed"  # 申诉
    APPEAL_UPHELD = "appeal_upheld"  # the rating no longer counts in the statistics
    APPEAL_REJECTED = "appeal_rejected"
    # 申诉 not decided by its deadline: the deciding supervisors are reminded once (details:
    # appealed_at, decide_by); a later decision is still taken
    APPEAL_DECISION_OVERDUE = "appeal_decision_overdue"
    # an application (退单, 延期, 挂起) not decided by its deadline: the deciders are
    # reminded once (details: kind, asked_at, decide_by, applicant_institution)
    DECISION_OVERDUE = "decision_overdue"
    OPERATOR_NEEDED = "operator_needed"  # a step failed permanently; details name it
    OPERATOR_RETRIED = "operator_retried"
    OPERATOR_RESOLVED = "operator_resolved"
    CALENDAR_UPDATED = "calendar_updated"  # an operator published a newer business calendar


class RouteRequest(BaseModel):
    """Input of ``resolve_institution``: where the enterprise is, what it asks, which tier."""

    division_code: DivisionCode
    category: Category
    tier: Tier
    directory_version: str | None = None  # the request's pinned directory (None: current)


class TargetCheck(BaseModel):
    """Input of ``check_target``: may the request be handed to ``institution_id``?"""

    institution_id: str
    tier: Tier  # the tier the request is at (a reassignment stays at its tier)
    category: Category | None  # None: any (a co-handler serves another part of the request)
    region_prefix: str  # the actor's region: the target's division must start with it
    directory_version: str | None = None  # the request's pinned directory (None: current)


class HandlerCheck(BaseModel):
    """Input of ``check_handler``: may ``handler_id`` handle a request ``institution_id`` holds?"""

    handler_id: str
    institution_id: str


class Wording(BaseModel):
    """A reason worded as a catalog message (``schemas.messages.Said``), as an activity's
    answer or an API error carries it: the English text travels beside it, this is for
    reading it in a person's language (the console, the CLI). A value may itself be a
    wording (a field's "what it holds" inside "required for ..."), read in the same language.
    """

    message: str
    values: dict[str, str | int | Wording] = Field(default_factory=dict)

    @classmethod
    def of(cls, reason: object) -> Wording | None:
        """The wording of ``reason`` if it is a ``Said`` or a ``TranslatableError``, else
        None."""
        if not isinstance(reason, Said | TranslatableError):
            return None
        return cls.of_message(reason.message, reason.values)

    @classmethod
    def of_message(cls, message: str, values: Mapping[str, object]) -> Wording:
        """``message`` with ``values``: messages among them as wordings, ints as they are,
        anything else as its text."""

        def value(v: object) -> str | int | Wording:
            if isinstance(v, Said | TranslatableError):
                return cls.of_message(v.message, v.values)
            return v if isinstance(v, int) and not isinstance(v, bool) else str(v)

        return cls(message=message, values={k: value(v) for k, v in values.items()})

    def as_said(self) -> Said:
        """The message as a ``Said`` (raises KeyError, TypeError or ValueError when its values
        do not fill it)."""
        values = {k: v.as_said() if isinstance(v, Wording) else v for k, v in self.values.items()}
        return Said(self.message, **values)

    def said(self, english: str) -> str:
        """The reason as a ``Said``, or ``english`` when this wording does not render it."""
        try:
            said = self.as_said()
        except (KeyError, TypeError, ValueError):
            return english
        return said if said == english else english

    @classmethod
    def read(cls, data: object, english: str) -> str:
        """``english`` as a ``Said`` when ``data`` (as received: a refusal's detail, an API
        answer's ``reason``) is a wording that renders it; ``english`` itself otherwise."""
        try:
            return cls.model_validate(data).said(english)
        except ValueError:  # not a wording (pydantic's ValidationError is a ValueError)
            return english


class WordedRefusal(BaseModel):
    """A check's answer that may refuse: the refusal's English text, and its wording."""

    refusal: str | None = None
    wording: Wording | None = None  # the refusal's, when it was worded as a catalog message

    def reason(self) -> str | None:
        """The refusal, as a ``Said`` when its wording came with it."""
        return self.wording.said(self.refusal) if self.wording and self.refusal else self.refusal


class HandlerAnswer(WordedRefusal):
    """Why the named handler may not handle it (naming the field); None if they may."""


class TargetAnswer(WordedRefusal):
    """The institution if it qualifies, otherwise why not (naming the field)."""

    institution: Institution | None = None


class Institution(BaseModel):
    """A public service institution as the directory names it."""

    id: str
    name: str
    tier: Tier
    division_code: str


class AdmitRequest(BaseModel):
    """Input of ``admit_request``: pin the policy, then route at the first tier."""

    policy: PolicyRequest
    route: RouteRequest  # its directory_version is set to the one the policy pins


class Admission(BaseModel):
    """What ``admit_request`` found: the pinned policy and the first tier's institution."""

    policy: PinnedPolicy
    institution: Institution | None = None  # None: none at that tier (the workflow goes up)
    # the routing failed permanently (the policy stands): its failure's type and message
    route_error_type: str | None = None
    route_error: str | None = None


class SlaClock(BaseModel):
    """One business-time clock (response or resolution) at one tier."""

    kind: ClockKind
    tier: Tier
    target_seconds: int
    consumed_seconds: int = 0  # business seconds used before ``running_since``
    running_since: datetime | None = None  # None: paused or stopped
    started_at: datetime
    stopped_at: datetime | None = None
    deadline: datetime | None = None  # absolute instant while running
    warnings_sent: list[float] = Field(default_factory=list)
    breached: bool = False
    extended_seconds: int = 0  # business seconds added by approved extensions (延期)

    @property
    def status(self) -> SlaStatus:
        if self.breached:
            return SlaStatus.BREACHED
        if self.stopped_at is not None:
            return SlaStatus.STOPPED
        if self.running_since is None:
            return SlaStatus.PAUSED
        return SlaStatus.WARNING if self.warnings_sent else SlaStatus.ON_TRACK


CLOCK_ORDER = (ClockKind.SIGN_FOR, ClockKind.RESPONSE, ClockKind.RESOLUTION)  # as they come


def clocks_in_order(clocks: Sequence[SlaClock]) -> list[SlaClock]:
    """The clocks as a request meets them: each tier in the order it held the request, and
    within a tier 签收, then 响应, then 办结 (the workflow keeps them in the order it made them)."""
    tiers = list(dict.fromkeys(c.tier for c in clocks))
    return sorted(clocks, key=lambda c: (tiers.index(c.tier), CLOCK_ORDER.index(c.kind)))


class TierHold(BaseModel):
    """Who held the request at a tier, for how long, and whether its SLA was kept."""

    tier: Tier
    institution_id: str
    since: datetime
    until: datetime | None = None
    response_breached: bool = False
    resolution_breached: bool = False
    paused_seconds: int = 0  # business seconds spent awaiting the enterprise
    left_by: str | None = None  # escalated / handed_back / reassigned / resolved / ...
    signed_for_at: datetime | None = None  # 签收 by the holding unit
    sign_for_breached: bool = False
    returned: bool = False  # 退单 approved: its time is charged to routing, not to the unit
    handler: str | None = None  # 承办人: the caseworker of the unit who handles it


class Part(BaseModel):
    """协办: a co-handling unit's part of the request, with its own deadline."""

    institution_id: str
    name: str
    text: str  # what the part is
    added_by: str
    added_at: datetime
    due_at: datetime
    signed_for_at: datetime | None = None
    concluded_at: datetime | None = None
    conclusion: str | None = None
    waived_by: str | None = None
    reminded: bool = False  # its deadline passed and the co-handler was reminded
    # the request ended with the part open (withdrawn, rejected, closed for no reply): the
    # event that ended it; the co-handler has nothing more to do
    ended_by: str | None = None

    @property
    def open(self) -> bool:
        return self.concluded_at is None and self.waived_by is None and self.ended_by is None


class Chase(BaseModel):
    """催办 ladder of one late step (sign_for, response, resolution, part:<unit>)."""

    clock: str
    late_since: datetime
    remind_at: datetime
    reminded_at: datetime | None = None
    supervise_at: datetime
    supervised_at: datetime | None = None
    closed_at: datetime | None = None  # the step was done, or the request moved on

    @property
    def active(self) -> bool:
        return self.closed_at is None and self.supervised_at is None


class Supervision(BaseModel):
    """督办: supervision by the tier above, waiting for the unit's written reply."""

    opened_at: datetime
    opened_by: str
    reason: str
    clock: str | None = None  # the late step; None: opened by hand
    institution_id: str  # the unit supervised
    reply_due_at: datetime
    replied_at: datetime | None = None
    replied_by: str | None = None
    reply: str | None = None
    reprimanded_at: datetime | None = None  # 通报: no written reply in time
    # the request left the unit before its reply was due: no reply owed, no reprimand
    # (``supervision_ends_on_move``)
    ended_at: datetime | None = None

    @property
    def awaiting_reply(self) -> bool:
        return self.replied_at is None and self.reprimanded_at is None and self.ended_at is None


class Rectification(BaseModel):
    """整改 after a bad rating, owned by the unit that concluded the request; and its appeal."""

    institution_id: str
    rating: int
    opened_at: datetime
    due_at: datetime
    reminded: bool = False  # its deadline passed: chased like any late step
    concluded_at: datetime | None = None
    conclusion: str | None = None
    appeal_until: datetime  # the unit may appeal the rating until then
    appealed_at: datetime | None = None
    appeal: str | None = None
    # a supervisor should decide the appeal by then (None: pinned before the deadline)
    appeal_decide_by: datetime | None = None
    appeal_overdue_at: datetime | None = None  # when the late decision was reminded (once)
    appeal_upheld: bool | None = None
    decided_by: str | None = None
    decided_at: datetime | None = None
    decision: str | None = None

    @property
    def open(self) -> bool:
        return self.concluded_at is None

    @property
    def ended_by_appeal(self) -> bool:
        """The upheld appeal ended it (the rating no longer counts), not the unit's 整改."""
        return bool(self.appeal_upheld) and self.concluded_at == self.decided_at

    @property
    def appeal_pending(self) -> bool:
        return self.appealed_at is not None and self.decided_at is None


class Application(BaseModel):
    """A unit's 退单 (return) or 延期 (extension) application and the decision on it."""

    kind: ActionKind  # return or request_extension
    tier: Tier
    institution_id: str
    asked_by: str
    asked_at: datetime
    text: str
    return_reason: ReturnReason | None = None
    suspend_reason: SuspendReason | None = None
    days: int | None = None
    decided_by: str | None = None
    decided_at: datetime | None = None
    approved: bool | None = None  # None while pending, or when the request moved on first
    decision_text: str | None = None
    # the tier above should decide by then (None: pinned before ``decision_days``)
    decide_by: datetime | None = None
    overdue_at: datetime | None = None  # when the late decision was reminded (once)

    @property
    def pending(self) -> bool:
        return self.decided_at is None


class RunningClocks(Protocol):
    """A request's running deadlines, as a summary or a read-model row holds them."""

    sign_for_due_at: datetime | None
    response_due_at: datetime | None
    resolution_due_at: datetime | None


def next_due(request: RunningClocks) -> datetime | None:
    """A request's nearest running deadline, whichever clock it is: a policy may give the
    response less time than the sign-for (a 4-hour consultation, a 7-hour sign-for), and the
    response's breach escalates first (the queue orders by the same, in SQL:
    api.service.requests)."""
    running = [
        due
        for due in (request.sign_for_due_at, request.response_due_at, request.resolution_due_at)
        if due is not None
    ]
    return min(running, default=None)


def known_awaiting(codes: list[str]) -> list[str]:
    """The worklist codes this release knows, of ``codes``: a newer release's worker may
    write one it does not during a rolling upgrade (left out, not an error)."""
    known = {code.value for code in Awaiting}
    return [code for code in codes if code in known]


def _known_awaiting(codes: object) -> object:
    """``known_awaiting`` of a list of strings; anything else as it came (for the model)."""
    if isinstance(codes, list) and all(isinstance(c, str) for c in codes):
        return known_awaiting(codes)
    return codes


class RequestSummary(BaseModel):
    """The current state of one request, as the read model stores it."""

    request_id: str
    state: State
    tier: Tier
    institution_id: str | None
    category: Category
    priority: Priority
    grade: Grade
    division_code: str
    enterprise_uscc: str
    enterprise_name: str
    subject: str
    policy_version: str
    sla_status: SlaStatus
    response_due_at: datetime | None = None
    resolution_due_at: datetime | None = None
    submitted_at: datetime
    updated_at: datetime
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    escalation_count: int = 0
    needs_operator: bool = False  # a step failed permanently and waits for an operator
    sign_for_due_at: datetime | None = None  # while the holding unit has not signed for it
    signed_for_at: datetime | None = None  # when the holding unit signed for it
    handler_id: str | None = None  # 承办人 in the holding unit
    co_handlers: list[str] = Field(default_factory=list)  # 协办 units with an open part
    # whose turn it is besides the unit (a code this release does not know, from a newer
    # one's worker during a rolling upgrade, is left out: ``known_awaiting``)
    awaiting: Annotated[list[Awaiting], BeforeValidator(_known_awaiting)] = Field(
        default_factory=list
    )
    follow_up_due_at: datetime | None = None  # 待回访: when the follow-up desk is due to call
    paused_until: datetime | None = None  # 挂起, 待企业补充: when the pause ends at the latest
    # 好差评: the enterprise's rating of the conclusion (1-5), once given: the follow-up desk
    # calls a bad one back first
    rating: int | None = None
    # the division whose supervisors and desks oversee the request when not the enterprise's:
    # the holding unit's, outside which the enterprise lies (schemas.permissions.scope_division)
    scope_division: str | None = None
    # the unit a bad rating's 整改 is owed by while it owes a step of it (concluding it, its
    # appeal's outcome, a reply to a 督办 of it): its scope, wherever the request has gone
    rectifying_unit: str | None = None

    @property
    def overseen_division(self) -> str:
        """The division its supervisors and desks oversee it from: ``scope_division``, else
        the enterprise's."""
        return self.scope_division or self.division_code

    @classmethod
    def of_request(cls, req: RequestInput, **status: Any) -> RequestSummary:
        """Return the summary of ``req``: the fields its submission fixes, and ``status``
        (state, tier, clocks, times) as it stands now."""
        return cls(
            request_id=req.request_id,
            category=req.category,
            priority=req.priority,
            grade=req.enterprise.grade,
            division_code=req.enterprise.division_code,
            enterprise_uscc=req.enterprise.uscc,
            enterprise_name=req.enterprise.name,
            subject=req.subject,
            **status,
        )


class TransitionRecord(BaseModel):
    """One lifecycle step; ``event_id`` (``<request id>:<sequence>``) is unique and stable."""

    event_id: str
    request_id: str
    sequence: int
    event_type: EventType
    occurred_at: datetime
    actor: Actor
    action_id: str | None = None
    from_state: State | None = None
    to_state: State
    from_tier: Tier | None = None
    to_tier: Tier
    institution_id: str | None = None
    reason: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)
    policy_version: str
    summary: RequestSummary
    request: RequestInput | None = Field(default=None, description="Only on the submitted event")

    @model_validator(mode="wrap")
    @classmethod
    def _read_stored(
        cls, data: Any, handler: ModelWrapValidatorHandler[TransitionRecord]
    ) -> TransitionRecord:
        """A record is what the workflow stored: the edge rules judged its input already."""
        with stored():
            return handler(data)


class TransitionBatch(BaseModel):
    """Outbox records handed to one ``record_transitions`` call, in sequence order."""

    records: list[TransitionRecord] = Field(min_length=1)


class ActionResult(BaseModel):
    """The answer to an action: the state after it and the events it produced."""

    action_id: str
    kind: ActionKind
    state: State
    tier: Tier
    institution_id: str | None
    event_ids: list[str]
    duplicate: bool = False


# What a timeline entry shows of its event's details: the unit or person the event names, the
# days and deadlines it sets, the rating it gives, what a follow-up call heard and which call it
# was (the audit trail keeps every detail).
TIMELINE_FACTS = (
    "co_handler",
    "part_due_at",
    "handler_id",
    "days",
    "resolution_due_at",
    "suspended_until",
    "reply_due_at",
    "rating",
    "outcome",
    "attempt",
)


def timeline_facts(details: Mapping[str, object]) -> dict[str, str | int]:
    """The details of an event a reader of its timeline entry needs (``TIMELINE_FACTS``)."""
    facts: dict[str, str | int] = {}
    for name in TIMELINE_FACTS:
        value = details.get(name)
        if isinstance(value, str | int) and not isinstance(value, bool):
            facts[name] = value
    return facts


class TimelineEntry(BaseModel):
    sequence: int
    event_type: EventType
    occurred_at: datetime
    actor_id: str
    from_state: State | None
    to_state: State
    tier: Tier
    institution_id: str | None
    reason: str | None = None
    actor_role: Role | None = Field(
        default=None,
        description="The role of who took the step (a supervisor's comment is an instruction, "
        "批示); None in entries a request kept from before it was recorded",
    )
    facts: dict[str, str | int] = Field(
        default_factory=dict,
        description="What the event names or sets: co_handler (a unit id), handler_id, days, "
        "part_due_at, resolution_due_at, suspended_until, reply_due_at (instants), rating",
    )
    attachments: list[AttachmentOut] = Field(
        default_factory=list,
        description="Documents sent with the step (补充材料, 办结 documents); in the audit "
        "timeline only (the view's entries keep none)",
    )


class OperatorHold(BaseModel):
    """A step that failed permanently (non-retryable) and waits for an operator."""

    step: str  # the activity: load_policy, resolve_institution or record_transitions
    error_type: str
    message: str
    since: datetime
    redo: str  # what operator_retry redoes: admit, escalate or record
    reason: str | None = None  # the escalation's reason, to redo it
    reason_code: str | None = None  # ... and its EscalationReason
    event_ids: list[str] = Field(default_factory=list)  # records of a failed record call
    retry_requested: bool = False


# The request workflow's registered type. Requests started before it run to their end under the
# type they started with: V4 admits on its first task's instant, V3 may also run two local
# activities at once, V2 also cancels a timer as soon as its deadline moves, the first name
# decides by patches (workflows/versions.py tells why a new name saves their markers).
WORKFLOW_TYPE = "ServiceRequestV5"
WORKFLOW_TYPE_V4 = "ServiceRequestV4"
WORKFLOW_TYPE_V3 = "ServiceRequestV3"
WORKFLOW_TYPE_V2 = "ServiceRequestV2"
WORKFLOW_TYPE_STARTED_BEFORE = "ServiceRequest"
WORKFLOW_TYPES = (
    WORKFLOW_TYPE,
    WORKFLOW_TYPE_V4,
    WORKFLOW_TYPE_V3,
    WORKFLOW_TYPE_V2,
    WORKFLOW_TYPE_STARTED_BEFORE,
)


class WorkflowState(BaseModel):
    """Everything a workflow carries across continue-as-new."""

    request: RequestInput
    policy: PinnedPolicy | None = None
    state: State = State.SUBMITTED
    tier: Tier = Tier.COUNTY
    institution: Institution | None = None
    # the division a tier above sent it to when that lies outside the enterprise's (改派, 退单
    # approved): escalation and hand-back route from it (``scope_follows_holder``)
    routed_division: str | None = None
    sequence: int = 0
    clocks: list[SlaClock] = Field(default_factory=list)
    holds: list[TierHold] = Field(default_factory=list)
    timeline: list[TimelineEntry] = Field(default_factory=list)
    # by action id, oldest first; the last ``workflows.records.MAX_ACTION_IDS`` are kept
    results: dict[str, ActionResult] = Field(default_factory=dict)
    # ActionRequest.content_digest by action id, beside ``results`` (none for older results)
    action_digests: dict[str, str] = Field(default_factory=dict)
    submitted_at: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    close_due_at: datetime | None = None
    reopen_window_consumed: int = 0
    escalation_count: int = 0
    rating: int | None = None  # 办结评价: the conclusion's rating
    intake_rating: int | None = None  # 受理评价: the intake's, while the request was open
    rating_due_at: datetime | None = None  # after an automatic close: end of the rating window
    clocks_since: datetime | None = None  # when the current tier's clocks started
    paused_at: datetime | None = None  # when the request began awaiting the enterprise
    search_attributes: bool = Field(
        default=True, description="Upsert search attributes (off on servers without them)"
    )
    operator: OperatorHold | None = None  # set while a permanently failed step waits
    timeline_truncated: int = 0  # older timeline entries dropped (the read model keeps all)
    applications: list[Application] = Field(default_factory=list)  # returns, extensions, ...
    suspended_until: datetime | None = None  # an approved suspension ends then at the latest
    parts: list[Part] = Field(default_factory=list)  # 协办: co-handling units' parts
    chases: list[Chase] = Field(default_factory=list)  # 催办 ladders of late steps
    supervisions: list[Supervision] = Field(default_factory=list)  # 督办 cases, newest last
    follow_up_due_at: datetime | None = None  # 回访 falls due then, after a resolution
    follow_up_attempts: int = 0  # unreachable tries since the resolution
    last_unreachable_at: datetime | None = None  # the latest of them (calls are spaced)
    followed_up: bool = False  # the follow-up of this resolution is done
    # 差评回访: a bad rating after the close waits for the desk's call back (pinned rule)
    calling_back: bool = False
    redo_count: int = 0  # 重办: reopened after an unsatisfied follow-up or by a supervisor above
    rectification: Rectification | None = None  # 整改 after a bad rating, and its appeal

    @model_validator(mode="wrap")
    @classmethod
    def _read_stored(
        cls, data: Any, handler: ModelWrapValidatorHandler[WorkflowState]
    ) -> WorkflowState:
        """Decode what the workflow carries leniently: the edge rules judged it on the way in.

        A request accepted under older rules must keep decoding, or it would wedge on replay.
        """
        with stored():
            return handler(data)


class CalendarUpdate(ReplaysAsAccepted):
    """Input of the ``publish_calendar`` update: a newer business calendar for a request."""

    calendar: CalendarData
    actor: Actor


# The refusal of a calendar update by a request whose policy counts its own week (other
# working hours or weekdays, or no public holidays): not a failure, the calendar is not its
OWN_CALENDAR = "OwnCalendar"


class RequestView(BaseModel):
    """Everything a caseworker sees of one request: the answer of the ``view`` query."""

    summary: RequestSummary
    clocks: list[SlaClock]
    holds: list[TierHold]
    timeline: list[TimelineEntry]
    allowed_actions: list[ActionKind]
    rating: int | None = None
    intake_rating: int | None = Field(
        default=None, description="受理评价: the enterprise's rating of the intake"
    )
    close_due_at: datetime | None = None
    rating_due_at: datetime | None = Field(
        default=None, description="Closed automatically: a rating is taken until then"
    )
    operator: OperatorHold | None = None
    timeline_truncated: int = Field(
        default=0, description="Older entries left out; the audit trail has the full timeline"
    )
    calendar_version: str | None = Field(default=None, description="The pinned calendar")
    return_until: datetime | None = Field(
        default=None,
        description="退单: until when the holding unit may return the request (None: its "
        "policy sets no return window)",
    )
    calendar: CalendarData | None = Field(
        default=None,
        description="The pinned business calendar itself, so a countdown counts working time "
        "as the workflow does (including a calendar an operator published later)",
    )
    directory_version: str | None = Field(
        default=None, description="The institution directory the request routes by (pinned)"
    )
    calendar_estimated_years: list[int] = Field(
        default_factory=list,
        description="Years of the pinned calendar whose days off were not published yet",
    )
    grade_applied: Grade | None = Field(
        default=None,
        description="The grade the SLA targets were scaled by, as the grade registry confirmed "
        "it at submission (summary.grade is the declared one); None: pinned before the registry",
    )
    applications: list[Application] = Field(
        default_factory=list, description="Returns (退单) and extensions (延期), newest last"
    )
    enterprise_reply_due_at: datetime | None = Field(
        default=None, description="Awaiting the enterprise: when the longest wait ends"
    )
    suspended_until: datetime | None = Field(
        default=None, description="Suspended: when handling resumes at the latest"
    )
    parts: list[Part] = Field(default_factory=list, description="协办: co-handling units' parts")
    chases: list[Chase] = Field(default_factory=list, description="催办 ladders of late steps")
    supervisions: list[Supervision] = Field(
        default_factory=list, description="督办 cases and the unit's written replies"
    )
    follow_up_due_at: datetime | None = Field(
        default=None, description="Resolved: when the follow-up desk calls the enterprise"
    )
    redo_count: int = Field(
        default=0, description="重办: reopened after a follow-up or by a supervisor above"
    )
    rectification: Rectification | None = Field(
        default=None, description="整改 after a bad rating, and the unit's appeal (申诉)"
    )
