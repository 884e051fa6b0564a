"""The lifecycle bench's turns: every lifecycle in exactly one round, rounds as even as can be."""

from __future__ import annotations

import pytest

from tierflow_dev.bench.lifecycle import _rounds


@pytest.mark.parametrize(
    ("count", "rounds", "sizes"),
    [(300, 4, [75, 75, 75, 75]), (10, 4, [3, 3, 2, 2]), (2, 4, [1, 1]), (8, 1, [8])],
)
def test_rounds_cover_every_lifecycle_once_in_order(
    count: int, rounds: int, sizes: list[int]
) -> None:
    split = _rounds(count, rounds)
    assert [len(chunk) for chunk in split] == sizes
    assert [i for chunk in split for i in chunk] == list(range(count))
