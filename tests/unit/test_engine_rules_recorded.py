"""A request's own policy in a replay pins the engine rules its recording says it pinned:
``assigned`` records them; a request admitted before they existed recorded none, and ran
with each off (``schemas.policy.as_recorded``), whichever rules the code has since."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

from schemas.domain import Category, Grade, Priority, Tier
from schemas.lifecycle import EventType
from schemas.policy import ENGINE_RULES, PolicyRequest, as_recorded, engine_rules
from tests.utils.factories import make_policy

ON = {
    "supervision_ends_on_move": True,
    "chase_pauses_with_clocks": True,
    "decision_days": 1,
    "one_supervision_per_unit": True,
    "follow_up_spacing_hours": 2,
    "scope_follows_holder": True,
    "reassign_starts_fresh": True,
    "bad_rating_callback_after_close": True,
    "rectification_chased_in_redo": True,
    "extensions_per_stay": True,
    "rectification_owned_by_rated_unit": True,
}


def test_the_rules_a_recording_names_are_pinned_and_absent_ones_are_off() -> None:
    today = make_policy().model_copy(update=ON)
    assert engine_rules(today) == ON and set(ON) == set(ENGINE_RULES)
    assert engine_rules(as_recorded(today, ON)) == ON
    before = as_recorded(today, None)  # admitted before the rules: no record of them
    assert engine_rules(before) == {
        "supervision_ends_on_move": False,
        "chase_pauses_with_clocks": False,
        "decision_days": None,
        "one_supervision_per_unit": False,
        "follow_up_spacing_hours": None,
        "scope_follows_holder": False,
        "reassign_starts_fresh": False,
        "bad_rating_callback_after_close": False,
        "rectification_chased_in_redo": False,
        "extensions_per_stay": False,
        "rectification_owned_by_rated_unit": False,
    }
    partly = as_recorded(today, {"supervision_ends_on_move": True})
    assert (partly.supervision_ends_on_move, partly.decision_days) == (True, None)


def test_the_trail_lookups_read_them_from_the_assigned_event() -> None:
    from whatif.lookups import TrailLookups

    def assigned(details: dict[str, object]) -> SimpleNamespace:
        """An ``assigned`` row of the audit trail, as much of it as the lookups read."""
        return SimpleNamespace(
            event_type=EventType.ASSIGNED,
            institution_id="county-330106",
            to_tier=Tier.COUNTY,
            details=details,
        )

    recorded = TrailLookups.of([assigned({"engine_rules": ON})], None, None)  # type: ignore[list-item, arg-type]
    assert recorded.engine_rules == ON and recorded.grade_applied is None
    before = TrailLookups.of([assigned({"institution_name": "区中心"})], None, None)  # type: ignore[list-item, arg-type]
    assert before.engine_rules is None
    graded = {"engine_rules": ON, "grade_applied": "little_giant"}
    assert TrailLookups.of([assigned(graded)], None, None).grade_applied is Grade.LITTLE_GIANT  # type: ignore[list-item, arg-type]


def test_a_replay_pins_the_recorded_grade_and_the_calendar_of_the_local_year() -> None:
    """The registry as it stands now (a list re-imported, a withdrawal dated back) does not
    re-grade a recorded request; two requests of the last evening of the year in UTC, one
    already of 1 January in China, pin their own years' calendars."""
    from tierflow.policy import load_policy_file
    from whatif.lookups import Pinning

    pinning = Pinning(load_policy_file(), lambda uscc, day: Grade.NONE)
    evening = datetime(2026, 12, 31, 10, 0, tzinfo=UTC)  # 18:00 in China
    morning = datetime(2026, 12, 31, 20, 0, tzinfo=UTC)  # 04:00 on 1 January there

    def asked(at: datetime) -> PolicyRequest:
        return PolicyRequest(
            category=Category.FINANCING, priority=Priority.NORMAL, submitted_at=at, uscc="x"
        )

    assert pinning.pin(asked(evening)).grade_applied is Grade.NONE  # the registry now
    assert pinning.pin(asked(evening), Grade.LITTLE_GIANT).grade_applied is Grade.LITTLE_GIANT
    assert pinning.pin(asked(evening)).calendar.first_year == 2026
    assert pinning.pin(asked(morning)).calendar.first_year == 2027
