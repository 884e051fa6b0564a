"""What the simulated workflow's local activities answer: its policy, routing and checks.

Production answers them from the policy file, the directory and the accounts as they stood;
a what-if answers them from the audit trail where the trail knows (the institution that held
the request at each tier, the handlers a unit named) and from the directory where the
candidate policy takes the request somewhere the recording never went.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date

from schemas.domain import Grade, Tier
from schemas.enterprise import division_for_tier
from schemas.lifecycle import (
    Admission,
    AdmitRequest,
    EventType,
    HandlerAnswer,
    HandlerCheck,
    Institution,
    RouteRequest,
    TargetAnswer,
    TargetCheck,
)
from schemas.policy import CalendarData, PinnedPolicy, PolicyRequest, as_recorded
from tierflow.db.models import Transition
from tierflow.directory import Directory
from tierflow.grades import local_day
from tierflow.policy import PolicyFile
from whatif.driver import Lookup, SimulationError
from whatif.trail import Calendars

# events after which the row's institution holds the request at the row's tier
ARRIVALS = frozenset(
    {
        EventType.ASSIGNED,
        EventType.ESCALATED,
        EventType.HANDED_BACK,
        EventType.REASSIGNED,
        EventType.RETURN_APPROVED,
    }
)
GradeOn = Callable[[str, date], Grade]


class Pinning:
    """Pins a policy file for one request as ``load_policy`` does, cached per request shape.

    ``calendar`` replaces the file's calendar (a what-if of a calendar change). Without one,
    a request counts the days off of the calendar its admission recorded (``calendars``: the
    recorded ones by version), in the policy's working hours: the installed ``holidays`` data
    may have been upgraded since.
    """

    def __init__(
        self,
        policy: PolicyFile,
        grade_on: GradeOn,
        calendar: CalendarData | None = None,
        as_recorded: bool = False,
        calendars: Calendars | None = None,
    ) -> None:
        self.policy = policy
        self.grade_on = grade_on
        self.calendar = calendar
        self.calendars = calendars
        # a request's own policy: the engine rules as its recording says it pinned them (a
        # candidate pins today's, as a release of it would)
        self.as_recorded = as_recorded
        self._pinned: dict[tuple[object, ...], PinnedPolicy] = {}

    @property
    def version(self) -> str:
        return self.policy.version

    def pin(
        self,
        req: PolicyRequest,
        recorded_grade: Grade | None = None,
        recorded_calendar: str | None = None,
    ) -> PinnedPolicy:
        """Pin as the admission did: the grade its recording says it applied (else the
        registry's on the submission day, as it stands now), the calendar of its year in
        China time with the days off of the calendar version it recorded.

        SimulationError if that version is neither the installed data's nor recorded."""
        applied = recorded_grade or self.grade_on(req.uscc or "", local_day(req.submitted_at))
        year = self.policy.local_year(req.submitted_at)
        key = (req.category, req.priority, applied, year, req.division_code, recorded_calendar)
        pinned = self._pinned.get(key)
        if pinned is None:
            pinned = self.policy.pin(
                req.category, req.priority, applied, req.submitted_at, req.division_code
            )
            if self.calendar is not None:
                pinned = pinned.model_copy(update={"calendar": self.calendar})
            elif recorded_calendar not in (None, pinned.calendar.version):
                pinned = self._with_recorded_days(pinned, recorded_calendar)
            self._pinned[key] = pinned
        return pinned.model_copy(update={"grade_declared": req.grade, "grade_applied": applied})

    def _with_recorded_days(self, pinned: PinnedPolicy, version: str) -> PinnedPolicy:
        """``pinned`` counting the days off of calendar ``version`` (the recorded admission's),
        where it pins a calendar of public holidays for the same years (a candidate of other
        years or of no public holidays keeps its own); SimulationError if the request's own
        policy needs a calendar not recorded."""
        own = pinned.calendar
        days = self.calendars(version) if self.calendars else None
        if days is None:
            if self.as_recorded:
                raise SimulationError(
                    f"the calendar {version} its admission pinned is not recorded "
                    f"(the installed data gives {own.version})"
                )
            return pinned
        same_years = (days.first_year, days.last_year) == (own.first_year, own.last_year)
        if not self.as_recorded and not (own.observes_public_holidays and same_years):
            return pinned
        return pinned.model_copy(update={"calendar": own.with_days_off_of(days)})


@dataclass
class TrailLookups:
    """The lookups of one request: recorded answers first, then the directory."""

    pinning: Pinning
    directory: Directory
    held_at: dict[Tier, str] = field(default_factory=dict)  # tier -> first recorded holder
    handlers: set[tuple[str, str]] = field(default_factory=set)  # (handler, institution)
    pinned: PinnedPolicy | None = None  # what the admission pinned
    engine_rules: dict[str, object] | None = None  # as the recorded admission pinned them
    grade_applied: Grade | None = None  # the grade the recorded admission scaled targets by
    calendar_version: str | None = None  # the calendar the recorded admission pinned

    @classmethod
    def of(cls, rows: list[Transition], pinning: Pinning, directory: Directory) -> TrailLookups:
        found = cls(pinning, directory)
        assigned = False
        for row in rows:
            if row.event_type is EventType.CALENDAR_UPDATED and not assigned:
                # published while the admission was held: it pinned the calendar before
                version = (row.details or {}).get("from_version")
                if found.calendar_version is None and isinstance(version, str):
                    found.calendar_version = version
            assigned = assigned or row.event_type is EventType.ASSIGNED
            if row.event_type in ARRIVALS and row.institution_id is not None:
                found.held_at.setdefault(row.to_tier, row.institution_id)
            if row.event_type is EventType.HANDLER_CHANGED and row.institution_id is not None:
                found.handlers.add((str(row.details.get("handler_id")), row.institution_id))
            if row.event_type is EventType.ASSIGNED and isinstance(
                rules := (row.details or {}).get("engine_rules"), dict
            ):
                found.engine_rules = rules
                grade = row.details.get("grade_applied")
                found.grade_applied = Grade(grade) if isinstance(grade, str) else None
                version = row.details.get("calendar_version")
                if found.calendar_version is None and isinstance(version, str):
                    found.calendar_version = version
        return found

    def route(self, req: RouteRequest) -> Institution | None:
        held = self.held_at.get(req.tier)
        if held is None:
            return self.directory.route(req.division_code, req.category, req.tier)
        entry = self.directory.get(held)
        if entry is not None:
            return entry.institution()
        code = division_for_tier(req.division_code, req.tier)
        return Institution(id=held, name=held, tier=req.tier, division_code=code)

    def admit(self, req: AdmitRequest) -> Admission:
        self.pinned = self.pinning.pin(req.policy, self.grade_applied, self.calendar_version)
        if self.pinning.as_recorded:
            self.pinned = as_recorded(self.pinned, self.engine_rules)
        try:
            return Admission(policy=self.pinned, institution=self.route(req.route))
        except (KeyError, ValueError) as exc:
            return Admission(
                policy=self.pinned, route_error_type="RoutingFailed", route_error=str(exc)
            )

    def check_target(self, check: TargetCheck) -> TargetAnswer:
        return self.directory.check_target(check)

    def check_handler(self, check: HandlerCheck) -> HandlerAnswer:
        if (check.handler_id, check.institution_id) in self.handlers:
            return HandlerAnswer()
        return HandlerAnswer(
            refusal=f"handler_id: {check.handler_id} never handled a request at "
            f"{check.institution_id} in the recording"
        )

    def answers(self) -> Mapping[str, Lookup]:
        """The lookups by activity name, as the driver calls them."""
        return {
            "admit_request": self.admit,
            "resolve_institution": self.route,
            "check_target": self.check_target,
            "check_handler": self.check_handler,
        }
