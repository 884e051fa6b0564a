"""The lifecycle bench's regression guard: each history shape against its committed figure."""

from __future__ import annotations

from tierflow_dev.bench.lifecycle import HISTORY_EVENTS_BUDGET, Shape, leanest, within_budget

LEAN_TASKS = min(HISTORY_EVENTS_BUDGET)  # the acknowledge reached the first workflow task
LEAN = HISTORY_EVENTS_BUDGET[LEAN_TASKS]


def shape(events: int, tasks: int) -> Shape:
    return Shape(events, [0, 0, 0, 0], [2, 1, 1, 1], [events, 0, 0, 0], tasks)


def test_each_shape_at_its_figure_is_within_budget() -> None:
    by_tasks = dict(HISTORY_EVENTS_BUDGET)
    assert within_budget(shape(LEAN, LEAN_TASKS), by_tasks)


def test_one_event_more_in_any_known_shape_is_a_regression() -> None:
    for tasks, events in HISTORY_EVENTS_BUDGET.items():
        by_tasks = {**HISTORY_EVENTS_BUDGET, tasks: events + 1}
        leanest = shape(by_tasks[LEAN_TASKS], LEAN_TASKS)
        assert not within_budget(leanest, by_tasks), tasks


def test_a_leanest_lifecycle_of_an_unknown_shape_fails() -> None:
    tasks = max(HISTORY_EVENTS_BUDGET) + 1
    assert not within_budget(shape(LEAN - 1, tasks), {tasks: LEAN - 1})


def test_a_busy_hosts_extra_task_is_not_a_regression() -> None:
    extra = max(HISTORY_EVENTS_BUDGET) + 1  # e.g. a local activity that outlived its task
    assert within_budget(shape(LEAN, LEAN_TASKS), {LEAN_TASKS: LEAN, extra: 60})


def test_a_lifecycle_closed_without_its_timer_is_another_shape_left_out() -> None:
    """A host too slow for the 1 s reopen window closes it in the resolve's task: 3 phases."""
    untimed = Shape(LEAN - 6, [0, 0, 0], [2, 1, 2], [4, 9, LEAN - 19], LEAN_TASKS - 1)
    typical, by_tasks = leanest([untimed, shape(LEAN, LEAN_TASKS), shape(LEAN + 7, LEAN_TASKS + 1)])
    assert typical == shape(LEAN, LEAN_TASKS)
    assert by_tasks == {LEAN_TASKS: LEAN, LEAN_TASKS + 1: LEAN + 7}
    assert within_budget(typical, by_tasks)
