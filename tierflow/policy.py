"""The versioned SLA policy file (``tierflow/data/sla_policy.toml``) and pinning it per request.

Policies are data: targets per priority in business hours, overridden per category and scaled
per tier and per grade. ``PolicyFile.pin`` resolves them for one request into seconds at every
tier, with the business calendar embedded, so the workflow never reads the file or a library.
"""

from __future__ import annotations

import re
import tomllib
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from schemas.divisions import DIVISION_INFO
from schemas.domain import TIER_ORDER, Category, Grade, Priority, Tier
from schemas.edge import full_match
from schemas.messages import N_, Said
from schemas.policy import (
    PLAIN_CALENDAR_PREFIX,
    BreachAction,
    CalendarData,
    PinnedPolicy,
    SignForBreach,
    SlaTarget,
    WaitExpiry,
)
from schemas.working_periods import parse_working_periods
from tierflow.calendar_data import build_calendar

PACKAGED_POLICY = "sla_policy.toml"
V = TypeVar("V")


class PolicyError(ValueError):
    """A policy file that cannot be read or does not validate; the message names the field
    (``said``: the same, read in the reader's language)."""

    def __init__(self, said: str) -> None:
        super().__init__(said)
        self.said = said


# Bounds that keep every deadline computable: an infinite, tiny or huge figure parses as a
# number but overflows, or means a target of a second, when a request is pinned.
MAX_HOURS = 10_000  # business hours: about five years of working days
MAX_DAYS = 1_000  # business days: about four years
MIN_FACTOR, MAX_FACTOR = 0.001, 10_000
MAX_TARGET_HOURS = 1_000_000  # a target with every factor applied: centuries, still a date


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class TargetHours(_Strict):
    """Default targets for one priority, in business hours."""

    response_hours: float = Field(gt=0, le=MAX_HOURS)
    resolution_hours: float = Field(gt=0, le=MAX_HOURS)


class TargetOverride(_Strict):
    """A category's override of one priority's targets; unset fields keep the default."""

    response_hours: float | None = Field(default=None, gt=0, le=MAX_HOURS)
    resolution_hours: float | None = Field(default=None, gt=0, le=MAX_HOURS)


class Factors(_Strict):
    """Multipliers on the targets (below 1 is stricter, above 1 more lenient)."""

    response_factor: float = Field(default=1.0, ge=MIN_FACTOR, le=MAX_FACTOR)
    resolution_factor: float = Field(default=1.0, ge=MIN_FACTOR, le=MAX_FACTOR)


class Targets(_Strict):
    priority: dict[Priority, TargetHours]
    category: dict[Category, dict[Priority, TargetOverride]] = Field(default_factory=dict)
    tier: dict[Tier, Factors] = Field(default_factory=dict)
    grade: dict[Grade, Factors] = Field(default_factory=dict)

    @field_validator("priority")
    @classmethod
    def _all_priorities(cls, value: dict[Priority, TargetHours]) -> dict[Priority, TargetHours]:
        return _with_every_priority(value)

    def hours(self, category: Category, priority: Priority) -> TargetHours:
        """Return the priority default with the category's override applied."""
        default = self.priority[priority]
        override = self.category.get(category, {}).get(priority, TargetOverride())
        return TargetHours(
            response_hours=override.response_hours or default.response_hours,
            resolution_hours=override.resolution_hours or default.resolution_hours,
        )

    @model_validator(mode="after")
    def _response_before_resolution(self) -> Targets:
        if set(self.priority) != set(Priority):
            return self  # already reported by the field validator
        for category in Category:
            for priority in Priority:
                hours = self.hours(category, priority)
                if hours.response_hours > hours.resolution_hours:
                    where = (
                        f"category.{category.value}.{priority.value}"
                        if priority in self.category.get(category, {})
                        else f"priority.{priority.value}"
                    )
                    raise ValueError(
                        f"{where}: response_hours ({hours.response_hours:g}) must not exceed "
                        f"resolution_hours ({hours.resolution_hours:g})"
                    )
        self._within_reach()
        return self

    def _within_reach(self) -> None:
        """Refuse targets that, with the largest tier and grade factors, leave the calendar:
        a request pinned by one would fail, and every new one with it."""
        for kind in ("response", "resolution"):
            hours = max(
                getattr(self.hours(c, p), f"{kind}_hours") for c in Category for p in Priority
            )
            tier = max((getattr(f, f"{kind}_factor") for f in self.tier.values()), default=1.0)
            grade = max((getattr(f, f"{kind}_factor") for f in self.grade.values()), default=1.0)
            longest = hours * max(tier, 1.0) * max(grade, 1.0)
            if longest > MAX_TARGET_HOURS:
                raise ValueError(
                    f"the longest {kind} target, {hours:g} hours by factors {tier:g} (tier) and "
                    f"{grade:g} (grade), is over {MAX_TARGET_HOURS} business hours"
                )


