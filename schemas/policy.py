"""SLA policy and business-calendar data, pinned into each workflow at submission."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta, timezone
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, Field

from schemas.domain import Category, Grade, Priority, Tier

# The first SLA policy, 2026.1, took effect at the start of 2026 in Asia/Shanghai: no request
# can have been submitted under a policy before it (``submitted_at`` is refused before this).
FIRST_POLICY_VERSION = "2026.1"
FIRST_POLICY_EFFECTIVE = datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=8)))


PLAIN_CALENDAR_PREFIX = "plain-"  # the version of a calendar without public holidays


class CalendarData(BaseModel):
    """Everything business-time arithmetic needs, pinned with the policy so replays give the
    same deadlines."""

    version: str
    utc_offset_minutes: int = 480  # Asia/Shanghai has had no DST since 1991
    working_periods: list[tuple[str, str]] = Field(
        default_factory=lambda: [("09:00", "12:00"), ("13:30", "17:30")]
    )
    weekend_days: list[int] = Field(default_factory=lambda: [5, 6])  # Monday is 0
    holidays: list[date] = Field(default_factory=list)  # days off on otherwise working days
    workdays: list[date] = Field(default_factory=list)  # make-up working days on weekends
    first_year: int
    last_year: int
    # years whose days off the State Council had not published yet when this was built: they
    # hold the fixed-date holidays only, without the official arrangement and make-up days
    estimated_years: list[int] = Field(default_factory=list)

    def covers(self, other: CalendarData) -> bool:
        """Whether this calendar spans every year ``other`` does."""
        return self.first_year <= other.first_year and self.last_year >= other.last_year

    def same_week(self, other: CalendarData) -> bool:
        """Whether both count the same working hours on the same weekdays in the same offset:
        only their days off may then differ."""
        return (
            self.utc_offset_minutes == other.utc_offset_minutes
            and [tuple(p) for p in self.working_periods]
            == [tuple(p) for p in other.working_periods]
            and sorted(self.weekend_days) == sorted(other.weekend_days)
        )

    def same_days(self, other: CalendarData) -> bool:
        """Whether both keep the same weekdays in the same offset (their hours may differ):
        the days off one publishes then apply to the other."""
        return self.utc_offset_minutes == other.utc_offset_minutes and sorted(
            self.weekend_days
        ) == sorted(other.weekend_days)

    def with_days_off_of(self, published: CalendarData) -> CalendarData:
        """This calendar's week and working hours with ``published``'s days off, years and
        version: how a policy counting other hours takes a published holiday calendar."""
        days = ("version", "holidays", "workdays", "first_year", "last_year", "estimated_years")
        return self.model_copy(update={name: getattr(published, name) for name in days})

    @property
    def observes_public_holidays(self) -> bool:
        """False for a policy's plain calendar (``public_holidays = false``: a round-the-clock
        desk), which no published holiday calendar replaces."""
        return not self.version.startswith(PLAIN_CALENDAR_PREFIX)


class SlaTarget(BaseModel):
    """Business-time targets at one tier."""

    response_seconds: int = Field(gt=0)
    resolution_seconds: int = Field(gt=0)


class SignForBreach(StrEnum):
    """What a missed sign-for deadline does."""

    REMIND = "remind"  # 催办: the unit is reminded; the request stays where it is
    ESCALATE = "escalate"  # re-dispatched to the tier above


class BreachAction(StrEnum):
    """What a missed response or resolution deadline does."""

    ESCALATE = "escalate"  # the request moves up a tier with fresh clocks
    SUPERVISE_IN_PLACE = "supervise_in_place"  # it stays with its unit; supervisors are alerted


class WaitExpiry(StrEnum):
    """What happens when the enterprise has not replied within the longest wait."""

    CLOSE = "close"  # closed as "no reply from the enterprise"; the enterprise is told
    RESUME = "resume"  # back to handling: the clocks run again


class PinnedPolicy(BaseModel):
    """The slice of the SLA policy that applies to one request, as it was at submission."""

    version: str
    targets: dict[Tier, SlaTarget]
    warning_thresholds: list[float] = Field(default_factory=lambda: [0.5, 0.8])
    reopen_window_seconds: int = Field(gt=0, description="Business seconds after resolution")
    rating_window_seconds: int = Field(
        default=0,
        ge=0,
        description="Business seconds after an automatic close during which the enterprise "
        "may still rate; 0 (policies pinned before this field) closes without waiting",
    )
    sign_for_seconds: int | None = Field(
        default=None,
        gt=0,
        description="Business seconds the holding unit has to sign for the request after each "
        "dispatch; None (policies pinned before sign-for) runs no sign-for clock",
    )
    sign_for_breach: SignForBreach = SignForBreach.REMIND
    response_from_sign_for: bool = Field(
        default=False, description="The response clock starts at sign-for, not at dispatch"
    )
    breach_action: BreachAction = BreachAction.ESCALATE
    return_window_seconds: int | None = Field(
        default=None,
        gt=0,
        description="Business seconds after dispatch within which the holder may return the "
        "request (退单); None (policies pinned before returns): any time while it holds it",
    )
    extension_max_days: int = Field(
        default=10, ge=0, description="Working days all approved extensions (延期) add at most"
    )
    extension_max_count: int = Field(default=2, ge=0, description="Approved extensions at most")
    enterprise_wait_max_seconds: int | None = Field(
        default=None,
        gt=0,
        description="Business seconds a request waits for the enterprise's reply at most; "
        "None (policies pinned before this field): no limit",
    )
    enterprise_wait_expiry: WaitExpiry = WaitExpiry.CLOSE
    suspension_max_days: int = Field(
        default=30, ge=0, description="Working days one approved suspension (挂起) lasts at most"
    )
    reminder_after_days: int = Field(
        default=1, ge=0, description="催办: working days after a missed deadline"
    )
    supervision_after_days: int = Field(
        default=5, ge=0, description="督办: working days after the reminder, if still late"
    )
    supervision_reply_days: int = Field(
        default=3, ge=1, description="Working days the unit has to reply to a supervision"
    )
    follow_up_after_days: int = Field(
        default=1, ge=0, description="回访: working days after the resolution"
    )
    follow_up_attempts: int = Field(
        default=3, ge=1, description="Unreachable follow-up calls before the request closes"
    )
    rectification_days: int | None = Field(
        default=None,
        ge=1,
        description="整改: working days the unit has after a rating of 1 or 2 (None: policies "
        "pinned before rectification)",
    )
    appeal_days: int = Field(
        default=5, ge=0, description="申诉: working days after the rating the unit may appeal"
    )
    appeal_decision_days: int | None = Field(
        default=None,
        ge=1,
        description="申诉审核: working days a supervisor has to decide an appeal before the "
        "appeal_decision_overdue reminder (None: policies pinned before this field, no deadline)",
    )
    bad_rating_needs_follow_up: bool = Field(
        default=False,
        description="A rating of 1 or 2 keeps the request open until it is followed up "
        "(False for policies pinned before this field)",
    )
    close_waits_for_follow_up: bool = Field(
        default=False,
        description="回访 closes the loop: a resolved request stays open past its reopen "
        "window until the follow-up desk has called (or its calls ran out), so no follow-up "
        "is skipped by the close (False for policies pinned before this field)",
    )
    decision_days: int | None = Field(
        default=None,
        ge=1,
        description="退单, 延期, 挂起: working days the tier above has to decide a unit's "
        "application before the decision_overdue reminder (None: policies pinned before "
        "this field, no deadline)",
    )
    supervision_ends_on_move: bool = Field(
        default=False,
        description="督办 of the holding unit ends when the request leaves it (escalated, sent "
        "to another unit): the unit, which can no longer act on it, owes no reply and is not "
        "reprimanded for none (False for policies pinned before this field)",
    )
    follow_up_spacing_hours: float | None = Field(
        default=None,
        gt=0,
        description="回访: working hours at least between two unreachable calls, so that the "
        "calls that close a request for nobody answering are made at different times (None: "
        "policies pinned before this field, no spacing)",
    )
    one_supervision_per_unit: bool = Field(
        default=False,
        description="督办: the ladder opens no supervision of a unit that already owes a "
        "written reply to one (its late step joins it), so one ignored request is not "
        "supervised and reprimanded once per clock (False for policies pinned before this "
        "field)",
    )
    chase_pauses_with_clocks: bool = Field(
        default=False,
        description="催办 → 督办 → 通报 stand still while the request's clocks do (an approved "
        "suspension, a wait for the enterprise) and resume as much later: no reminder, "
        "supervision or reprimand for a pause the tier above approved (False for policies "
        "pinned before this field)",
    )
    scope_follows_holder: bool = Field(
        default=False,
        description="督办, decisions and queues: a request held by a unit outside the "
        "enterprise's division (a province sent it to another city's county) is overseen by "
        "the supervisors and desks above that unit, not by those of the enterprise's region "
        "(False for policies pinned before this field)",
    )
    bad_rating_callback_after_close: bool = Field(
        default=False,
        description="差评回访: a bad rating given after the close (in the rating window) waits "
        "for the follow-up desk's call back, which it records on the closed request (False "
        "for policies pinned before this field)",
    )
    rectification_chased_in_redo: bool = Field(
        default=False,
        description="整改 while a 重办 handles the request again: its deadline is timed and "
        "chased then too, not only once the request is concluded again (False for policies "
        "pinned before this field)",
    )
    reassign_starts_fresh: bool = Field(
        default=False,
        description="改派: the unit a request is re-dispatched to gets its clocks afresh, as "
        "after an approved 退单, not what the unit it left had left of them (False for "
        "policies pinned before this field)",
    )
    extensions_per_stay: bool = Field(
        default=False,
        description="延期: the caps on approved extensions (count and working days) count "
        "the unit holding the request now, whose resolution clock an extension adds to, "
        "not every unit's before it (False for policies pinned before this field)",
    )
    rectification_owned_by_rated_unit: bool = Field(
        default=False,
        description="整改: its 催办 and 督办 chase the rated unit that owes it, wherever the "
        "request is, and neither a move nor the redo's conclusion ends them; not the unit "
        "holding the request (False for policies pinned before this field)",
    )
    calendar: CalendarData
    grade_declared: Grade | None = Field(
        default=None, description="The grade the submitter declared (None: pinned before it)"
    )
    grade_applied: Grade | None = Field(
        default=None,
        description="The grade the targets were scaled by: the one the enterprise grade "
        "registry held on the submission date (None: pinned before the registry, when the "
        "declared grade was used)",
    )
    directory_version: str | None = Field(
        default=None,
        description="The institution directory the request routes by, as it was at "
        "submission, so a later import changes nothing for it (None: pinned before directory "
        "versions, routed by the current directory)",
    )


class PolicyRequest(BaseModel):
    """Input of ``load_policy``: what decides a request's SLA."""

    category: Category
    priority: Priority
    grade: Grade = Grade.NONE
    submitted_at: AwareDatetime = Field(
        description="The workflow's clock at admission (it picks the calendar's years); never "
        "the time a client sent. The name is kept: recorded histories carry it"
    )
    uscc: str | None = Field(
        default=None,
        description="The enterprise's USCC, looked up in the grade registry (None: recorded "
        "before the registry; no grade is confirmed then)",
    )
    division_code: str | None = Field(
        default=None,
        description="The enterprise's division: its province's work-order rules apply (None: "
        "recorded before provinces had their own; the national defaults)",
    )


