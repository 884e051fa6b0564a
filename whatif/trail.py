"""Rebuild each request's external actions from the audit trail (the read model's rows).

Every row with an ``action_id`` is one action a person or system took; the rest (warnings,
breaches, escalations for a breach, reminders, automatic supervisions, closes) the workflow
derived, and a what-if derives them again. The action's fields come back from the row: its
text is the row's reason, its parameters sit in the details the workflow recorded. A calendar
an operator published to the request (``calendar_updated``) is delivered again too, from the
recorded calendars (``tierflow.calendar_store``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from schemas.domain import Category, Priority, Tier
from schemas.edge import stored
from schemas.enterprise import Enterprise
from schemas.events import described
from schemas.lifecycle import ActionKind, ActionRequest, CalendarUpdate, EventType, RatingStage
from schemas.policy import CalendarData
from schemas.request import Actor, RequestInput
from tierflow.calendar_store import recorded_calendar
from tierflow.db.models import ServiceRequest, Transition, overseen_from
from workflows.rules import EVENT_OF_ACTION

# event type -> the action it records (handler_changed says which one in details["how"])
ACTION_OF_EVENT: dict[EventType, ActionKind] = {
    event: kind for kind, event in EVENT_OF_ACTION.items() if event is not EventType.HANDLER_CHANGED
}
# the action fields an action's record keeps in its details, by name
DETAIL_FIELDS = (
    "rating",
    "reason_code",
    "return_reason",
    "suspend_reason",
    "handler_id",
    "outcome",
    "attachments",  # the documents sent with provide_info or resolve
)
CHUNK = 500  # requests whose rows are read in one query
# what a request took from outside, at its instant: an action, or a published calendar
Delivered = ActionRequest | CalendarUpdate
Calendars = Callable[[str], CalendarData | None]  # a recorded calendar by version


@dataclass(frozen=True)
class Scope:
    """Which requests a what-if covers: submitted in [since, until), and the filters given."""

    since: datetime | None = None
    until: datetime | None = None
    categories: tuple[Category, ...] = ()
    priorities: tuple[Priority, ...] = ()
    division_prefix: str | None = None  # e.g. "3301" for one city's counties
    request_prefix: str | None = None  # e.g. one import's or one channel's id prefix
    tiers: tuple[Tier, ...] = ()  # the tiers holding them now (a supervisor's and below)
    # a supervisor's region: the requests overseen from it, as their queue holds them
    # (``api.auth.scope_conditions``: from it, or held by a unit in it outside the enterprise's)
    overseen_prefix: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "categories": [c.value for c in self.categories],
            "priorities": [p.value for p in self.priorities],
            "division_prefix": self.division_prefix,
            "request_prefix": self.request_prefix,
            "tiers": [t.value for t in self.tiers],
            "overseen_prefix": self.overseen_prefix,
        }


@dataclass
class RecordedRequest:
    """One request as the audit trail holds it."""

    request: RequestInput
    policy_version: str
    started_at: datetime  # the submitted row: when the workflow started
    rows: list[Transition]
    actions: list[tuple[datetime, Delivered]] = field(default_factory=list)
    problem: str | None = None  # why it cannot be replayed (None: it can)


def actor_of(row: Transition) -> Actor:
    """The actor as the workflow judged them (scope kept on the row since migration 0017)."""
    return Actor(
        id=row.actor_id,
        role=row.actor_role,
        institution_id=row.actor_institution_id,
        tier=row.actor_tier,
        division_code=row.actor_division_code,
        grants=list(row.actor_grants or []),
        via=row.actor_via,
    )


def action_of(row: Transition) -> ActionRequest:
    """The action a row with an ``action_id`` records; ValueError if it cannot be rebuilt."""
    details = row.details or {}
    if row.event_type is EventType.HANDLER_CHANGED:
        kind = ActionKind(details["how"])
    elif row.event_type in ACTION_OF_EVENT:
        kind = ACTION_OF_EVENT[row.event_type]
    else:
        raise ValueError(f"{row.event_type.value} is not an action's record")
    fields: dict[str, Any] = {name: details[name] for name in DETAIL_FIELDS if name in details}
    if kind is ActionKind.RATE and details.get("stage") == RatingStage.INTAKE.value:
        fields["stage"] = RatingStage.INTAKE
    if kind in (ActionKind.REASSIGN, ActionKind.APPROVE_RETURN):
        fields["institution_id"] = row.institution_id
    if kind in (ActionKind.ADD_CO_HANDLER, ActionKind.WAIVE_PART):
        fields["institution_id"] = details.get("co_handler")
    if kind in (ActionKind.REQUEST_EXTENSION, ActionKind.SUSPEND, ActionKind.SUPERVISE):
        fields["days"] = details.get("days")
    if kind is ActionKind.ADD_CO_HANDLER:
        if details.get("days") is None:
            raise ValueError("add_co_handler: its days were not recorded (before migration 0017)")
        fields["days"] = details["days"]
    if kind is ActionKind.ESCALATE and details.get("reason_code") == "sla_breach":
        fields.pop("reason_code")
    with stored():  # accepted under the rules of its day, as the workflow replays it
        return ActionRequest(
            action_id=row.action_id or "",
            kind=kind,
            actor=actor_of(row),
            text=row.reason,
            **fields,
        )


def same_action(rows: Sequence[Transition], action: ActionRequest) -> bool | None:
    """Whether ``rows`` (the trail's records under ``action``'s id) record this very action:
    the same digest (kind, person and every field); False for another action reusing the id;
    None when there are none, or their record cannot be read back (recorded before the
    fields it needs were kept)."""
    if not rows:
        return None
    try:
        recorded = action_of(rows[0])
    except ValueError:
        return None
    return recorded.content_digest() == action.content_digest()


def request_of(row: ServiceRequest) -> RequestInput:
    """The request as submitted, as far as its lifecycle depends on it."""
    with stored():
        return RequestInput(
            request_id=row.request_id,
            enterprise=Enterprise(
                uscc=row.enterprise_uscc,
                name=row.enterprise_name,
                division_code=row.division_code,
                grade=row.grade,
            ),
            category=row.category,
            priority=row.priority,
            subject=row.subject,
            description=row.description,
            channel=row.channel,
            submitted_at=row.submitted_at,
        )


def publication_of(row: Transition, calendars: Calendars) -> CalendarUpdate:
    """The calendar a ``calendar_updated`` row records as published; ValueError if that
    calendar is not recorded."""
    version = str((row.details or {}).get("to_version"))
    calendar = calendars(version)
    if calendar is None:
        raise ValueError(f"the calendar {version} published to it is not recorded")
    return CalendarUpdate(calendar=calendar, actor=actor_of(row))


def recorded(
    summary: ServiceRequest, rows: Sequence[Transition], calendars: Calendars
) -> RecordedRequest:
    """Rebuild one request; a row that cannot be read marks it unreplayable, with the reason."""
    ordered = sorted(rows, key=lambda r: r.sequence)
    started = ordered[0].occurred_at if ordered else summary.submitted_at
    found = RecordedRequest(request_of(summary), summary.policy_version, started, ordered)
    if not ordered or ordered[0].event_type is not EventType.SUBMITTED:
        found.problem = "the audit trail does not start with its submission"
        return found
    for row in ordered:
        if row.event_type is EventType.CALENDAR_UPDATED:
            try:
                found.actions.append((row.occurred_at, publication_of(row, calendars)))
            except ValueError as exc:
                found.problem = f"event {row.event_id}: {exc}"
                return found
            continue
        if row.action_id is None:
            continue
        try:
            found.actions.append((row.occurred_at, action_of(row)))
        except ValidationError as exc:  # the fields and why, never the texts people wrote
            found.problem = f"event {row.event_id}: {described(exc)[0]}"
            return found
        except (ValueError, KeyError) as exc:
            found.problem = f"event {row.event_id}: {exc}"
            return found
    return found


def _filtered(scope: Scope) -> Any:
    query = select(ServiceRequest).order_by(col(ServiceRequest.request_id))
    if scope.since is not None:
        query = query.where(col(ServiceRequest.submitted_at) >= scope.since)
    if scope.until is not None:
        query = query.where(col(ServiceRequest.submitted_at) < scope.until)
    if scope.categories:
        query = query.where(col(ServiceRequest.category).in_(scope.categories))
    if scope.priorities:
        query = query.where(col(ServiceRequest.priority).in_(scope.priorities))
    if scope.division_prefix:
        query = query.where(col(ServiceRequest.division_code).startswith(scope.division_prefix))
    if scope.request_prefix:
        query = query.where(col(ServiceRequest.request_id).startswith(scope.request_prefix))
    if scope.tiers:
        query = query.where(col(ServiceRequest.tier).in_(scope.tiers))
    if scope.overseen_prefix is not None:
        query = query.where(overseen_from(scope.overseen_prefix))
    return query


def request_ids(
    engine: Engine, scope: Scope, submitted_before: datetime | None = None
) -> list[str]:
    """The ids of the requests in scope, in order; submitted before an instant, if given
    (what-if ``--as-of``: the requests the data held then)."""
    query = _filtered(scope).with_only_columns(col(ServiceRequest.request_id))
    if submitted_before is not None:
        query = query.where(col(ServiceRequest.submitted_at) < submitted_before)
    with Session(engine) as session:
        return list(session.exec(query))


def load(engine: Engine, ids: Sequence[str]) -> Iterator[RecordedRequest]:
    """Yield the requests with their audit rows, read a chunk at a time."""

    def calendars(version: str) -> CalendarData | None:
        return recorded_calendar(engine, version)

    with Session(engine) as session:
        for start in range(0, len(ids), CHUNK):
            chunk = list(ids[start : start + CHUNK])
            found = select(ServiceRequest).where(col(ServiceRequest.request_id).in_(chunk))
            summaries = {s.request_id: s for s in session.exec(found)}
            rows: dict[str, list[Transition]] = {i: [] for i in chunk}
            query = select(Transition).where(col(Transition.request_id).in_(chunk))
            for row in session.exec(query):
                rows[row.request_id].append(row)
            for request_id in chunk:
                if request_id in summaries:
                    yield recorded(summaries[request_id], rows[request_id], calendars)
