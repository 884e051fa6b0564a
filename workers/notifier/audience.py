"""Who a rule's audience is for one event: users from the API's user table, or the enterprise.

People are API users (caseworkers and supervisors) with their notification preferences; the
enterprise is the contact on file for the request. Only whether an address exists is read
here: addresses are looked up again when a message is sent, and never stored with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, and_, exists, or_
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from schemas.chased import charged_unit
from schemas.domain import Role, Tier
from schemas.edge import sms_number
from schemas.enterprise import division_for_tier
from schemas.lifecycle import TransitionRecord
from schemas.permissions import HANDLER_ROLES
from schemas.request import SYSTEM_ACTOR
from tierflow.db.auth_models import ApiUser
from tierflow.db.models import InstitutionRow, Rating, ServiceRequest
from tierflow.db.notification_models import Channel, NotificationPreference
from workers.notifier.rules import Audience


@dataclass(frozen=True)
class Recipient:
    """One addressee and the channels that can reach them now."""

    key: str  # user:<id> or enterprise:<request id>
    user_id: str | None
    locale: str
    channels: frozenset[Channel]
    digest: bool = False


# the desks of the tier above that an audience names (the others: its supervisors)
DESK_ROLES = {Audience.FOLLOW_UP_DESK: Role.FOLLOW_UP, Audience.DISPATCH_DESK: Role.DISPATCHER}


def user_key(user_id: str) -> str:
    return f"user:{user_id}"


def enterprise_key(request_id: str) -> str:
    return f"enterprise:{request_id}"


def recipients(
    engine: Engine, audience: Audience, record: TransitionRecord, default_locale: str
) -> list[Recipient]:
    """Return the recipients of ``audience`` for the request ``record`` is about."""
    if audience is Audience.ENTERPRISE:
        return _enterprise(engine, record.request_id, default_locale)
    users, standing_in = _users(engine, audience, record)
    found = _with_preferences(engine, users, default_locale)
    if not standing_in:
        return found
    # those standing in for a unit or a tier with nobody hear in their inbox only: a region
    # of placeholders would otherwise fill a provincial desk's mail with each unit's messages
    inbox = frozenset({Channel.INBOX})
    return [
        Recipient(r.key, r.user_id, r.locale, r.channels & inbox)
        for r in found
        if r.channels & inbox
    ]


def _named_units(audience: Audience, details: dict[str, object]) -> list[str]:
    """The units an event names for ``audience``: the co-handler a 协办 step is about, or
    those whose parts ended with the request; the unit a move took the request from."""
    if audience is Audience.PREVIOUS_HOLDER:
        named = details.get("from_institution")
    else:
        named = details.get("co_handler") or details.get("ended_parts")
    if isinstance(named, list):
        return [str(unit) for unit in named]
    return [str(named)] if named else []


# Who hears in place of a unit with nobody at all (a directory placeholder, 系统生成, or a unit
# not yet given accounts): the desk of the tier above for its caseworkers, the supervisors
# above for its lead, climbing the tiers until someone is there; else its request, its
# 催办 and its 督办 would reach nobody.
STAND_INS = {Audience.CASEWORKERS: Role.DISPATCHER, Audience.INSTITUTION_LEAD: Role.SUPERVISOR}


def _users(
    engine: Engine, audience: Audience, record: TransitionRecord
) -> tuple[list[ApiUser], bool]:
    """The audience's users, and whether they stand in for a unit or tier with nobody."""
    holder = record.institution_id or record.summary.institution_id
    # a chasing event's unit: a late part's co-handler, a supervised unit the request left
    institution = charged_unit(record.event_type.value, record.details, holder)
    tier, region = record.summary.tier, record.summary.overseen_division
    enabled = select(ApiUser).where(col(ApiUser.disabled).is_(False))
    query = enabled
    standing_in = False
    with Session(engine) as session:
        if record.details.get("stage") == "intake":  # 受理评价: the unit that did the 受理
            intake = session.exec(
                select(Rating.institution_id).where(Rating.event_id == record.event_id)
            ).first()
            institution = intake or institution
        if institution != holder and (unit := session.get(InstitutionRow, institution or "")):
            # about another unit than the holder (a 整改's rated unit, a late part's co-handler):
            # the desks and supervisors above that unit, as the workflow's deciders are
            tier, region = unit.tier, unit.division_code
        if audience is Audience.HANDLER:
            handler = record.details.get("handler_id")
            if not handler:
                return [], False
            query = query.where(col(ApiUser.id) == handler)
        elif audience is Audience.SUPERVISION_OPENER:
            opener = record.details.get("opened_by")
            if not opener or opener == SYSTEM_ACTOR.id:
                return [], False
            query = query.where(col(ApiUser.id) == opener)
        elif audience in (Audience.CO_HANDLERS, Audience.PREVIOUS_HOLDER):
            units = _named_units(audience, record.details)
            if not units:
                return [], False
            query = query.where(_workers_of(units))
        elif audience in STAND_INS:
            # no unit yet (a request held before it was routed): as for a unit with nobody
            staffed = (
                institution is not None
                and session.exec(
                    enabled.where(
                        col(ApiUser.role).in_(HANDLER_ROLES), ApiUser.institution_id == institution
                    ).limit(1)
                ).first()
                is not None
            )
            if institution is None or not staffed:
                query, _ = _climbing(session, STAND_INS[audience], tier.next_up(), region)
                standing_in = True
            elif audience is Audience.CASEWORKERS:
                query = query.where(_workers_of([institution]))
            else:
                query = query.where(
                    ApiUser.role == Role.SUPERVISOR, ApiUser.institution_id == institution
                )
        elif audience is Audience.PROVINCE_DISPATCH_DESK:
            start = max(Tier.PROVINCIAL, tier.next_up() or tier, key=lambda t: t.rank)
            query, standing_in = _climbing(session, Role.DISPATCHER, start, region)
        else:
            above = audience is not Audience.TIER_SUPERVISORS  # the desks and supervisors above
            start = (tier.next_up() or tier) if above else tier
            role = DESK_ROLES.get(audience, Role.SUPERVISOR)
            query, standing_in = _climbing(session, role, start, region)
        query = query.where(col(ApiUser.id) != record.actor.id)  # nobody is told of their own
        return list(session.exec(query.order_by(col(ApiUser.id))).all()), standing_in


