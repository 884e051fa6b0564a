"""Who may do what: the one role -> action table, used by the API and by the workflow.

The API refuses a caller's action by role (403) before it reaches the workflow; the
workflow's update validator checks the enterprise's row whatever path an action came by.
System clients hold explicit grants instead of a role row.
"""

from __future__ import annotations

from schemas.domain import TIER_ORDER, Role, Tier
from schemas.enterprise import division_tier
from schemas.lifecycle import OPERATOR_ACTIONS, ActionKind
from schemas.messages import N_, Said
from schemas.request import Actor

CASEWORKER_ACTIONS = frozenset(
    {
        ActionKind.SIGN_FOR,
        ActionKind.ACKNOWLEDGE,
        ActionKind.START,
        ActionKind.REQUEST_INFO,
        # the materials an enterprise hands in at the window, by phone or by mail, recorded by
        # the unit (补充材料): a walk-in enterprise has no portal of its own to send them
        ActionKind.PROVIDE_INFO,
        ActionKind.RESOLVE,
        ActionKind.REOPEN,
        ActionKind.ESCALATE,
        ActionKind.HAND_BACK,
        ActionKind.REJECT,
        ActionKind.COMMENT,
        ActionKind.RETURN,
        ActionKind.REQUEST_EXTENSION,
        ActionKind.SUSPEND,
        ActionKind.RESUME,
        ActionKind.CLAIM,
        ActionKind.TRANSFER,
        ActionKind.ADD_CO_HANDLER,
        ActionKind.SIGN_FOR_PART,
        ActionKind.CONCLUDE_PART,
        ActionKind.REPLY_SUPERVISION,
        ActionKind.CONCLUDE_RECTIFICATION,
        ActionKind.APPEAL_RATING,
    }
)
# Supervisors also dispatch: reassign, and decide returns and extensions of the tiers below.
SUPERVISOR_ACTIONS = CASEWORKER_ACTIONS | {
    ActionKind.REASSIGN,
    ActionKind.APPROVE_RETURN,
    ActionKind.REFUSE_RETURN,
    ActionKind.APPROVE_EXTENSION,
    ActionKind.REFUSE_EXTENSION,
    ActionKind.APPROVE_SUSPENSION,
    ActionKind.REFUSE_SUSPENSION,
    ActionKind.ASSIGN_HANDLER,  # the unit's lead names its handler
    ActionKind.WAIVE_PART,  # conclude without a co-handler's part
    ActionKind.SUPERVISE,  # 督办 by hand
    ActionKind.UPHOLD_APPEAL,  # 申诉 decided
    ActionKind.REJECT_APPEAL,
}
# What a tier above does to the unit holding a request (改派, 督办, decisions): a regional
# system client doing it in its own name is judged by where the request is overseen from
OVERSIGHT_ACTIONS = SUPERVISOR_ACTIONS - CASEWORKER_ACTIONS - {ActionKind.ASSIGN_HANDLER}
# The holding unit's own steps (its caseworkers, or its own lead): a supervisor of a tier above
# reassigns, supervises, decides or pulls the request up (escalate: 提级), and does not take
# them for the unit; taking them, it could ask an extension or a suspension and approve it too.
UNIT_STEPS = CASEWORKER_ACTIONS - {
    ActionKind.COMMENT,  # anyone in scope
    ActionKind.REOPEN,  # a supervisor above may send a conclusion back to be redone (重办)
    ActionKind.ESCALATE,  # a supervisor above may pull the request up (提级)
    ActionKind.SIGN_FOR_PART,  # the co-handling unit's, by its part (parts.co_handler_may)
    ActionKind.CONCLUDE_PART,
    ActionKind.REPLY_SUPERVISION,  # the supervised unit's (chasing.reply_refusal)
    ActionKind.CONCLUDE_RECTIFICATION,  # the rated unit's (rectification.of_another_unit)
    ActionKind.APPEAL_RATING,
}
ENTERPRISE_ACTIONS = frozenset(
    {ActionKind.PROVIDE_INFO, ActionKind.WITHDRAW, ActionKind.RATE, ActionKind.COMMENT}
)
# The follow-up desk (回访) asks the enterprise after conclusion; it may record its rating.
FOLLOW_UP_ACTIONS = frozenset({ActionKind.FOLLOW_UP, ActionKind.RATE, ActionKind.COMMENT})
# The dispatch desk (派单) sends requests to units and decides the returns (退单) they send
# back, re-dispatching them, and the extensions (延期) they ask for, as a supervisor may;
# supervision, suspensions and appeals stay with supervisors. It records a withdrawal the
# enterprise asks for by phone or at a window (撤单), with how and when it asked: not the
# holding unit, whose late request would leave its 考核 that way.
DISPATCHER_ACTIONS = frozenset(
    {
        ActionKind.REASSIGN,
        ActionKind.APPROVE_RETURN,
        ActionKind.REFUSE_RETURN,
        ActionKind.APPROVE_EXTENSION,
        ActionKind.REFUSE_EXTENSION,
        ActionKind.WITHDRAW,
        ActionKind.COMMENT,
    }
)
ROLE_ACTIONS: dict[Role, frozenset[ActionKind]] = {
    Role.CASEWORKER: CASEWORKER_ACTIONS,
    Role.SUPERVISOR: SUPERVISOR_ACTIONS,
    Role.FOLLOW_UP: FOLLOW_UP_ACTIONS,
    Role.DISPATCHER: DISPATCHER_ACTIONS,
    Role.ADMIN: frozenset(ActionKind),
    Role.ENTERPRISE: ENTERPRISE_ACTIONS,
}

