"""Working periods of a business day (``[("09:00", "12:00"), ...]``), parsed and checked.

One parser for the policy file's validation (``tierflow.policy``) and for the workflow's
business-time arithmetic (``workflows.business_time``). Pure stdlib, so the workflow sandbox
can import it and a replay parses a pinned calendar exactly as the original run did.
"""

from __future__ import annotations

from collections.abc import Sequence

US_PER_SECOND = 1_000_000


def _parse_hhmm(text: str) -> int:
    """Return microseconds since midnight for an ``HH:MM`` string ("24:00" allowed)."""
    hours, sep, minutes = text.partition(":")
    if not (sep and hours.isdigit() and minutes.isdigit() and len(minutes) == 2):
        raise ValueError(f"{text!r} is not HH:MM")
    value = int(hours) * 60 + int(minutes)
    if int(minutes) >= 60 or value > 24 * 60:
        raise ValueError(f"{text!r} is not a time of day between 00:00 and 24:00")
    return value * 60 * US_PER_SECOND


def parse_working_periods(periods: Sequence[Sequence[str]]) -> tuple[tuple[int, int], ...]:
    """Return periods as microseconds since midnight; raise ValueError naming the bad period."""
    parsed: list[tuple[int, int]] = []
    for index, period in enumerate(periods):
        try:
            start_text, end_text = period
            start, end = _parse_hhmm(start_text), _parse_hhmm(end_text)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"period {index} {tuple(period)!r}: {exc}") from None
        if end <= start:
            raise ValueError(f"period {index} {tuple(period)!r}: end must be after start")
        if parsed and start < parsed[-1][1]:
            raise ValueError(
                f"period {index} {tuple(period)!r}: must start after the previous period ends"
            )
        parsed.append((start, end))
    if not parsed:
        raise ValueError("at least one working period is required")
    return tuple(parsed)
