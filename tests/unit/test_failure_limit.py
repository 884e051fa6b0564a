"""登录失败处理: an address past its failures in the window stays refused for the whole
window, counted exactly; the counters' estimate let it try again as soon as a counting window
turned over (so up to twice the allowed guesses a window)."""

from __future__ import annotations

import time

import pytest

from tierflow.rate_limit import FailureLimit

WINDOW = 600


def test_a_locked_address_stays_locked_across_a_counting_windows_turn(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [WINDOW * 1000 - 1.0]  # a second before a counting window turns over
    monkeypatch.setattr(time, "time", lambda: now[0])
    limit = FailureLimit(3, WINDOW)
    for _ in range(3):
        assert limit.locked_for("203.0.113.7") is None
        limit.fail("203.0.113.7")
    assert limit.locked_for("203.0.113.7") is not None
    now[0] += 1.5  # the counting window turned over: the failures are a second and a half old
    wait = limit.locked_for("203.0.113.7")
    assert wait is not None and WINDOW - 2 <= wait <= WINDOW
    assert limit.locked_for("198.51.100.2") is None  # another address is not
    now[0] += WINDOW  # the failures have left the window
    assert limit.locked_for("203.0.113.7") is None
