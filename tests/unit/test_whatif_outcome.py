"""A what-if's figures of one request (``whatif.outcome``): resolved for good, on time by its
resolution clock (as 考核's 按时办结), and the rate over every request, so that before and after
share one denominator."""

from __future__ import annotations

from schemas.domain import State, Tier
from schemas.lifecycle import EventType
from tests.utils.factories import RecordFactory, make_request
from whatif.outcome import Outcome, outcome_of
from whatif.report import Figures, Report, changed_csv


def _outcome(factory: RecordFactory, records: list) -> Outcome:
    req = factory.request
    return outcome_of(req.request_id, req.category.value, req.priority.value, records, None)


def test_a_request_reopened_and_still_open_is_not_resolved() -> None:
    f = RecordFactory(make_request("req-reopened"))
    records = [f.submitted(), f.assigned("zj-330106-sme"), f.resolved()]
    records.append(f.emit(EventType.REOPENED, State.IN_PROGRESS))
    outcome = _outcome(f, records)
    assert (outcome.resolved, outcome.on_time, outcome.state) == (False, False, "in_progress")
    records += [f.resolved(), f.closed()]
    assert _outcome(f, records).resolved is True


def test_on_time_is_kept_by_the_resolution_clock_only() -> None:
    f = RecordFactory(make_request("req-late-sign-for"))
    records = [f.submitted(), f.assigned("zj-330106-sme"), f.breached("sign_for"), f.resolved()]
    outcome = _outcome(f, records)
    assert (outcome.breaches, outcome.on_time) == (1, True)
    late = RecordFactory(make_request("req-late"))
    records = [late.submitted(), late.assigned("zj-330106-sme"), late.breached("resolution")]
    assert _outcome(late, [*records, late.resolved()]).on_time is False


def test_the_on_time_rate_counts_every_request() -> None:
    """Two requests, one resolved on time: 0.5 (over the resolved only, it read 1.0, and a
    candidate that kept fewer requests from resolving at all looked better)."""
    figures = Figures()
    done = RecordFactory(make_request("req-done"))
    figures.add(_outcome(done, [done.submitted(), done.assigned("zj-330106-sme"), done.resolved()]))
    open_ = RecordFactory(make_request("req-open"))
    figures.add(_outcome(open_, [open_.submitted(), open_.assigned("zj-330106-sme")]))
    assert figures.as_dict()["on_time_rate"] == 0.5


def test_a_group_compares_the_same_requests_before_and_after() -> None:
    """Resolved on time at its county unit as recorded; escalated twice and late under the
    candidate: the county's group holds it on both sides with its breaches after, and no
    national group appears with a request the recording never sent there."""
    f = RecordFactory(make_request("req-escalated-after"))
    first = [f.submitted(), f.assigned("zj-330106-sme", Tier.COUNTY)]
    before = _outcome(f, [*first, f.resolved()])
    late = [
        *first,
        f.breached("resolution"),
        f.escalated("zj-330100-sme", Tier.MUNICIPAL),
        f.breached("resolution"),
        f.escalated("zj-330000-sme", Tier.PROVINCIAL),
    ]
    after = _outcome(f, late)
    report = Report("candidate", {})
    report.add(before, after)
    tiers = report.as_dict()["groups"]["tier"]
    assert list(tiers) == ["county"]
    assert tiers["county"]["before"]["requests"] == tiers["county"]["after"]["requests"] == 1
    assert (tiers["county"]["before"]["breaches"], tiers["county"]["after"]["breaches"]) == (0, 2)


def test_a_request_whose_recorded_action_the_candidate_refuses_is_listed() -> None:
    """Its figures are the same, but a supervisor must find which request lost an action: it
    is listed as changed, with the refusals, in the report and its CSV."""
    f = RecordFactory(make_request("req-refused"))
    same = _outcome(f, [f.submitted(), f.assigned("zj-330106-sme"), f.resolved()])
    report = Report("candidate", {})
    report.add(same, same, refused=1)
    [change] = report.as_dict()["changed"]
    assert change["request_id"] == "req-refused" and change["changed"] == ["refused_actions"]
    rows = changed_csv(report.as_dict()).splitlines()
    assert rows[1] == "req-refused,refused_actions,0,1"