# Engine rules a request pins beside its policy file's figures: set for requests pinned from
# their release, off (None) for those pinned before. The admission's ``assigned`` event
# records them (details ``engine_rules``), so that a replay of a recording pins them as the
# request did (whatif.lookups), whichever rules the code has since.
ENGINE_RULES = (
    "supervision_ends_on_move",
    "chase_pauses_with_clocks",
    "decision_days",
    "one_supervision_per_unit",
    "follow_up_spacing_hours",
    "scope_follows_holder",
    "reassign_starts_fresh",
    "bad_rating_callback_after_close",
    "rectification_chased_in_redo",
    "extensions_per_stay",
    "rectification_owned_by_rated_unit",
)


def engine_rules(policy: PinnedPolicy) -> dict[str, object]:
    """The engine rules ``policy`` pins, as the ``assigned`` event records them."""
    return {name: getattr(policy, name) for name in ENGINE_RULES}


def as_recorded(policy: PinnedPolicy, recorded: Mapping[str, object] | None) -> PinnedPolicy:
    """``policy`` with the engine rules a recording says its request pinned: none recorded,
    it was pinned before them (each rule's default: off)."""
    found = recorded or {}
    defaults = {name: PinnedPolicy.model_fields[name].default for name in ENGINE_RULES}
    return policy.model_copy(
        update={name: found.get(name, defaults[name]) for name in ENGINE_RULES}
    )