def _default_sign_for_hours() -> dict[Priority, float]:
    # Tianjin 12345: 15 minutes at risk to life or property, 30 for utilities, else 1 working day
    return {Priority.URGENT: 0.25, Priority.HIGH: 0.5, Priority.NORMAL: 7, Priority.LOW: 7}


class CategoryWorkOrders(_Strict):
    """A category's own sign-for deadlines (priorities it leaves out keep the default)."""

    sign_for_hours: dict[Priority, float] = Field(default_factory=dict)

    @field_validator("sign_for_hours")
    @classmethod
    def _positive(cls, value: dict[Priority, float]) -> dict[Priority, float]:
        return _positive_hours(value)


class ProvinceWorkOrders(_Strict):
    """A province's own work-order rules; what it leaves out keeps the national default."""

    sign_for_hours: dict[Priority, float] = Field(default_factory=dict)
    sign_for_breach: SignForBreach | None = None
    response_clock_from: Literal["dispatch", "sign_for"] | None = None
    breach_action: BreachAction | None = None
    return_window_business_days: float | None = Field(default=None, gt=0, le=MAX_DAYS)
    extension_max_business_days: int | None = Field(default=None, ge=0, le=MAX_DAYS)
    extension_max_count: int | None = Field(default=None, ge=0, le=MAX_DAYS)
    enterprise_wait_max_business_days: float | None = Field(default=None, gt=0, le=MAX_DAYS)
    enterprise_wait_expiry: WaitExpiry | None = None
    suspension_max_business_days: int | None = Field(default=None, ge=0, le=MAX_DAYS)
    reminder_after_business_days: int | None = Field(default=None, ge=0, le=MAX_DAYS)
    supervision_after_business_days: int | None = Field(default=None, ge=0, le=MAX_DAYS)
    supervision_reply_business_days: int | None = Field(default=None, ge=1, le=MAX_DAYS)
    follow_up_after_business_days: int | None = Field(default=None, ge=0, le=MAX_DAYS)
    follow_up_attempts: int | None = Field(default=None, ge=1, le=MAX_DAYS)
    rectification_business_days: int | None = Field(default=None, ge=1, le=MAX_DAYS)
    appeal_business_days: int | None = Field(default=None, ge=0, le=MAX_DAYS)
    appeal_decision_business_days: int | None = Field(default=None, ge=1, le=MAX_DAYS)

    @field_validator("sign_for_hours")
    @classmethod
    def _positive(cls, value: dict[Priority, float]) -> dict[Priority, float]:
        return _positive_hours(value)


