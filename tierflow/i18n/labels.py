"""What people read for the engine's codes: states, tiers, categories, actions, events, ...

Each code gets an English label marked for the catalogs with a context (the same English word
may be a state in one place and an event in another, and Chinese says them differently). The
codes themselves stay what the API, the events and the metrics use.
"""

from __future__ import annotations

from enum import StrEnum

from babel.support import NullTranslations

from schemas.domain import (
    Category,
    ClockKind,
    Grade,
    Priority,
    Role,
    SizeClass,
    SlaStatus,
    State,
    Tier,
)
from schemas.lifecycle import (
    ActionKind,
    Awaiting,
    EscalationReason,
    EventType,
    FollowUpOutcome,
    RatingStage,
    ReturnReason,
    SuspendReason,
)


def NC_(context: str, message: str) -> tuple[str, str]:  # noqa: N802 - gettext convention
    """Mark ``message`` (in ``context``) for extraction; translate it later with pgettext."""
    return context, message


STATE = {
    State.SUBMITTED: NC_("state", "Submitted"),
    State.ASSIGNED: NC_("state", "Dispatched"),  # and, until its unit signs for it, 待签收
    State.ACKNOWLEDGED: NC_("state", "Accepted"),
    State.IN_PROGRESS: NC_("state", "In progress"),
    State.AWAITING_ENTERPRISE: NC_("state", "Awaiting the enterprise"),
    State.SUSPENDED: NC_("state", "Suspended"),
    State.RESOLVED: NC_("state", "Concluded"),
    State.CLOSED: NC_("state", "Closed"),
    State.WITHDRAWN: NC_("state", "Withdrawn"),
    State.REJECTED: NC_("state", "Not accepted"),
}
TIER = {
    Tier.COUNTY: NC_("tier", "County"),
    Tier.MUNICIPAL: NC_("tier", "Municipal"),
    Tier.PROVINCIAL: NC_("tier", "Provincial"),
    Tier.NATIONAL: NC_("tier", "National"),
}
CATEGORY = {
    Category.FINANCING: NC_("category", "Financing"),
    Category.DIGITAL_TRANSFORMATION: NC_("category", "Digital transformation"),
    Category.TECHNOLOGY_TRANSFER: NC_("category", "Technology transfer"),
    Category.TALENT: NC_("category", "Talent and training"),
    Category.OVERSEAS_EXPANSION: NC_("category", "Overseas markets"),
    Category.CERTIFICATION: NC_("category", "Testing and certification"),
    Category.POLICY_CONSULTATION: NC_("category", "Policy consultation"),
    Category.OTHER: NC_("category", "Other services"),
}
PRIORITY = {
    Priority.LOW: NC_("priority", "Low"),
    Priority.NORMAL: NC_("priority", "Normal"),
    Priority.HIGH: NC_("priority", "High"),
    Priority.URGENT: NC_("priority", "Urgent"),
}
SIZE = {
    SizeClass.MICRO: NC_("size", "Micro"),
    SizeClass.SMALL: NC_("size", "Small"),
    SizeClass.MEDIUM: NC_("size", "Medium"),
}
GRADE = {
    Grade.NONE: NC_("grade", "None"),
    Grade.INNOVATIVE: NC_("grade", "Innovative SME"),
    Grade.SPECIALIZED_NEW: NC_("grade", "Specialized and new SME"),
    Grade.LITTLE_GIANT: NC_("grade", "Little giant"),
}
ROLE = {
    Role.CASEWORKER: NC_("role", "Caseworker"),
    Role.SUPERVISOR: NC_("role", "Supervisor"),
    Role.FOLLOW_UP: NC_("role", "Follow-up desk"),
    Role.DISPATCHER: NC_("role", "Dispatch desk"),
    Role.ADMIN: NC_("role", "Administrator"),
    Role.SYSTEM: NC_("role", "System"),
    Role.ENTERPRISE: NC_("role", "Enterprise"),
}
CLOCK = {
    ClockKind.RESPONSE: NC_("clock", "Response"),
    ClockKind.RESOLUTION: NC_("clock", "Resolution"),
    ClockKind.SIGN_FOR: NC_("clock", "Sign-for"),
}
SLA = {
    SlaStatus.ON_TRACK: NC_("sla", "On track"),
    SlaStatus.WARNING: NC_("sla", "Warning"),
    SlaStatus.BREACHED: NC_("sla", "Breached"),
    SlaStatus.PAUSED: NC_("sla", "Paused"),
    SlaStatus.STOPPED: NC_("sla", "Stopped"),
}
ACTION = {
    ActionKind.SIGN_FOR: NC_("action", "Sign for"),
    ActionKind.ACKNOWLEDGE: NC_("action", "Accept"),
    ActionKind.START: NC_("action", "Start handling"),
    ActionKind.REQUEST_INFO: NC_("action", "Ask the enterprise for information"),
    ActionKind.PROVIDE_INFO: NC_("action", "Provide information"),
    ActionKind.RESOLVE: NC_("action", "Conclude"),
    ActionKind.REOPEN: NC_("action", "Reopen"),
    ActionKind.ESCALATE: NC_("action", "Escalate"),
    ActionKind.HAND_BACK: NC_("action", "Hand back"),
    ActionKind.REASSIGN: NC_("action", "Re-dispatch"),
    ActionKind.REJECT: NC_("action", "Do not accept"),
    ActionKind.COMMENT: NC_("action", "Comment"),
    ActionKind.WITHDRAW: NC_("action", "Withdraw"),
    ActionKind.RATE: NC_("action", "Record the rating"),
    ActionKind.EXTERNAL_STATUS: NC_("action", "External status"),
    ActionKind.RETURN: NC_("action", "Return"),
    ActionKind.APPROVE_RETURN: NC_("action", "Approve the return"),
    ActionKind.REFUSE_RETURN: NC_("action", "Refuse the return"),
    ActionKind.REQUEST_EXTENSION: NC_("action", "Request an extension"),
    ActionKind.APPROVE_EXTENSION: NC_("action", "Approve the extension"),
    ActionKind.REFUSE_EXTENSION: NC_("action", "Refuse the extension"),
    ActionKind.SUSPEND: NC_("action", "Request a suspension"),
    ActionKind.APPROVE_SUSPENSION: NC_("action", "Approve the suspension"),
    ActionKind.REFUSE_SUSPENSION: NC_("action", "Refuse the suspension"),
    ActionKind.RESUME: NC_("action", "Resume"),
    ActionKind.CLAIM: NC_("action", "Claim"),
    ActionKind.ASSIGN_HANDLER: NC_("action", "Assign a handler"),
    ActionKind.TRANSFER: NC_("action", "Transfer"),
    ActionKind.ADD_CO_HANDLER: NC_("action", "Add a co-handling unit"),
    ActionKind.SIGN_FOR_PART: NC_("action", "Sign for the part"),
    ActionKind.CONCLUDE_PART: NC_("action", "Conclude the part"),
    ActionKind.WAIVE_PART: NC_("action", "Waive the part"),
    ActionKind.SUPERVISE: NC_("action", "Open supervision"),
    ActionKind.REPLY_SUPERVISION: NC_("action", "Reply to the supervision"),
    ActionKind.FOLLOW_UP: NC_("action", "Record the follow-up"),
    ActionKind.CONCLUDE_RECTIFICATION: NC_("action", "Conclude the rectification"),
    ActionKind.APPEAL_RATING: NC_("action", "Appeal the rating"),
    ActionKind.UPHOLD_APPEAL: NC_("action", "Uphold the appeal"),
    ActionKind.REJECT_APPEAL: NC_("action", "Reject the appeal"),
    ActionKind.OPERATOR_RETRY: NC_("action", "Retry the failed step"),
    ActionKind.OPERATOR_RESOLVE: NC_("action", "Settle without the failed step"),
}
EVENT = {
    EventType.SUBMITTED: NC_("event", "Submitted"),
    EventType.ASSIGNED: NC_("event", "Dispatched"),
    EventType.SIGNED_FOR: NC_("event", "Signed for"),
    EventType.ACKNOWLEDGED: NC_("event", "Accepted"),
    EventType.STARTED: NC_("event", "Handling started"),
    EventType.INFO_REQUESTED: NC_("event", "Information requested"),
    EventType.INFO_PROVIDED: NC_("event", "Information provided"),
    EventType.RESOLVED: NC_("event", "Concluded"),
    EventType.REOPENED: NC_("event", "Reopened"),
    EventType.ESCALATED: NC_("event", "Escalated"),
    EventType.HANDED_BACK: NC_("event", "Handed back"),
    EventType.REASSIGNED: NC_("event", "Re-dispatched"),
    EventType.REJECTED: NC_("event", "Not accepted"),
    EventType.WITHDRAWN: NC_("event", "Withdrawn"),
    EventType.COMMENTED: NC_("event", "Comment"),
    EventType.RATED: NC_("event", "Rated"),
    EventType.EXTERNAL_STATUS: NC_("event", "External status"),
    EventType.CLOSED: NC_("event", "Closed"),
    EventType.SLA_WARNING: NC_("event", "SLA warning"),
    EventType.SLA_BREACHED: NC_("event", "SLA breached"),
    EventType.SUPERVISOR_ALERT: NC_("event", "Supervision alert"),
    EventType.REMINDED: NC_("event", "Reminded"),
    EventType.RETURN_REQUESTED: NC_("event", "Return requested"),
    EventType.RETURN_APPROVED: NC_("event", "Return approved"),
    EventType.RETURN_REFUSED: NC_("event", "Return refused"),
    EventType.EXTENSION_REQUESTED: NC_("event", "Extension requested"),
    EventType.EXTENSION_APPROVED: NC_("event", "Extension approved"),
    EventType.EXTENSION_REFUSED: NC_("event", "Extension refused"),
    EventType.ENTERPRISE_WAIT_EXPIRED: NC_("event", "No reply from the enterprise in time"),
    EventType.SUSPENSION_REQUESTED: NC_("event", "Suspension requested"),
    EventType.SUSPENSION_APPROVED: NC_("event", "Suspension approved"),
    EventType.SUSPENSION_REFUSED: NC_("event", "Suspension refused"),
    EventType.RESUMED: NC_("event", "Resumed"),
    EventType.HANDLER_CHANGED: NC_("event", "Handler changed"),
    EventType.CO_HANDLER_ADDED: NC_("event", "Co-handling unit added"),
    EventType.PART_SIGNED_FOR: NC_("event", "Part signed for"),
    EventType.PART_CONCLUDED: NC_("event", "Part concluded"),
    EventType.PART_WAIVED: NC_("event", "Part waived"),
    EventType.SUPERVISION_OPENED: NC_("event", "Under supervision"),
    EventType.SUPERVISION_REPLIED: NC_("event", "Supervision replied"),
    EventType.REPRIMANDED: NC_("event", "Reprimanded"),
    EventType.FOLLOWED_UP: NC_("event", "Followed up"),
    EventType.RECTIFICATION_OPENED: NC_("event", "Rectification required"),
    EventType.RECTIFICATION_CONCLUDED: NC_("event", "Rectification concluded"),
    EventType.RATING_APPEALED: NC_("event", "Rating appealed"),
    EventType.APPEAL_UPHELD: NC_("event", "Appeal upheld"),
    EventType.APPEAL_REJECTED: NC_("event", "Appeal rejected"),
    EventType.APPEAL_DECISION_OVERDUE: NC_("event", "Appeal decision overdue"),
    EventType.DECISION_OVERDUE: NC_("event", "Application decision overdue"),
    EventType.OPERATOR_NEEDED: NC_("event", "Needs an operator"),
    EventType.OPERATOR_RETRIED: NC_("event", "Operator retried"),
    EventType.OPERATOR_RESOLVED: NC_("event", "Operator settled"),
    EventType.CALENDAR_UPDATED: NC_("event", "Calendar updated"),
}
ESCALATION = {
    EscalationReason.SLA_BREACH: NC_("escalation", "SLA breached"),
    EscalationReason.BEYOND_REMIT: NC_("escalation", "Beyond this tier's remit"),
    EscalationReason.NEEDS_COORDINATION: NC_("escalation", "Needs coordination from above"),
    EscalationReason.COMPLEX_CASE: NC_("escalation", "Complex case"),
    EscalationReason.ENTERPRISE_REQUEST: NC_("escalation", "The enterprise asked for it"),
    EscalationReason.OTHER: NC_("escalation", "Other (see the text)"),
}
RETURN_REASON = {
    ReturnReason.NOT_OUR_REMIT: NC_("return", "Not this unit's responsibility"),
    ReturnReason.OUTSIDE_REGION: NC_("return", "Outside this unit's region"),
    ReturnReason.DUPLICATE: NC_("return", "Duplicate work order"),
    ReturnReason.OTHER: NC_("return", "Other (see the text)"),
}
SUSPEND_REASON = {
    SuspendReason.THIRD_PARTY: NC_("suspend", "Waiting for a third party's opinion or material"),
    SuspendReason.LEGAL_PROCEDURE: NC_(
        "suspend", "Statutory procedure (appraisal, publicity, hearing)"
    ),
    SuspendReason.FORCE_MAJEURE: NC_("suspend", "Force majeure"),
    SuspendReason.OTHER: NC_("suspend", "Other (see the text)"),
}
FOLLOW_UP_OUTCOME = {
    FollowUpOutcome.SATISFIED: NC_("follow_up", "Satisfied: solved"),
    FollowUpOutcome.UNSATISFIED: NC_("follow_up", "Not satisfied: redo at the unit"),
    FollowUpOutcome.UNREACHABLE: NC_("follow_up", "Could not be reached"),
}
AWAITING = {
    Awaiting.FOLLOW_UP: NC_("awaiting", "Awaiting follow-up"),
    Awaiting.RETURN_DECISION: NC_("awaiting", "Return awaiting a decision"),
    Awaiting.EXTENSION_DECISION: NC_("awaiting", "Extension awaiting approval"),
    Awaiting.SUSPENSION_DECISION: NC_("awaiting", "Suspension awaiting approval"),
    Awaiting.APPEAL_DECISION: NC_("awaiting", "Appeal awaiting a decision"),
    Awaiting.SUPERVISION_REPLY: NC_("awaiting", "Supervision awaiting the reply"),
    Awaiting.RECTIFICATION_REPLY: NC_("awaiting", "Rectification reply owed"),
}
RATING_STAGE = {
    RatingStage.INTAKE: NC_("rating_stage", "Intake"),
    RatingStage.CONCLUSION: NC_("rating_stage", "Conclusion"),
}
BY_ENUM: dict[type[StrEnum], dict] = {
    State: STATE,
    Tier: TIER,
    Category: CATEGORY,
    Priority: PRIORITY,
    SizeClass: SIZE,
    Grade: GRADE,
    Role: ROLE,
    ClockKind: CLOCK,
    SlaStatus: SLA,
    ActionKind: ACTION,
    EventType: EVENT,
    EscalationReason: ESCALATION,
    ReturnReason: RETURN_REASON,
    SuspendReason: SUSPEND_REASON,
    FollowUpOutcome: FOLLOW_UP_OUTCOME,
    RatingStage: RATING_STAGE,
    Awaiting: AWAITING,
}