# Staff users may submit and read requests in their scope; supervisors and admins see reports.
STAFF_ROLES = frozenset(
    {Role.CASEWORKER, Role.SUPERVISOR, Role.FOLLOW_UP, Role.DISPATCHER, Role.ADMIN}
)
# Roles whose people a unit's request may be handled by (承办人): its caseworkers and its lead.
HANDLER_ROLES = frozenset({Role.CASEWORKER, Role.SUPERVISOR})
# Roles that see their region at their tier and below (their institution names both).
REGIONAL_ROLES = frozenset({Role.SUPERVISOR, Role.FOLLOW_UP, Role.DISPATCHER})
REPORT_ROLES = frozenset({Role.SUPERVISOR, Role.ADMIN})
# A system client that reads requests sees the enterprise's contact masked unless granted this:
# a portal acting for the enterprise, which shows it its own contact (api.contact).
CONTACT_GRANT = "contact"
# What a system client can be granted: submit, read (requests and reports), contact (the
# enterprise's contact in full), or an action kind. Operator actions (retry or resolve a
# permanently failed step) are for admins only.
SYSTEM_GRANTS = frozenset(
    {
        "submit",
        "read",
        "reports",
        CONTACT_GRANT,
        *(k.value for k in ActionKind if k not in OPERATOR_ACTIONS),
    }
)

# A supervisor's region: the first digits of their institution's division code, by tier.
REGION_DIGITS = {Tier.NATIONAL: 0, Tier.PROVINCIAL: 2, Tier.MUNICIPAL: 4, Tier.COUNTY: 6}


def actor_kinds(actor: Actor) -> frozenset[ActionKind]:
    """The action kinds the actor's role allows, or a system client's grants."""
    if actor.role is Role.SYSTEM:
        return frozenset(kind for kind in ActionKind if kind.value in actor.grants)
    return ROLE_ACTIONS.get(actor.role, frozenset())


def kind_refusal(actor: Actor, kind: ActionKind) -> str | None:
    """Why the actor may never take ``kind``, whatever the request; None if it may."""
    if kind in actor_kinds(actor):
        return None
    if actor.role is Role.SYSTEM:
        return Said(
            N_("system client %(actor)s has no grant for %(kind)s"),
            actor=actor.id,
            kind=kind.value,
        )
    return Said(
        N_("role %(role)s may not %(kind)s a request"), role=actor.role.value, kind=kind.value
    )


def region_prefix(tier: Tier | None, division_code: str | None) -> str | None:
    """The division-code prefix of a supervisor's region ('' for national; None: no region)."""
    if tier is None or division_code is None:
        return None
    return division_code[: REGION_DIGITS[tier]]


def division_prefix(division_code: str) -> str:
    """The prefix of the codes inside a division: its province's, city's or county's digits."""
    return division_code[: REGION_DIGITS[division_tier(division_code)]]


def tiers_at_or_below(tier: Tier | None) -> list[Tier]:
    return [] if tier is None else TIER_ORDER[: tier.rank + 1]


def oversees(actor_tier: Tier, tier: Tier) -> bool:
    """Whether a tier decides and supervises for a request at ``tier``: a tier above it, or
    the national tier for its own (none is above it)."""
    return actor_tier.rank > tier.rank or actor_tier is tier is Tier.NATIONAL


