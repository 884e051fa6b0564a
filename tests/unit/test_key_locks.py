"""The outbox's per-request locks: one request's executions take turns, others never wait."""

from __future__ import annotations

import threading

from activities.events import KeyLocks
from tests.utils.eventually import eventually_sync


def test_one_key_waits_for_its_holder_and_another_key_does_not() -> None:
    locks = KeyLocks()
    entered = threading.Event()

    def second_execution() -> None:
        with locks.held("req-a"):
            entered.set()

    waiter = threading.Thread(target=second_execution)
    with locks.held("req-a"):
        waiter.start()
        eventually_sync(lambda: locks.users("req-a") == 2, 5, "the second execution waiting")
        with locks.held("req-b"):  # another request goes straight in
            assert locks.users("req-b") == 1
        assert not entered.is_set()
    waiter.join(timeout=5)
    assert entered.is_set()


def test_a_key_is_forgotten_once_nobody_holds_or_waits_for_it() -> None:
    locks = KeyLocks()
    for key in ("req-a", "req-b", "req-a"):
        with locks.held(key):
            assert locks.users(key) == 1
        assert locks.users(key) == 0