def _workers_of(units: list[str]) -> Any:
    """The enabled caseworkers of ``units``, and the lead of a unit that has none (a small
    unit's one account: the lead counts as one of its caseworkers, docs/work-orders.md)."""
    other = aliased(ApiUser)
    has_caseworker = exists(
        select(other.id).where(
            other.institution_id == ApiUser.institution_id,
            other.role == Role.CASEWORKER,
            col(other.disabled).is_(False),
        )
    )
    return and_(
        col(ApiUser.institution_id).in_(units),
        or_(
            col(ApiUser.role) == Role.CASEWORKER,
            and_(col(ApiUser.role) == Role.SUPERVISOR, ~has_caseworker),
        ),
    )


def _climbing(
    session: Session, role: Role, tier: Tier | None, region_of: str
) -> tuple[SelectOfScalar[ApiUser], bool]:
    """Users of ``role`` at ``tier`` for the region of the division ``region_of``, or at the
    first tier above it that has any (a region of placeholders has nobody until the province
    or the nation); and whether it climbed. Someone who took the step counts: a tier whose
    only desk acted has someone, who is not told of their own step."""
    at, climbed = tier, False
    while at is not None:
        query = select(ApiUser).where(
            col(ApiUser.disabled).is_(False),
            ApiUser.role == role,
            ApiUser.tier == at,
            ApiUser.division_code == division_for_tier(region_of, at),
        )
        if at.next_up() is None or session.exec(query.limit(1)).first() is not None:
            return query, climbed
        at, climbed = at.next_up(), True
    return select(ApiUser).where(col(ApiUser.id).is_(None)), False  # no tier: nobody


def _with_preferences(engine: Engine, users: list[ApiUser], default_locale: str) -> list[Recipient]:
    if not users:
        return []
    ids = [u.id for u in users]
    with Session(engine) as session:
        rows = session.exec(
            select(NotificationPreference).where(col(NotificationPreference.user_id).in_(ids))
        ).all()
    prefs = {p.user_id: p for p in rows}
    found = []
    for user in users:
        pref = prefs.get(user.id)
        if pref is None:
            found.append(
                Recipient(user_key(user.id), user.id, default_locale, frozenset({Channel.INBOX}))
            )
            continue
        channels = set()
        if pref.inbox:
            channels.add(Channel.INBOX)
        if pref.email_enabled and pref.email:
            channels.add(Channel.EMAIL)
        if pref.sms_enabled and pref.phone:
            channels.add(Channel.SMS)
        found.append(
            Recipient(user_key(user.id), user.id, pref.locale, frozenset(channels), pref.digest)
        )
    return found


def _enterprise(engine: Engine, request_id: str, locale: str) -> list[Recipient]:
    with Session(engine) as session:
        row = session.get(ServiceRequest, request_id)
    if row is None:
        return []
    channels = set()
    if row.contact_email:
        channels.add(Channel.EMAIL)
    if sms_number(row.contact_phone):  # a mobile: a landline or switchboard takes no text
        channels.add(Channel.SMS)
    return [Recipient(enterprise_key(request_id), None, locale, frozenset(channels))]