class WorkOrders(_Strict):
    """The work-order rules (签收 and what a missed deadline does); defaults from 12345 rules.

    ``province`` (two-digit code, e.g. "37" for Shandong) overrides any rule for requests from
    that province; ``category`` then overrides the sign-for hours.
    """

    sign_for_hours: dict[Priority, float] = Field(default_factory=_default_sign_for_hours)
    category: dict[Category, CategoryWorkOrders] = Field(default_factory=dict)
    sign_for_breach: SignForBreach = SignForBreach.REMIND
    response_clock_from: Literal["dispatch", "sign_for"] = "dispatch"
    breach_action: BreachAction = BreachAction.ESCALATE
    # Shandong 12345: a return within 2 working days; extensions of 10 working days at most
    return_window_business_days: float = Field(default=2, gt=0, le=MAX_DAYS)
    extension_max_business_days: int = Field(default=10, ge=0, le=MAX_DAYS)
    extension_max_count: int = Field(default=2, ge=0, le=MAX_DAYS)
    enterprise_wait_max_business_days: float = Field(default=10, gt=0, le=MAX_DAYS)
    enterprise_wait_expiry: WaitExpiry = WaitExpiry.CLOSE
    suspension_max_business_days: int = Field(default=30, ge=0, le=MAX_DAYS)
    # a municipal bureau's rules: a reminder the working day after the deadline, a reprimand
    # still overdue 5 working days later (here: supervision, then a reprimand without a reply)
    reminder_after_business_days: int = Field(default=1, ge=0, le=MAX_DAYS)
    supervision_after_business_days: int = Field(default=5, ge=0, le=MAX_DAYS)
    supervision_reply_business_days: int = Field(default=3, ge=1, le=MAX_DAYS)
    follow_up_after_business_days: int = Field(default=1, ge=0, le=MAX_DAYS)  # 回访: the day after
    follow_up_attempts: int = Field(default=3, ge=1, le=MAX_DAYS)
    # the unreachable calls that close a request are at least this many working hours apart
    follow_up_spacing_business_hours: float = Field(default=2, gt=0, le=MAX_HOURS)
    # 办结 → 回访 → 评价: true keeps a resolved request open until it is followed up
    close_waits_for_follow_up: bool = False
    # Sichuan: a bad rating rectified within 15 working days (Dezhou: 5)
    rectification_business_days: int = Field(default=15, ge=1, le=MAX_DAYS)
    appeal_business_days: int = Field(default=5, ge=0, le=MAX_DAYS)
    # 申诉审核: decided within
    appeal_decision_business_days: int = Field(default=5, ge=1, le=MAX_DAYS)
    # Hengyang: a returned request re-routed within 1 working day; an application (退单,
    # 延期, 挂起) is decided within these, or the deciders are reminded
    decision_business_days: int = Field(default=1, ge=1, le=MAX_DAYS)
    province: dict[str, ProvinceWorkOrders] = Field(default_factory=dict)

    @field_validator("province")
    @classmethod
    def _known_provinces(
        cls, value: dict[str, ProvinceWorkOrders]
    ) -> dict[str, ProvinceWorkOrders]:
        unknown = sorted(code for code in value if f"{code}0000" not in DIVISION_INFO)
        if unknown:
            raise ValueError(f"unknown province codes {unknown} (two digits, e.g. '37')")
        return value

    def for_division(self, division_code: str | None) -> WorkOrders:
        """The rules for a request from ``division_code``: its province's over the defaults."""
        own = self.province.get((division_code or "")[:2])
        if own is None:
            return self
        changes = own.model_dump(exclude_none=True, exclude={"sign_for_hours"})
        changes["sign_for_hours"] = {**self.sign_for_hours, **own.sign_for_hours}
        return self.model_copy(update=changes)

    @field_validator("sign_for_hours")
    @classmethod
    def _every_priority(cls, value: dict[Priority, float]) -> dict[Priority, float]:
        return _positive_hours(_with_every_priority(value))

    def sign_for(self, category: Category, priority: Priority) -> float:
        """Business hours to sign for a request of this category and priority."""
        own = self.category.get(category, CategoryWorkOrders()).sign_for_hours
        return own.get(priority, self.sign_for_hours[priority])


