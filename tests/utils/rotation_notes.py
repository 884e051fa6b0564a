"""A tiny workflow for the key-rotation test: every input, update and result is a payload."""

from __future__ import annotations

from temporalio import workflow


@workflow.defn(name="KeyRotationNotes")
class NotesWorkflow:
    """Collect notes until finished. Update: ``add``. Signal: ``finish``. Query: ``notes``."""

    @workflow.init
    def __init__(self, first: str) -> None:
        self._notes = [first]  # before any update: the first task may carry one
        self._done = False

    @workflow.run
    async def run(self, first: str) -> list[str]:
        await workflow.wait_condition(lambda: self._done and workflow.all_handlers_finished())
        return self._notes

    @workflow.update
    def add(self, note: str) -> list[str]:
        self._notes.append(note)
        return list(self._notes)

    @workflow.signal
    def finish(self) -> None:
        self._done = True

    @workflow.query
    def notes(self) -> list[str]:
        return list(self._notes)
