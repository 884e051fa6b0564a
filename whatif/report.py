"""A what-if's report: figures before and after per institution, tier, category and priority,
and the requests whose outcome changes. JSON for tools and the console, CSV for spreadsheets."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from whatif.outcome import Outcome

DIMENSIONS = ("institution", "tier", "category", "priority")
MEASURES = (
    "requests",
    "breaches",
    "escalations",
    "reminders",
    "supervisions",
    "warnings",
    "resolved",
    "on_time",
    "on_time_rate",
    "mean_resolution_business_hours",
)


@dataclass
class Figures:
    """Totals over a group of requests."""

    requests: int = 0
    breaches: int = 0
    escalations: int = 0
    reminders: int = 0
    supervisions: int = 0
    warnings: int = 0
    resolved: int = 0
    on_time: int = 0
    resolution_business_seconds: int = 0  # summed over the resolved

    def add(self, outcome: Outcome) -> None:
        self.requests += 1
        self.breaches += outcome.breaches
        self.escalations += outcome.escalations
        self.reminders += outcome.reminders
        self.supervisions += outcome.supervisions
        self.warnings += outcome.warnings
        self.resolved += outcome.resolved
        self.on_time += outcome.on_time
        self.resolution_business_seconds += outcome.resolution_business_seconds or 0

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = asdict(self)
        data.pop("resolution_business_seconds")
        # over every request, so that before and after share one denominator: a request the
        # candidate no longer lets resolve counts against it, as one late does
        data["on_time_rate"] = round(self.on_time / self.requests, 4) if self.requests else None
        data["mean_resolution_business_hours"] = (
            round(self.resolution_business_seconds / self.resolved / 3600, 2)
            if self.resolved
            else None
        )
        return data


def _keys(outcome: Outcome) -> dict[str, str]:
    return {
        "institution": outcome.institution_id or "-",
        "tier": outcome.tier,
        "category": outcome.category,
        "priority": outcome.priority,
    }


@dataclass
class Report:
    """Before (each request's own policy) and after (the candidate), side by side."""

    candidate_version: str
    scope: dict[str, Any]
    before: Figures = field(default_factory=Figures)
    after: Figures = field(default_factory=Figures)
    groups: dict[str, dict[str, tuple[Figures, Figures]]] = field(
        default_factory=lambda: {d: {} for d in DIMENSIONS}
    )
    changed: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)  # request id, reason
    refused_actions: int = 0  # recorded actions the candidate's flow no longer allowed
    as_of: datetime | None = None  # the instant the data stands for (timers after it not fired)

    def add(self, before: Outcome, after: Outcome, refused: int = 0) -> None:
        self.before.add(before)
        self.after.add(after)
        self.refused_actions += refused
        # a request stays in its own groups (by its figures before) on both sides, so each
        # group compares the same requests: one escalated further under the candidate is not
        # taken out of its tier's figures and its breaches credited to the tier above
        for dimension, key in _keys(before).items():
            pair = self.groups[dimension].setdefault(key, (Figures(), Figures()))
            pair[0].add(before)
            pair[1].add(after)
        fields = before.differs(after)
        if refused:  # so the request a refused action belongs to can be found
            fields.append("refused_actions")
        if fields:
            self.changed.append(
                {
                    "request_id": before.request_id,
                    "changed": fields,
                    "before": before.as_dict() | {"refused_actions": 0},
                    "after": after.as_dict() | {"refused_actions": refused},
                    "refused_actions": refused,  # recorded actions the candidate refused
                }
            )

    def skip(self, request_id: str, reason: str) -> None:
        self.skipped.append({"request_id": request_id, "reason": reason})

    def as_dict(self) -> dict[str, Any]:
        return {
            "candidate_version": self.candidate_version,
            "scope": self.scope,
            "requests": self.before.requests,
            "before": self.before.as_dict(),
            "after": self.after.as_dict(),
            "groups": {
                dimension: {
                    key: {"before": pair[0].as_dict(), "after": pair[1].as_dict()}
                    for key, pair in sorted(by_key.items())
                }
                for dimension, by_key in self.groups.items()
            },
            "changed": self.changed,
            "skipped": self.skipped,
            "refused_actions": self.refused_actions,
            "as_of": self.as_of.isoformat() if self.as_of else None,
        }


def merge(reports: Iterable[Report]) -> Report:
    """One report of several (the slices a run simulates in parallel)."""
    parts = list(reports)
    merged = Report(parts[0].candidate_version, parts[0].scope)
    for part in parts:
        for name in ("before", "after"):
            total, other = getattr(merged, name), getattr(part, name)
            for key, value in asdict(other).items():
                setattr(total, key, getattr(total, key) + value)
        for dimension, by_key in part.groups.items():
            for key, (before, after) in by_key.items():
                pair = merged.groups[dimension].setdefault(key, (Figures(), Figures()))
                for mine, theirs in zip(pair, (before, after), strict=True):
                    for name, value in asdict(theirs).items():
                        setattr(mine, name, getattr(mine, name) + value)
        merged.changed.extend(part.changed)
        merged.skipped.extend(part.skipped)
        merged.refused_actions += part.refused_actions
    merged.changed.sort(key=lambda c: c["request_id"])
    merged.skipped.sort(key=lambda s: s["request_id"])
    return merged


def groups_csv(report: dict[str, Any]) -> str:
    """One row per dimension, group and measure: before, after, and the difference."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["dimension", "group", "measure", "before", "after", "change"])
    rows = [("total", "all", report["before"], report["after"])]
    for dimension, by_key in report["groups"].items():
        rows += [(dimension, key, pair["before"], pair["after"]) for key, pair in by_key.items()]
    for dimension, key, before, after in rows:
        for measure in MEASURES:
            old, new = before[measure], after[measure]
            change = round(new - old, 4) if old is not None and new is not None else ""
            writer.writerow([dimension, key, measure, old, new, change])
    return out.getvalue()


def changed_csv(report: dict[str, Any]) -> str:
    """One row per changed request and changed field."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["request_id", "field", "before", "after"])
    for change in report["changed"]:
        for name in change["changed"]:
            writer.writerow(
                [change["request_id"], name, change["before"][name], change["after"][name]]
            )
    return out.getvalue()