def label(value: StrEnum | str | None, translations: NullTranslations) -> str:
    """Return what a reader of ``translations`` calls ``value``: an enum member, or an event
    type's code (``TierHold.left_by`` holds one); an unknown code is shown as it is."""
    if value is None:
        return "—"
    if not isinstance(value, StrEnum):
        if value not in EventType.__members__.values():
            return str(value)
        value = EventType(value)
    context, message = BY_ENUM[type(value)][value]
    return str(translations.pgettext(context, message))


INSTRUCTION = NC_("event", "Instruction")


def step_label(
    event: EventType | str, actor_role: Role | str | None, translations: NullTranslations
) -> str:
    """What a timeline calls a step: its event's name, but a supervisor's comment is an
    instruction (批示) to the unit, as the notifier sends it, not a note (备注)."""
    if event == EventType.COMMENTED and actor_role == Role.SUPERVISOR:
        return str(translations.pgettext(*INSTRUCTION))
    return label(event, translations)


def code_words(enum: type[StrEnum], code: str, translations: NullTranslations) -> str:
    """What a reader of ``translations`` calls ``code``, one of ``enum``'s values as a string
    (from an API answer, a message's values, a template); any other code as it is."""
    return label(enum(code), translations) if code in set(enum) else code


# The channels the console and the demo submit by; others (a system's own name) show as they are.
CHANNEL = {
    "portal": NC_("channel", "Online portal"),
    "walk-in": NC_("channel", "Walk-in at the service window"),
    "hotline": NC_("channel", "Service hotline"),
}


