"""What the outside sees of a request: the ``view`` query's answer and search attributes. Pure."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from temporalio.common import SearchAttributeKey, SearchAttributeUpdate

from schemas import permissions
from schemas.domain import OPEN_STATES, Role, State
from schemas.lifecycle import OPERATOR_ACTIONS, ActionKind, Actor, RequestView, WorkflowState
from tierflow import constants
from workflows import (
    applications,
    chasing,
    follow_up,
    handlers,
    parts,
    pauses,
    records,
    rectification,
    rules,
)

CHINA_OFFSET_MINUTES = 480  # a view without its calendar: China's time

SA_STATE = SearchAttributeKey.for_keyword(constants.SA_STATE)
SA_TIER = SearchAttributeKey.for_keyword(constants.SA_TIER)
SA_INSTITUTION = SearchAttributeKey.for_keyword(constants.SA_INSTITUTION)
SA_CATEGORY = SearchAttributeKey.for_keyword(constants.SA_CATEGORY)
SA_NEXT_DEADLINE = SearchAttributeKey.for_datetime(constants.SA_NEXT_DEADLINE)


def _possible(case: WorkflowState, kind: ActionKind, now: datetime) -> bool:
    """Whether what ``kind`` acts on is there (a supervision to reply to, a part, a handler, a
    rectification or appeal) and nothing holds it back (an open part holds back 办结): the
    workflow refuses it otherwise, whoever asks, so a console must not offer it. Who may take
    it is the API's and the workflow's question."""
    if kind is ActionKind.REPLY_SUPERVISION:  # a late one too, after a reprimand
        return chasing.to_answer(case.supervisions) is not None
    if kind is ActionKind.FOLLOW_UP:  # after the close: a bad rating's call back only
        return not case.followed_up and follow_up.takes_calls(case)
    if kind is ActionKind.CLAIM:
        return handlers.current(case) is None
    if kind is ActionKind.TRANSFER:
        return handlers.current(case) is not None
    if kind is ActionKind.SIGN_FOR_PART:
        return any(p.signed_for_at is None for p in parts.open_parts(case))
    if kind in (ActionKind.CONCLUDE_PART, ActionKind.WAIVE_PART):
        return bool(parts.open_parts(case))
    if kind is ActionKind.RESOLVE:  # 办结 waits for every co-handling part (parts.refusal)
        return not parts.open_parts(case)
    if kind is ActionKind.RATE and case.state in OPEN_STATES and records.redone(case):
        return False  # 重办: the intake was rated or passed, the conclusion is not there yet
    if applications.return_holds(case, kind):  # no 补充材料 or 挂起 while a 退单 waits
        return False
    if applications.return_first(case, kind):  # nor a 挂起 approved, nor 改派 for its decision
        return False
    if kind in (ActionKind.RETURN, ActionKind.REQUEST_EXTENSION, ActionKind.SUSPEND):
        return applications.askable(case, kind, now)  # a window or a deadline not yet past
    if kind in rectification.ACTIONS:
        r = case.rectification
        if r is None:
            return False
        if kind is ActionKind.CONCLUDE_RECTIFICATION:
            return r.open
        if kind is ActionKind.APPEAL_RATING:
            return r.appealed_at is None and now <= r.appeal_until
        return r.appeal_pending
    return True


def offered_to(view: RequestView, actor: Actor) -> list[ActionKind]:
    """The view's allowed actions that ``actor`` may take: the workflow's own checks of role,
    grants and scope (the holding unit, or the actor's unit's co-handling part), of who
    decides an application, of the unit's own rectification steps and of the handler's
    transfer, on the view's facts, so that a console offers only what the workflow accepts
    from them."""
    return [kind for kind in view.allowed_actions if _actor_may(view, actor, kind)]


def _actor_may(view: RequestView, actor: Actor, kind: ActionKind) -> bool:
    if permissions.kind_refusal(actor, kind):
        return False
    if kind in parts.CO_HANDLER_ACTIONS:  # offered to the unit with the part, for its part
        if not parts.co_handler_may(view.parts, actor, kind):
            return False
        if actor.role is Role.CASEWORKER:
            return True  # its part is its scope
    if kind is ActionKind.REPLY_SUPERVISION and chasing.replies_for_own_unit(
        view.supervisions, actor
    ):
        return True  # the supervised unit's reply (a late part's co-handler: in that scope)
    if rectification.rated_units_own_step(view.rectification, actor, kind):
        return True  # the rated unit's 整改 and 申诉, wherever the request is
    s = view.summary
    if permissions.action_refusal(
        actor, kind, s.tier, s.institution_id, s.division_code, s.scope_division
    ):
        return False
    r = view.rectification
    tier, unit = rectification.decided_above(r, view.holds, kind, s.tier, s.institution_id)
    if applications.decider_refusal(actor, kind, tier, unit):  # a tier above decides
        return False
    if kind is ActionKind.SUPERVISE and (
        chasing.supervisor_refusal(actor, s.tier)
        or chasing.repeat_refusal(view.supervisions, s.institution_id)
    ):
        return False  # 督办 is a higher tier's, one at a time
    if r is not None and rectification.of_another_unit(r, actor, kind):  # the unit's own step
        return False
    if follow_up.own_unit_refusal(s.institution_id, s.tier, actor, kind):
        return False  # 回访 is the tier above's check on the unit, not its own desk's
    if permissions.unit_step_refusal(actor, kind, s.institution_id):
        return False  # the holding unit's own step
    if permissions.oversight_refusal(actor, kind, s.tier, s.institution_id):
        return False  # 改派 and 提级 from above, 指派承办人 the unit's own lead's
    if kind in chasing.OWN_MOVES and chasing.own_move_refusal(
        view.supervisions, actor, kind, s.institution_id
    ):
        return False  # its 督办's reply first
    if kind is ActionKind.REPLY_SUPERVISION and chasing.reply_refusal(view.supervisions, actor):
        return False  # the supervised unit's reply
    return kind is not ActionKind.TRANSFER or handlers.may_transfer(
        handlers.handler_of(view.holds), actor
    )


def request_view(case: WorkflowState, now: datetime) -> RequestView:
    """Return state, clocks, tier holds, timeline and the actions the state allows.

    While a step waits for an operator, only the operator actions are allowed.
    """
    return RequestView(
        summary=records.summary(case, now),
        clocks=case.clocks,
        holds=case.holds,
        timeline=case.timeline,
        allowed_actions=[
            kind
            for kind in rules.allowed_actions(
                case.state, case.tier, case.rating is not None, case.intake_rating is not None
            )
            if (kind in OPERATOR_ACTIONS) is (case.operator is not None)
            and (kind is not ActionKind.RATE or _rating_allowed(case, now))
            and (kind is not ActionKind.SIGN_FOR or records.signed_for_at(case) is None)
            and applications.offered(case, kind)
            and _possible(case, kind, now)
        ],
        rating=case.rating,
        intake_rating=case.intake_rating,
        close_due_at=case.close_due_at,
        rating_due_at=case.rating_due_at,
        operator=case.operator,
        timeline_truncated=case.timeline_truncated,
        calendar_version=case.policy.calendar.version if case.policy else None,
        calendar=case.policy.calendar if case.policy else None,
        directory_version=case.policy.directory_version if case.policy else None,
        calendar_estimated_years=case.policy.calendar.estimated_years if case.policy else [],
        grade_applied=case.policy.grade_applied if case.policy else None,
        applications=case.applications,
        enterprise_reply_due_at=pauses.enterprise_wait_ends(case),
        suspended_until=pauses.suspension_ends(case),
        return_until=applications.return_until(case),
        parts=case.parts,
        chases=case.chases,
        follow_up_due_at=case.follow_up_due_at if follow_up.takes_calls(case) else None,
        redo_count=case.redo_count,
        rectification=case.rectification,
        supervisions=case.supervisions,
    )


def _rating_allowed(case: WorkflowState, now: datetime) -> bool:
    """A closed request takes a rating only inside its rating window."""
    if case.state is not State.CLOSED:
        return True
    return case.rating_due_at is not None and now < case.rating_due_at


def search_attributes(
    case: WorkflowState, next_due: datetime | None
) -> list[SearchAttributeUpdate]:
    """Return the search attributes of the request (no personal data: ids and codes only)."""
    return [
        SA_STATE.value_set(case.state.value),
        SA_TIER.value_set(case.tier.value),
        SA_INSTITUTION.value_set(case.institution.id if case.institution else ""),
        SA_CATEGORY.value_set(case.request.category.value),
        SA_NEXT_DEADLINE.value_set(next_due) if next_due else SA_NEXT_DEADLINE.value_unset(),
    ]


def estimated_years_ahead(view: RequestView | None) -> list[int]:
    """The years whose days off the request's calendar only estimates (not yet published, or
    past its last year, where only weekends are off) that a pending deadline of the request
    falls in, in the calendar's time (China's): the case page and `tierflow show` say those
    deadlines may still move."""
    if view is None or (not view.calendar_estimated_years and view.calendar is None):
        return []
    dues: list[datetime | None] = [c.deadline for c in view.clocks if c.stopped_at is None]
    dues += [view.suspended_until, view.follow_up_due_at, view.close_due_at, view.rating_due_at]
    dues += [s.reply_due_at for s in view.supervisions if s.awaiting_reply]
    dues += [p.due_at for p in view.parts if p.open]
    if view.rectification is not None and view.rectification.open:
        dues.append(view.rectification.due_at)
    offset = view.calendar.utc_offset_minutes if view.calendar else CHINA_OFFSET_MINUTES
    local = timezone(timedelta(minutes=offset))
    years = {due.astimezone(local).year for due in dues if due is not None}
    beyond = {y for y in years if view.calendar is not None and y > view.calendar.last_year}
    return sorted((years & set(view.calendar_estimated_years)) | beyond)