def _with_every_priority(value: dict[Priority, V]) -> dict[Priority, V]:
    """``value`` if it has an entry for every priority."""
    missing = [p.value for p in Priority if p not in value]
    if missing:
        raise ValueError(f"missing priorities: {', '.join(missing)}")
    return value


def _positive_hours(value: dict[Priority, float]) -> dict[Priority, float]:
    bad = [p.value for p, hours in value.items() if not 0 < hours <= MAX_HOURS]
    if bad:
        raise ValueError(f"hours must be greater than 0 and at most {MAX_HOURS} ({', '.join(bad)})")
    return value


class CalendarSettings(_Strict):
    utc_offset_minutes: int = Field(default=480, ge=-720, le=840)
    working_periods: list[tuple[str, str]] = Field(min_length=1)
    horizon_years: int = Field(default=2, ge=0, le=10)
    public_holidays: bool = Field(
        default=True, description="false: no holiday data, e.g. for a round-the-clock desk"
    )
    weekend_days: list[int] = Field(
        default_factory=lambda: [5, 6], description="Days off each week (Monday is 0)"
    )

    @field_validator("weekend_days")
    @classmethod
    def _weekend(cls, value: list[int]) -> list[int]:
        if any(not 0 <= d <= 6 for d in value) or len(set(value)) == 7:
            raise ValueError("must be weekdays 0-6 (Monday is 0) leaving at least one working day")
        return value

    @model_validator(mode="after")
    def _weekend_of_holiday_data(self) -> CalendarSettings:
        # China's published days off and make-up working days (调休) assume Saturday and
        # Sunday off: other weekend days are for a calendar without them
        if self.public_holidays and sorted(set(self.weekend_days)) != [5, 6]:
            raise ValueError(
                "weekend_days: other days than Saturday and Sunday (5, 6) need "
                "public_holidays = false (the State Council's days off and make-up working "
                "days assume Saturday and Sunday)"
            )
        return self

    @field_validator("working_periods")
    @classmethod
    def _periods(cls, value: list[tuple[str, str]]) -> list[tuple[str, str]]:
        parse_working_periods(value)
        return value


# A policy version: it names the file in paths and the database (64 characters there), so
# no control character and no slash.
VERSION_PATTERN = r"^[^\x00-\x1f\x7f/]{1,64}$"


