"""An SLA policy file whose timers fire within seconds, for the worker subprocess to load.

The calendar is round the clock (``00:00``-``24:00``, no weekends, no public holidays), so
business seconds are wall-clock seconds; :func:`pick_utc_offset` therefore finds offset 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tierflow.policy import parse_policy
from workflows.business_time import business_seconds_between

DAY_SECONDS = 86_400
# Offsets the policy file accepts (-12:00 .. +14:00), nearest to UTC first.
OFFSETS = sorted(range(-720, 841, 60), key=abs)


@dataclass(frozen=True)
class Targets:
    """Business seconds: urgent requests get their own (short) targets, the others share."""

    response: int = 3600
    resolution: int = 7200
    urgent_response: int = 3600
    urgent_resolution: int = 7200
    reopen_window: int = 3
    version: str = "chaos-1"


def policy_text(targets: Targets, utc_offset_minutes: int) -> str:
    """Return the TOML of a round-the-clock policy with the given targets."""

    def hours(seconds: int) -> str:
        return repr(seconds / 3600)

    blocks = []
    for priority in ("urgent", "high", "normal", "low"):
        urgent = priority == "urgent"
        response = targets.urgent_response if urgent else targets.response
        resolution = targets.urgent_resolution if urgent else targets.resolution
        blocks.append(
            f"[targets.priority.{priority}]\n"
            f"response_hours = {hours(response)}\n"
            f"resolution_hours = {hours(resolution)}\n"
        )
    return (
        f'version = "{targets.version}"\n'
        "warning_thresholds = [0.5]\n"
        f"reopen_window_business_days = {targets.reopen_window / DAY_SECONDS!r}\n\n"
        "[calendar]\n"
        f"utc_offset_minutes = {utc_offset_minutes}\n"
        'working_periods = [["00:00", "24:00"]]\n'
        "public_holidays = false\n"
        "weekend_days = []\n"
        "horizon_years = 0\n\n" + "\n".join(blocks)
    )


def pick_utc_offset(targets: Targets, horizon: timedelta, now: datetime | None = None) -> int:
    """Return a UTC offset under which every second from now to now+horizon is business time."""
    start = now or datetime.now(UTC)
    end = start + horizon
    want = int(horizon.total_seconds())
    for offset in OFFSETS:
        policy = parse_policy(policy_text(targets, offset), "chaos-policy.toml")
        calendar = policy.calendar_for(start.year)
        if business_seconds_between(start, end, calendar) >= want:
            return offset
    raise RuntimeError(
        f"no UTC offset in -12:00..+14:00 makes {start:%Y-%m-%d %H:%M} UTC plus {horizon} a "
        "working period in the CN calendar (weekend or holiday everywhere); the policy file "
        "cannot disable weekends/holidays yet (see docs/reliability.md), run again later"
    )


def write_policy(path: Path, targets: Targets, horizon: timedelta) -> Path:
    """Write the policy file, with an offset that keeps the whole run in business time."""
    offset = pick_utc_offset(targets, horizon)
    path.write_text(policy_text(targets, offset), encoding="utf-8")
    parse_policy(path.read_text(encoding="utf-8"), path.name)  # fail here, not in the worker
    return path
