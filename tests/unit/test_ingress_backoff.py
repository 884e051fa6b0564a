"""How long the ingress lets an action wait for a request it cannot find yet: the
``TIERFLOW_INGRESS_NOT_FOUND_SECONDS`` budget, whatever the number of tries it takes."""

from __future__ import annotations

from workers.ingress.commands import Backoff


def test_the_seconds_are_the_whole_budget_for_a_request_not_found_yet() -> None:
    patient = Backoff(not_found_seconds=600)  # the backoff tops out at 10 s a try
    tries_in_ten_minutes = 66
    assert not patient.gives_up(waited=300, attempt=tries_in_ten_minutes // 2)
    assert not patient.gives_up(waited=599, attempt=tries_in_ten_minutes)
    assert patient.gives_up(waited=600, attempt=tries_in_ten_minutes)


def test_a_cap_on_the_tries_still_ends_the_wait_when_one_is_set() -> None:
    capped = Backoff(not_found_seconds=600, not_found_attempts=30)
    assert capped.gives_up(waited=250, attempt=30)
    assert not capped.gives_up(waited=250, attempt=29)
