"""Enumerations of the domain: tiers, categories, priorities, grades, states, roles."""

from __future__ import annotations

from enum import StrEnum


class Tier(StrEnum):
    """Levels of the public service network, lowest first."""

    COUNTY = "county"
    MUNICIPAL = "municipal"
    PROVINCIAL = "provincial"
    NATIONAL = "national"

    @property
    def rank(self) -> int:
        return TIER_ORDER.index(self)

    def next_up(self) -> Tier | None:
        """Return the tier above, or None at the national tier."""
        return TIER_ORDER[self.rank + 1] if self.rank + 1 < len(TIER_ORDER) else None

    def next_down(self) -> Tier | None:
        """Return the tier below, or None at the county tier."""
        return TIER_ORDER[self.rank - 1] if self.rank > 0 else None


TIER_ORDER: list[Tier] = [Tier.COUNTY, Tier.MUNICIPAL, Tier.PROVINCIAL, Tier.NATIONAL]


class Category(StrEnum):
    FINANCING = "financing"
    DIGITAL_TRANSFORMATION = "digital_transformation"
    TECHNOLOGY_TRANSFER = "technology_transfer"
    TALENT = "talent"
    OVERSEAS_EXPANSION = "overseas_expansion"
    CERTIFICATION = "certification"
    POLICY_CONSULTATION = "policy_consultation"
    OTHER = "other"


class Priority(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


class SizeClass(StrEnum):
    MICRO = "micro"
    SMALL = "small"
    MEDIUM = "medium"


class Grade(StrEnum):
    """The specialized-new ladder: innovative SME -> specialized-new SME -> little giant."""

    NONE = "none"
    INNOVATIVE = "innovative"
    SPECIALIZED_NEW = "specialized_new"
    LITTLE_GIANT = "little_giant"


class State(StrEnum):
    SUBMITTED = "submitted"
    ASSIGNED = "assigned"
    ACKNOWLEDGED = "acknowledged"
    IN_PROGRESS = "in_progress"
    AWAITING_ENTERPRISE = "awaiting_enterprise"
    SUSPENDED = "suspended"  # 挂起 with a supervisor's approval: the clocks stand still
    RESOLVED = "resolved"
    CLOSED = "closed"
    WITHDRAWN = "withdrawn"
    REJECTED = "rejected"

    @property
    def is_terminal(self) -> bool:
        return self in (State.CLOSED, State.WITHDRAWN, State.REJECTED)


TERMINAL_STATES = frozenset(s for s in State if s.is_terminal)
# Held by an institution and not yet resolved: what queues, gauges and withdrawals count as open.
OPEN_STATES = frozenset(
    {
        State.ASSIGNED,
        State.ACKNOWLEDGED,
        State.IN_PROGRESS,
        State.AWAITING_ENTERPRISE,
        State.SUSPENDED,
    }
)


class Role(StrEnum):
    CASEWORKER = "caseworker"
    SUPERVISOR = "supervisor"
    FOLLOW_UP = "follow_up"  # 回访: the follow-up desk of a tier, for its region
    DISPATCHER = "dispatcher"  # 派单: the dispatch desk of a tier, for its region
    ADMIN = "admin"
    SYSTEM = "system"
    ENTERPRISE = "enterprise"


class ClockKind(StrEnum):
    RESPONSE = "response"
    RESOLUTION = "resolution"
    SIGN_FOR = "sign_for"  # 签收: the holding unit confirms it has taken the request


class SlaStatus(StrEnum):
    ON_TRACK = "on_track"
    WARNING = "warning"
    BREACHED = "breached"
    PAUSED = "paused"
    STOPPED = "stopped"