def scope_division(enterprise_division: str, holder_division: str | None) -> str | None:
    """The division whose supervisors and desks oversee a request, when it is not the
    enterprise's: that of the unit holding it, when the enterprise's division lies outside
    it (a province sent the request to another city's county, e.g. after a 退单 for
    非本辖区). None: the enterprise's division serves, as it does whenever the holder's
    division contains it (the two then give every region the same answer)."""
    if holder_division is None or enterprise_division.startswith(division_prefix(holder_division)):
        return None
    return holder_division


def in_scope(
    actor: Actor,
    tier: Tier,
    institution_id: str | None,
    division_code: str,
    scope_division: str | None = None,
) -> bool:
    """Whether a request held at (tier, institution) from ``division_code`` is the actor's.

    Caseworkers: requests their institution holds. Supervisors and desks: requests of their
    region at their tier or below: from it, or held by a unit in it when the enterprise's
    division lies outside the holder's (``scope_division``). Admins: any request. System
    clients (limited by grants) and enterprises (acting through a system client that vouches
    for them): any request, or with a ``division_code`` (the region of a regional client,
    which the ingress sets) the requests from inside it.
    """
    if actor.role is Role.CASEWORKER:
        return institution_id is not None and institution_id == actor.institution_id
    if actor.role in REGIONAL_ROLES:
        prefix = region_prefix(actor.tier, actor.division_code)
        return (
            prefix is not None
            and (scope_division or division_code).startswith(prefix)
            and tier in tiers_at_or_below(actor.tier)
        )
    if actor.role in (Role.SYSTEM, Role.ENTERPRISE):
        region = actor.division_code
        return region is None or division_code.startswith(division_prefix(region))
    return actor.role is Role.ADMIN


def sends_back(actor: Actor, tier: Tier, holder: str | None) -> bool:
    """Whether a reopening by ``actor`` is a 重办 ordered from above: a supervisor of a tier
    above the request's (the national one at the top), not one of the holding unit."""
    if actor.role is not Role.SUPERVISOR or actor.tier is None:
        return False
    return actor.institution_id != holder and oversees(actor.tier, tier)


def unit_step_refusal(actor: Actor, kind: ActionKind, holder: str | None) -> str | None:
    """Why a supervisor may not take ``kind``, a step of the holding unit ``holder``, when it
    is not that unit's own lead; None if it may."""
    if actor.role is not Role.SUPERVISOR or kind not in UNIT_STEPS:
        return None
    if holder is not None and actor.institution_id == holder:
        return None
    return Said(
        N_(
            "supervisor %(actor)s may not %(kind)s for %(holder)s: the holding unit's "
            "caseworkers or its own lead do; a supervisor above reassigns or supervises"
        ),
        actor=actor.id,
        kind=kind.value,
        holder=holder or "-",
    )


def oversight_refusal(actor: Actor, kind: ActionKind, tier: Tier, holder: str | None) -> str | None:
    """Why a supervisor may not move the request, name its handler or supervise its unit
    (改派, 提级, 指派承办人, 督办); None if it may. The unit's own lead names its handler and may
    escalate, but does not reassign (it returns the request, 退单, or a late unit could move
    it away onto fresh clocks by itself) nor supervise its own unit (at the national tier,
    where none is above, it would write the reply to its own 督办); a supervisor of a tier
    above reassigns or pulls the request up (提级), and a lead of another unit at the same
    tier does neither."""
    moves = (
        ActionKind.REASSIGN,
        ActionKind.ESCALATE,
        ActionKind.ASSIGN_HANDLER,
        ActionKind.SUPERVISE,
    )
    if actor.role is not Role.SUPERVISOR or kind not in moves:
        return None
    own = holder is not None and actor.institution_id == holder
    if own and kind is ActionKind.SUPERVISE:  # at the national tier: another unit's lead does
        return Said(
            N_("supervisor %(actor)s may not supervise (督办) %(holder)s, its own unit"),
            actor=actor.id,
            holder=holder,
        )
    if kind is ActionKind.SUPERVISE:
        return None  # a tier above's (chasing.supervisor_refusal)
    if own and kind is ActionKind.REASSIGN:
        return Said(
            N_(
                "supervisor %(actor)s may not reassign a request %(holder)s holds: the unit "
                "returns it (退单) and the dispatch desk or a supervisor above reassigns it"
            ),
            actor=actor.id,
            holder=holder,
        )
    if own:
        return None
    if kind is ActionKind.ASSIGN_HANDLER:
        return Said(
            N_("supervisor %(actor)s may not name the handler for %(holder)s: its own lead does"),
            actor=actor.id,
            holder=holder or "-",
        )
    if actor.tier is not None and oversees(actor.tier, tier):
        return None
    return Said(
        N_(
            "supervisor %(actor)s may not %(kind)s a request the %(tier)s unit %(holder)s "
            "holds: its own lead escalates it, a supervisor of a tier above (or the dispatch "
            "desk) reassigns it"
        ),
        actor=actor.id,
        kind=kind.value,
        tier=tier.value,
        holder=holder or "-",
    )


