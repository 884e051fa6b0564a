"""催办 → 督办 → 通报: the chasing ladder of a late step, in business time. Pure.

When a deadline passes and the request stays with its unit (a missed sign-for under the
``remind`` policy, a breach under ``supervise_in_place``, a late co-handling part), a chase
starts: a reminder notice to the unit (at once for a sign-for or a part, the policy's working
days after the deadline otherwise), supervision by the tier above after more working days (a
supervision case with a reply deadline), and a reprimand when the unit has not replied in
writing by then. A chase ends when the late step is done or the request moves on. Supervisors
also open supervision by hand.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from schemas import permissions
from schemas.chased import part_unit
from schemas.domain import Role, State, Tier
from schemas.lifecycle import ActionKind, Chase, Supervision, WorkflowState
from schemas.messages import N_, Said
from schemas.request import Actor
from workflows.business_time import (
    add_business_seconds,
    business_day_seconds,
    business_seconds_between,
)
from workflows.rectification import CLOCK as RECTIFICATION_CLOCK

PAUSED_STATES = frozenset({State.SUSPENDED, State.AWAITING_ENTERPRISE})  # the clocks stand
MAX_SUPERVISIONS = 20  # newest kept in the workflow's state; the audit trail has them all


def _days(case: WorkflowState, start: datetime, days: int) -> datetime:
    assert case.policy is not None
    cal = case.policy.calendar
    return add_business_seconds(start, days * business_day_seconds(cal), cal)


def start(case: WorkflowState, clock: str, late_since: datetime, reminded: bool) -> Chase:
    """Begin chasing ``clock`` (sign_for, response, resolution, part:<unit>) late since then."""
    assert case.policy is not None
    policy = case.policy
    remind_days = 0 if reminded else policy.reminder_after_days
    reminder_at = _days(case, late_since, remind_days)
    chase = Chase(
        clock=clock,
        late_since=late_since,
        reminded_at=late_since if reminded else None,
        remind_at=reminder_at,
        supervise_at=_days(case, reminder_at, policy.supervision_after_days),
    )
    case.chases.append(chase)
    return chase


def end(case: WorkflowState, clock: str | None, now: datetime) -> None:
    """The late step was done (``clock``), or the request moved on or was concluded (None):
    stop chasing (but a 整改 its rated unit owes, which only its own end stops)."""
    for chase in case.chases:
        if not chase.active:
            continue
        if chase.clock == clock or (clock is None and not rectifying_unit(case, chase.clock)):
            chase.closed_at = now


def rectifying_unit(case: WorkflowState, clock: str | None) -> str | None:
    """The rated unit a late 整改 (``clock`` is the 整改's) is chased at, wherever the request
    is, under the pinned rule ``rectification_owned_by_rated_unit``; None for any other clock,
    or before that rule."""
    owned = case.policy is not None and case.policy.rectification_owned_by_rated_unit
    if not owned or clock != RECTIFICATION_CLOCK or case.rectification is None:
        return None
    return case.rectification.institution_id


def supervised_unit(case: WorkflowState, clock: str | None) -> str:
    """The unit a late step's 督办 supervises: a part's co-handler, a 整改's rated unit (see
    ``rectifying_unit``), else the holder."""
    holder = case.institution.id if case.institution else ""
    return part_unit(clock) or rectifying_unit(case, clock) or holder


def end_supervisions(case: WorkflowState, unit: str, now: datetime) -> list[Supervision]:
    """The request left ``unit``: its supervisions as the holder (not a co-handling part's)
    that wait for a reply end, owing none. Returns them."""
    ended = [
        s
        for s in case.supervisions
        if s.awaiting_reply
        and s.institution_id == unit
        and part_unit(s.clock) is None
        and rectifying_unit(case, s.clock) is None
    ]
    for supervision in ended:
        supervision.ended_at = now
    return ended


def open_supervision(
    case: WorkflowState, opened_by: str, reason: str, clock: str | None, now: datetime, days: int
) -> Supervision:
    """督办: a supervision case with a reply deadline of ``days`` working days, of the unit
    that is late (``supervised_unit``)."""
    supervision = Supervision(
        opened_at=now,
        opened_by=opened_by,
        reason=reason,
        clock=clock,
        institution_id=supervised_unit(case, clock),
        reply_due_at=_days(case, now, days),
    )
    case.supervisions.append(supervision)
    del case.supervisions[:-MAX_SUPERVISIONS]
    return supervision


def owes_reply(case: WorkflowState, chase: Chase) -> bool:
    """Whether the unit ``chase`` would supervise (``supervised_unit``) already owes a
    written reply to a supervision."""
    return waiting_for_reply(case.supervisions, supervised_unit(case, chase.clock)) is not None


def awaiting_reply(case: WorkflowState) -> Supervision | None:
    """The oldest supervision still waiting for the unit's written reply."""
    return waiting_for_reply(case.supervisions)


def waiting_for_reply(
    supervisions: Sequence[Supervision], unit: str | None = None
) -> Supervision | None:
    """The oldest supervision waiting for a reply (of ``unit``, if given)."""
    return next(
        (s for s in supervisions if s.awaiting_reply and unit in (None, s.institution_id)), None
    )


def to_answer(supervisions: Sequence[Supervision], unit: str | None = None) -> Supervision | None:
    """The supervision a written reply answers (of ``unit``, if given): the oldest waiting
    for one, else the oldest reprimanded (通报) for none and still unanswered: a late reply
    is recorded, and the reprimand stands."""
    return waiting_for_reply(supervisions, unit) or next(
        (
            s
            for s in supervisions
            if s.reprimanded_at is not None
            and s.replied_at is None
            and s.ended_at is None
            and unit in (None, s.institution_id)
        ),
        None,
    )


def reply_refusal(supervisions: Sequence[Supervision], actor: Actor) -> str | None:
    """Why ``actor`` may not write the reply: it is the supervised unit's (its caseworkers and
    lead; a late part's co-handler), not the supervisor's above who opened it nor another
    unit's; None if it may."""
    waiting = to_answer(supervisions)
    if waiting is None or actor.institution_id is None:
        return None
    if to_answer(supervisions, actor.institution_id) is not None:
        return None
    return Said(
        N_("cannot reply: the supervision is of %(institution)s, which writes the reply"),
        institution=waiting.institution_id,
    )


def replies_for_own_unit(supervisions: Sequence[Supervision], actor: Actor) -> bool:
    """Whether ``actor`` is a caseworker of a unit whose supervision waits for its reply: a
    co-handling unit that does not hold the request replies in that scope."""
    return (
        actor.role is Role.CASEWORKER
        and actor.institution_id is not None
        and to_answer(supervisions, actor.institution_id) is not None
    )


# the holding unit's own moves of the request: 提级 up, 交回 down
OWN_MOVES = frozenset({ActionKind.ESCALATE, ActionKind.HAND_BACK})


def own_move_refusal(
    supervisions: Sequence[Supervision],
    actor: Actor,
    kind: ActionKind,
    holder: str | None,
    ends_on_move: bool = True,
) -> str | None:
    """Why the holding unit may not move the request itself now (提级, 交回): its 督办 waits
    for its written reply, which the move would end owing none (``supervision_ends_on_move``:
    a late unit's way out of its reply and the 通报 after it); the reply may say it needs
    another tier. ``ends_on_move``: the request's pinned ``supervision_ends_on_move`` (a
    view, which does not carry it, assumes it). None if it may."""
    if kind not in OWN_MOVES or holder is None or actor.institution_id != holder:
        return None
    if not ends_on_move:
        return None  # pinned before: a move leaves the supervision waiting, nothing escapes
    waiting = next(
        (
            s
            for s in supervisions
            if s.awaiting_reply and s.institution_id == holder and part_unit(s.clock) is None
        ),
        None,
    )
    if waiting is None:
        return None
    return Said(
        N_(
            "cannot %(kind)s: the supervision (督办) of %(institution)s waits for its written "
            "reply, due %(due)s; reply first (the reply may say it needs another tier)"
        ),
        kind=kind.value,
        institution=holder,
        due=waiting.reply_due_at.isoformat(),
    )


def repeat_refusal(supervisions: Sequence[Supervision], unit: str | None) -> str | None:
    """Why another 督办 of the holding ``unit`` is not opened: one already waits for its
    written reply (a second tier's, or the same one's again, would be answered by one reply
    and reprimanded twice); a supervisor adds to it with a comment (批示). None if none
    waits."""
    waiting = waiting_for_reply(supervisions, unit) if unit else None
    if waiting is None:
        return None
    return Said(
        N_(
            "cannot supervise: %(institution)s owes the written reply to the supervision "
            "opened by %(by)s at %(at)s, due %(due)s; add to it with a comment (批示)"
        ),
        institution=waiting.institution_id,
        by=waiting.opened_by,
        at=waiting.opened_at.isoformat(),
        due=waiting.reply_due_at.isoformat(),
    )


def supervisor_refusal(actor: Actor, tier: Tier) -> str | None:
    """Why ``actor`` may not open a supervision (督办) of a request at ``tier``: it is a
    higher tier's (the national tier's of its own requests); a unit's own lead would supervise
    the unit and write its reply. None if it may."""
    if actor.role is not Role.SUPERVISOR or actor.tier is None:
        return None
    if permissions.oversees(actor.tier, tier):
        return None
    return Said(
        N_(
            "cannot supervise: a %(actor_tier)s supervisor does not supervise the %(tier)s "
            "tier's request; a supervisor of a tier above does (督办)"
        ),
        actor_tier=actor.tier.value,
        tier=tier.value,
    )


def standing_still(case: WorkflowState, clock: str | None) -> bool:
    """Whether the ladder of ``clock`` waits, as the holder's clocks do
    (``chase_pauses_with_clocks``): suspended, or waiting for the enterprise's reply. A
    co-handling part's ladder runs on (its deadline is not paused)."""
    pinned = case.policy is not None and case.policy.chase_pauses_with_clocks
    paused = case.paused_at is not None and case.state in PAUSED_STATES
    return pinned and paused and part_unit(clock) is None


def shift(case: WorkflowState, paused_since: datetime | None, now: datetime) -> None:
    """The holder's clocks resume at ``now`` after a pause since ``paused_since``: its
    ladder's rungs still ahead and the reply deadlines that wait move by the business time
    each of them stood still (a supervision opened during the pause, since it opened)."""
    policy = case.policy
    if paused_since is None or policy is None or not policy.chase_pauses_with_clocks:
        return
    cal = policy.calendar

    def later(due: datetime, begun: datetime) -> datetime:
        start = max(paused_since, begun)
        still = business_seconds_between(start, now, cal) if start < now else 0
        return add_business_seconds(due, still, cal) if still else due

    for chase in case.chases:
        if chase.active and part_unit(chase.clock) is None:
            if chase.reminded_at is None:
                chase.remind_at = later(chase.remind_at, chase.late_since)
            chase.supervise_at = later(chase.supervise_at, chase.late_since)
    for supervision in case.supervisions:
        if supervision.awaiting_reply and part_unit(supervision.clock) is None:
            supervision.reply_due_at = later(supervision.reply_due_at, supervision.opened_at)


def next_due(case: WorkflowState) -> datetime | None:
    """The next rung of any chase, or reply deadline of any supervision (but those of the
    ladders standing still)."""
    dues: list[datetime] = []
    for chase in case.chases:
        if chase.active and not standing_still(case, chase.clock):
            dues.append(chase.remind_at if chase.reminded_at is None else chase.supervise_at)
    dues += [
        s.reply_due_at
        for s in case.supervisions
        if s.awaiting_reply and not standing_still(case, s.clock)
    ]
    return min(dues) if dues else None


def due_reminders(case: WorkflowState, now: datetime) -> list[Chase]:
    return [
        c
        for c in case.chases
        if c.active
        and c.reminded_at is None
        and c.remind_at <= now
        and not standing_still(case, c.clock)
    ]


def due_supervisions(case: WorkflowState, now: datetime) -> list[Chase]:
    return [
        c
        for c in case.chases
        if c.active
        and c.reminded_at is not None
        and c.supervise_at <= now
        and not standing_still(case, c.clock)
    ]


def due_reprimands(case: WorkflowState, now: datetime) -> list[Supervision]:
    return [
        s
        for s in case.supervisions
        if s.awaiting_reply and s.reply_due_at <= now and not standing_still(case, s.clock)
    ]
