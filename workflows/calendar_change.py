"""A newly published calendar moves every pending deadline counted in business time. Pure.

An operator publishes the days off of a year once the State Council has (``tierflow calendar
publish``). The SLA clocks keep the business time they used and count the rest on the new
calendar; so do the other deadlines a request keeps as instants: the end of a suspension
(挂起), the chasing ladder's rungs (催办, 督办) and a supervision's reply deadline, co-handling
parts, the follow-up, the reopen and rating windows, and a rectification's deadlines. Each
keeps the business time left to it at the moment of publishing, counted on the new calendar.
"""

from __future__ import annotations

from datetime import datetime

from schemas.lifecycle import WorkflowState
from schemas.policy import CalendarData
from workflows.business_time import add_business_seconds, business_seconds_between


def moved(due: datetime, now: datetime, old: CalendarData, new: CalendarData) -> datetime:
    """``due`` with the business time left to it from ``now`` counted on ``new``; one already
    past stays where it is."""
    if due <= now:
        return due
    return add_business_seconds(now, business_seconds_between(now, due, old), new)


def move_deadlines(
    case: WorkflowState, now: datetime, old: CalendarData, new: CalendarData
) -> None:
    """Move the request's pending deadlines from ``old`` to ``new`` (its clocks move apart)."""

    def move(due: datetime | None) -> datetime | None:
        return None if due is None else moved(due, now, old, new)

    case.suspended_until = move(case.suspended_until)
    case.close_due_at = move(case.close_due_at)
    case.rating_due_at = move(case.rating_due_at)
    case.follow_up_due_at = move(case.follow_up_due_at)
    for chase in case.chases:
        if chase.active:
            chase.remind_at = moved(chase.remind_at, now, old, new)
            chase.supervise_at = moved(chase.supervise_at, now, old, new)
    for supervision in case.supervisions:
        if supervision.awaiting_reply:
            supervision.reply_due_at = moved(supervision.reply_due_at, now, old, new)
    for part in case.parts:
        if part.open:
            part.due_at = moved(part.due_at, now, old, new)
    rectified = case.rectification
    if rectified is not None:
        rectified.due_at = moved(rectified.due_at, now, old, new)
        rectified.appeal_until = moved(rectified.appeal_until, now, old, new)
        rectified.appeal_decide_by = move(rectified.appeal_decide_by)
    for app in case.applications:
        if app.pending:
            app.decide_by = move(app.decide_by)