class PolicyFile(_Strict):
    """The whole SLA policy file, validated."""

    version: str
    warning_thresholds: list[float] = Field(min_length=1)
    reopen_window_business_days: float = Field(gt=0, le=MAX_DAYS)
    rating_window_business_days: float = Field(
        default=15,
        ge=0,
        le=MAX_DAYS,
        description="After an automatic close, a rating is taken for this long (0: none)",
    )
    calendar: CalendarSettings
    targets: Targets
    work_orders: WorkOrders = Field(default_factory=WorkOrders)

    @field_validator("version")
    @classmethod
    def _version(cls, value: str) -> str:
        if not full_match(VERSION_PATTERN, value):
            raise ValueError("must be 1-64 characters, without a slash or control characters")
        return value

    @field_validator("warning_thresholds")
    @classmethod
    def _thresholds(cls, value: list[float]) -> list[float]:
        if any(not 0 < t < 1 for t in value):
            raise ValueError("each threshold must be between 0 and 1 (exclusive)")
        if any(a >= b for a, b in zip(value, value[1:], strict=False)):
            raise ValueError("thresholds must be strictly increasing")
        return value

    def pin(
        self,
        category: Category,
        priority: Priority,
        grade: Grade,
        submitted_at: datetime,
        division_code: str | None = None,
    ) -> PinnedPolicy:
        """Resolve the targets for one request at every tier, with its calendar embedded.

        ``division_code`` (the enterprise's) picks its province's work-order rules.
        """
        hours = self.targets.hours(category, priority)
        grade_factors = self.targets.grade.get(grade, Factors())
        targets: dict[Tier, SlaTarget] = {}
        for tier in TIER_ORDER:
            tier_factors = self.targets.tier.get(tier, Factors())
            targets[tier] = SlaTarget(
                response_seconds=_seconds(
                    hours.response_hours,
                    tier_factors.response_factor * grade_factors.response_factor,
                ),
                resolution_seconds=_seconds(
                    hours.resolution_hours,
                    tier_factors.resolution_factor * grade_factors.resolution_factor,
                ),
            )
        calendar = self.calendar_for(self.local_year(submitted_at))
        rules = self.work_orders.for_division(division_code)
        return PinnedPolicy(
            version=self.version,
            targets=targets,
            warning_thresholds=list(self.warning_thresholds),
            reopen_window_seconds=_seconds(
                self.reopen_window_business_days, _business_day_hours(self.calendar)
            ),
            rating_window_seconds=(
                _seconds(self.rating_window_business_days, _business_day_hours(self.calendar))
                if self.rating_window_business_days
                else 0
            ),
            calendar=calendar,
            sign_for_seconds=_seconds(rules.sign_for(category, priority), 1.0),
            sign_for_breach=rules.sign_for_breach,
            response_from_sign_for=rules.response_clock_from == "sign_for",
            breach_action=rules.breach_action,
            return_window_seconds=_seconds(
                rules.return_window_business_days, _business_day_hours(self.calendar)
            ),
            extension_max_days=rules.extension_max_business_days,
            extension_max_count=rules.extension_max_count,
            enterprise_wait_max_seconds=_seconds(
                rules.enterprise_wait_max_business_days, _business_day_hours(self.calendar)
            ),
            enterprise_wait_expiry=rules.enterprise_wait_expiry,
            suspension_max_days=rules.suspension_max_business_days,
            reminder_after_days=rules.reminder_after_business_days,
            supervision_after_days=rules.supervision_after_business_days,
            supervision_reply_days=rules.supervision_reply_business_days,
            follow_up_after_days=rules.follow_up_after_business_days,
            follow_up_attempts=rules.follow_up_attempts,
            bad_rating_needs_follow_up=True,
            supervision_ends_on_move=True,
            chase_pauses_with_clocks=True,
            one_supervision_per_unit=True,
            scope_follows_holder=True,
            reassign_starts_fresh=True,
            bad_rating_callback_after_close=True,
            rectification_chased_in_redo=True,
            extensions_per_stay=True,
            rectification_owned_by_rated_unit=True,
            follow_up_spacing_hours=rules.follow_up_spacing_business_hours,
            close_waits_for_follow_up=rules.close_waits_for_follow_up,
            rectification_days=rules.rectification_business_days,
            appeal_days=rules.appeal_business_days,
            appeal_decision_days=rules.appeal_decision_business_days,
            decision_days=rules.decision_business_days,
        )

    def local_year(self, at: datetime) -> int:
        """The year ``at`` falls in where the calendar's working hours are kept (China time):
        a request admitted at 07:00 on 1 January there is of the new year, not UTC's old one."""
        return at.astimezone(timezone(timedelta(minutes=self.calendar.utc_offset_minutes))).year

    def calendar_for(self, year: int) -> CalendarData:
        """Return a private copy of the calendar covering ``year`` and the horizon after it."""
        cal = self.calendar
        if not cal.public_holidays:
            return CalendarData(
                version=f"{PLAIN_CALENDAR_PREFIX}{year}-{year + cal.horizon_years}",
                utc_offset_minutes=cal.utc_offset_minutes,
                working_periods=list(cal.working_periods),
                weekend_days=list(cal.weekend_days),
                first_year=year,
                last_year=year + cal.horizon_years,
            )
        cached = _cached_calendar(
            year,
            year + cal.horizon_years,
            tuple(cal.working_periods),
            cal.utc_offset_minutes,
        )
        return cached.model_copy(deep=True)