def action_refusal(
    actor: Actor,
    kind: ActionKind,
    tier: Tier,
    institution_id: str | None,
    division_code: str,
    scope_division: str | None = None,
) -> str | None:
    """Why the actor may not take ``kind`` on this request (role, grants, scope); None if ok.
    ``scope_division``: see ``in_scope``."""
    refused = kind_refusal(actor, kind)
    if refused:
        return refused
    if actor.role is Role.SYSTEM and kind in OVERSIGHT_ACTIONS and scope_division is not None:
        # a regional client serves its enterprises wherever their requests are, but oversees
        # only the units of its region (属地)
        if in_scope(actor, tier, institution_id, scope_division):
            return None
        return Said(
            N_(
                "system %(actor)s acts in region %(region)s; the request is overseen from "
                "%(division)s (属地) since it was sent there"
            ),
            actor=actor.id,
            region=str(actor.division_code),
            division=scope_division,
        )
    if in_scope(actor, tier, institution_id, division_code, scope_division):
        return None
    if actor.role in (Role.SYSTEM, Role.ENTERPRISE):
        return Said(
            N_("%(role)s %(actor)s acts in region %(region)s; the request is from %(division)s"),
            role=actor.role.value,
            actor=actor.id if actor.via is None else f"{actor.id} (via {actor.via})",
            region=str(actor.division_code),
            division=division_code,
        )
    if actor.role is Role.CASEWORKER:
        return Said(
            N_(
                "caseworker %(actor)s belongs to institution %(institution)s, the request is "
                "held by %(holder)s"
            ),
            actor=actor.id,
            institution=str(actor.institution_id),
            holder=str(institution_id),
        )
    where = {
        "role": actor.role.value,
        "actor": actor.id,
        "actor_tier": actor.tier.value if actor.tier else "no",
        "region": str(actor.division_code),
        "tier": tier.value,
    }
    if scope_division is not None:  # sent to a unit outside the enterprise's division
        overseen = N_(
            "%(role)s %(actor)s oversees %(actor_tier)s tier region %(region)s; the request is "
            "at the %(tier)s tier, overseen from %(division)s (属地) since it was sent there"
        )
        return Said(overseen, **where, division=scope_division)
    return Said(
        N_(
            "%(role)s %(actor)s oversees %(actor_tier)s tier region %(region)s; the request is "
            "at the %(tier)s tier from %(division)s"
        ),
        **where,
        division=division_code,
    )


def enterprise_refusal(actor: Actor, uscc: str) -> str | None:
    """Why an enterprise may not act on this request: an enterprise acts as itself, its id
    its unified social credit code, and only on its own requests (a portal vouching for one
    enterprise must not rate, withdraw or answer for another). None if it may."""
    if actor.role is not Role.ENTERPRISE or actor.id == uscc:
        return None
    return Said(
        N_(
            "enterprise %(actor)s may act only on its own requests (an enterprise acts by its "
            "unified social credit code); this request is another enterprise's"
        ),
        actor=actor.id if actor.via is None else f"{actor.id} (via {actor.via})",
    )


def submit_refusal(actor: Actor, division_code: str) -> str | None:
    """Why the actor may not submit a request of an enterprise registered in
    ``division_code``: a regional client (and an enterprise it acts for) submits requests
    from its region only, as it acts only on those (``in_scope``). None if it may."""
    if actor.role not in (Role.SYSTEM, Role.ENTERPRISE) or actor.division_code is None:
        return None
    if division_code.startswith(division_prefix(actor.division_code)):
        return None
    return Said(
        N_(
            "%(role)s %(actor)s acts in region %(region)s; the enterprise is registered in "
            "%(division)s"
        ),
        role=actor.role.value,
        actor=actor.id if actor.via is None else f"{actor.id} (via {actor.via})",
        region=actor.division_code,
        division=division_code,
    )
