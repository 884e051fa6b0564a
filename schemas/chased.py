"""Which unit a late step's chase (催办 → 督办 → 通报) is about. Pure.

A late co-handling part (协办) is its co-handler's, chased by the clock ``part:<unit>``; any
other chased step is the holding unit's. The workflow supervises that unit, the notifier tells
it, the read model keeps the request in its scope until it replies, and 考核 charges it.
"""

from __future__ import annotations

from collections.abc import Mapping

PART_CLOCK = "part:"  # a co-handling unit's part: ``part:<its institution id>``
CHASE_EVENTS = frozenset({"reminded", "supervision_opened", "reprimanded"})


def part_clock(unit: str) -> str:
    """The clock a late part of ``unit`` is chased by."""
    return f"{PART_CLOCK}{unit}"


def part_unit(clock: str | None) -> str | None:
    """The co-handling unit a chase's clock is about (``part:<unit>``); None for the holder's."""
    if clock is not None and clock.startswith(PART_CLOCK):
        return clock[len(PART_CLOCK) :]
    return None


def charged_unit(event_type: str, details: Mapping[str, object], holder: str | None) -> str | None:
    """The unit an event is about, and 考核 charges: a 整改's rated unit (wherever the request
    is now); for a chasing event (催办, 督办, 通报) a late part's co-handler, the unit a
    reprimand names; else the holder. ``tierflow.assessment`` says the same in SQL
    (``_charged``)."""
    if rectifier := _text(details.get("rectifying_institution")):
        return rectifier
    if event_type in CHASE_EVENTS:
        unit = part_unit(_text(details.get("clock"))) or _text(details.get("co_handler"))
        if event_type != "reminded":
            unit = unit or _text(details.get("supervised_institution"))
        return unit or holder
    return holder


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