def _seconds(hours: float, factor: float) -> int:
    """Return whole business seconds (at least one) for hours scaled by a factor."""
    return max(1, round(hours * factor * 3600))


def _business_day_hours(cal: CalendarSettings) -> float:
    periods = parse_working_periods(cal.working_periods)
    return sum(end - start for start, end in periods) / 3_600_000_000


@lru_cache(maxsize=32)
def _cached_calendar(
    first_year: int,
    last_year: int,
    working_periods: tuple[tuple[str, str], ...],
    utc_offset_minutes: int,
) -> CalendarData:
    """Build a calendar once per year range (the holidays library is slow to expand)."""
    return build_calendar(
        first_year, last_year, working_periods, utc_offset_minutes=utc_offset_minutes
    )


def _reason(error: dict[str, Any]) -> str:
    """Turn one pydantic error into a short reason (read in the reader's language where it
    is one of ours)."""
    kind, ctx = error["type"], error.get("ctx", {})
    if kind == "missing":
        return Said(N_("is required"))
    if kind == "extra_forbidden":
        return Said(N_("is not a known field"))
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        symbol = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<"}.get(kind, "<=")
        bound = next(iter(ctx.values()))
        shown = f"{bound:g}" if isinstance(bound, float) else str(bound)
        return Said(N_("must be %(symbol)s %(bound)s"), symbol=symbol, bound=shown)
    if kind == "enum":
        return Said(
            N_("must be one of %(expected)s, got %(got)s"),
            expected=ctx.get("expected", ""),
            got=repr(error["input"]),
        )
    if kind == "value_error":
        cause = ctx.get("error", error["msg"])
        return cause if isinstance(cause, Said) else str(cause)
    message: str = error["msg"]
    return message[:1].lower() + message[1:]


def _path(loc: tuple[Any, ...]) -> str:
    """Render a pydantic location as a dotted path (``[key]`` markers dropped)."""
    parts: list[str] = []
    for item in loc:
        if item == "[key]":
            continue
        parts.append(f"[{item}]" if isinstance(item, int) else str(item))
    return ".".join(parts).replace(".[", "[")


def _describe(error: dict[str, Any]) -> str:
    """Return ``path: reason`` for one pydantic error.

    A model validator can only fail at its model's location, so it names the sub-field in its
    message (``"priority.high: ..."``); that prefix is moved into the path here.
    """
    path, reason = _path(error["loc"]), _reason(error)
    if error["type"] == "value_error" and (match := _SUBPATH.match(reason)):
        path, reason = ".".join(p for p in (path, match[1]) if p), match[2]
    return Said(N_("%(path)s: %(reason)s"), path=path or Said(N_("(top level)")), reason=reason)


_SUBPATH = re.compile(r"^([A-Za-z_][\w.]*): (.*)$", re.DOTALL)


def parse_policy(text: str, source: str = PACKAGED_POLICY) -> PolicyFile:
    """Parse and validate policy TOML; raise PolicyError listing each field and reason."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        said = Said(N_("%(source)s: invalid TOML: %(reason)s"), source=source, reason=str(exc))
        raise PolicyError(said) from None
    try:
        return PolicyFile.model_validate(data)
    except ValidationError as exc:
        lines = [
            Said(N_("%(source)s: %(problem)s"), source=source, problem=_describe(dict(err)))
            for err in exc.errors()
        ]
        raise PolicyError(Said.joined(lines)) from None


def load_policy_file(path: Path | None = None) -> PolicyFile:
    """Load the policy from ``path``, or the packaged ``tierflow/data/sla_policy.toml``."""
    if path is None:
        text = resources.files("tierflow.data").joinpath(PACKAGED_POLICY).read_text("utf-8")
        return parse_policy(text, PACKAGED_POLICY)
    try:
        text = Path(path).read_text("utf-8")
    except OSError as exc:
        raise PolicyError(f"{path}: cannot read policy file: {exc.strerror or exc}") from None
    return parse_policy(text, Path(path).name)