def channel_words(channel: str, translations: NullTranslations) -> str:
    """What a reader of ``translations`` calls a submission channel (free text from the caller)."""
    if channel not in CHANNEL:
        return channel
    return str(translations.pgettext(*CHANNEL[channel]))


# 考核 figures (``tierflow.assessment.FIGURES``): (name, what the rate counts, what it misses)
FIGURE = {
    "sign_for_on_time_rate": NC_("figure", "On-time sign-for rate"),
    "response_rate": NC_("figure", "Response rate"),
    "conclusion_on_time_rate": NC_("figure", "On-time conclusion rate"),
    "follow_up_rate": NC_("figure", "Follow-up rate"),
    "resolution_rate": NC_("figure", "Resolution rate"),
    "satisfaction_rate": NC_("figure", "Satisfaction rate"),
    "rectification_on_time_rate": NC_("figure", "On-time rectification rate"),
    "intake_satisfaction_rate": NC_("figure", "Intake satisfaction rate"),
    "holds": NC_("figure", "Requests held"),
    "ratings": NC_("figure", "Ratings"),
    "intake_ratings": NC_("figure", "Intake ratings"),
    "returns": NC_("figure", "Returns"),
    "extensions": NC_("figure", "Extensions"),
    "reminders": NC_("figure", "Reminders"),
    "supervisions": NC_("figure", "Supervisions"),
    "reprimands": NC_("figure", "Reprimands"),
    "redos": NC_("figure", "Redos"),
    "rectifications": NC_("figure", "Rectifications"),
}
FIGURE_OUTCOME = {
    "sign_for_on_time_rate": (
        NC_("figure", "signed for in time"),
        NC_("figure", "signed for late"),
    ),
    "response_rate": (NC_("figure", "answered in time"), NC_("figure", "answered late")),
    "conclusion_on_time_rate": (
        NC_("figure", "concluded in time"),
        NC_("figure", "not concluded in time"),
    ),
    "follow_up_rate": (NC_("figure", "followed up"), NC_("figure", "not followed up")),
    "resolution_rate": (NC_("figure", "solved"), NC_("figure", "not solved")),
    "satisfaction_rate": (NC_("figure", "satisfied"), NC_("figure", "not satisfied")),
    "rectification_on_time_rate": (
        NC_("figure", "rectified in time"),
        NC_("figure", "rectified late"),
    ),
    "intake_satisfaction_rate": (NC_("figure", "satisfied"), NC_("figure", "not satisfied")),
}


def figure_label(name: str, translations: NullTranslations) -> str:
    """What a reader of ``translations`` calls an assessment figure."""
    context, message = FIGURE[name]
    return str(translations.pgettext(context, message))


def figure_outcome(name: str, counts: bool, translations: NullTranslations) -> str:
    """How one row behind a rate went: counted for the rate (in time, solved) or not."""
    context, message = FIGURE_OUTCOME[name][0 if counts else 1]
    return str(translations.pgettext(context, message))
