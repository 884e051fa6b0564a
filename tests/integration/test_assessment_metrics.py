"""The 考核 gauges at scrape time: a rolling 30 days, the figures of the assessment report."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from prometheus_client import CollectorRegistry
from sqlalchemy import Engine

from activities.persistence import TransitionWriter
from tests.integration.test_assessment import _corpus, _rate
from tierflow.directory import Directory
from tierflow.directory_store import fill_institutions
from tierflow.metrics import AssessmentCollector

NOW = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


def test_gauges_hold_the_last_30_days_per_institution(db_engine: Engine) -> None:
    recent, counts = _corpus(seed=21, n=40, start=NOW - timedelta(days=10))
    old, _ = _corpus(seed=22, n=15, start=NOW - timedelta(days=45))  # outside the window
    writer = TransitionWriter(db_engine)
    for rec in [*recent, *old]:
        writer.persist(rec)
    fill_institutions(db_engine, Directory.load())  # as a worker's start leaves them
    registry = CollectorRegistry()
    registry.register(AssessmentCollector(db_engine, clock=lambda: NOW))

    def rate(unit: str, name: str) -> float | None:
        labels = {"institution": unit, "tier": "county", "rate": name}
        return registry.get_sample_value("tierflow_assessment_rate", labels)

    def count(unit: str, name: str) -> float | None:
        labels = {"institution": unit, "tier": "county", "figure": name}
        return registry.get_sample_value("tierflow_assessment_count", labels)

    for unit, c in counts.items():
        assert rate(unit, "satisfaction_rate") == _rate(c["satisfied"], c["ratings"])
        assert rate(unit, "intake_satisfaction_rate") == _rate(
            c["intake_satisfied"], c["intake_ratings"]
        )
        assert count(unit, "intake_ratings") == (c["intake_ratings"] or None)
        assert rate(unit, "response_rate") == _rate(c["responded_on_time"], c["holds"])
        assert rate(unit, "resolution_rate") == _rate(c["solved"], c["followed_up"])
        assert count(unit, "holds") == c["holds"]  # the old corpus is out of the window
        for name in ("reminders", "supervisions", "reprimands", "rectifications"):
            assert count(unit, name) == (c[name] or None), (unit, name)  # zero: no series
    units = {
        s.labels["institution"]
        for m in registry.collect()
        for s in m.samples
        if m.name != "tierflow_assessment_tier_rate"
    }
    assert units == set(counts)
    # the tier's rate pools its units' marks (the league table's by-tier row), not their rates
    pooled = registry.get_sample_value(
        "tierflow_assessment_tier_rate", {"tier": "county", "rate": "satisfaction_rate"}
    )
    satisfied, ratings = (sum(c[k] for c in counts.values()) for k in ("satisfied", "ratings"))
    assert pooled == _rate(satisfied, ratings)
    rates = [r for u in counts if (r := rate(u, "satisfaction_rate")) is not None]
    assert pooled != round(sum(rates) / len(rates), 4)  # the corpus's units weigh differently


def test_the_gauges_are_tallied_again_after_the_refresh_only(db_engine: Engine) -> None:
    """Every worker is scraped every 15 s and a month's tally of a province takes most of a
    second: the gauges keep the last tally for 5 minutes, then take what happened since."""
    first, counts = _corpus(seed=21, n=20, start=NOW - timedelta(days=10))
    writer = TransitionWriter(db_engine)
    for rec in first:
        writer.persist(rec)
    now = [NOW]
    registry = CollectorRegistry()
    registry.register(AssessmentCollector(db_engine, clock=lambda: now[0]))

    def holds() -> float:
        return sum(
            s.value
            for m in registry.collect()
            for s in m.samples
            if s.name == "tierflow_assessment_count" and s.labels["figure"] == "holds"
        )

    before = holds()
    assert before == sum(c["holds"] for c in counts.values())
    later, _ = _corpus(seed=23, n=10, start=NOW - timedelta(days=5))
    for rec in later:
        writer.persist(rec)
    now[0] = NOW + timedelta(minutes=4)
    assert holds() == before  # the last tally, within the refresh
    now[0] = NOW + timedelta(minutes=5)
    assert holds() > before  # tallied again
