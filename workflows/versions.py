"""Which code path a run takes: Temporal patches, and the one that stands for those before it.

Taking a patch costs every run two history events: its marker and Temporal's
``TemporalChangeVersion`` search attribute. Runs started on this code take STEADY_CLOCK_PATCH
once, when they start; it stands for every patch before it (they record no other marker).
LEAN_HISTORY_PATCH stood for the lean history: one record batch for the actions that waited
for routing, and search attributes upserted only when they change. STEADY_CLOCK_PATCH keeps
that and adds the steady clock: each step reads one instant (a local activity's round trip
does not move it), and a deadline's events occur at the deadline when the engine fires them
on time, so every instant follows from the actions' instants and the policy alone. Runs
started before replay their own markers and history unchanged.

Runs of the ``ServiceRequestV2`` type take no patch at all: a new workflow type is how a
change is versioned without a marker, since a worker without the type never runs its tasks (it
fails them, and a worker that has it takes them). Those runs take every path above, for free.
Runs of ``ServiceRequestV3`` also keep a timer whose deadline was overtaken by an earlier one
(``keeps_later_timers``): the run often ends before it fires, and cancelling it costs an event.
Runs of ``ServiceRequestV4`` also run their local activities one at a time
(``activity_calls.OneAtATime``), so that two never resolve in the same workflow task. Runs
of ``ServiceRequestV5`` also admit the request on the run's start, not on the instant of the
first workflow task, which a replay may read differently
(``ServiceRequestWorkflow._admission_instant``), and read the server's suggestion to continue
as new in the tasks of updates and timers only (``ServiceRequestWorkflow._note_suggestion``).
"""

from __future__ import annotations

from temporalio import workflow

LEAN_HISTORY_PATCH = "lean-history"
STEADY_CLOCK_PATCH = "lean-history-steady-clock"


class Versions:
    """The patches a run takes; ``start`` decides, once, whether it is a lean run.

    ``patches``: the run's type predates ``ServiceRequestV2`` and decides by patches; a run
    of a newer type takes every path without asking. ``keeps_later_timers``: the run's type is
    ``ServiceRequestV3`` or newer.
    """

    def __init__(self, *, patches: bool, keeps_later_timers: bool) -> None:
        self.patches = patches
        self.lean = not patches
        self.steady_clock = not patches
        self.keeps_later_timers = keeps_later_timers

    def start(self) -> None:
        """Called first thing in ``run`` (each run after continue-as-new decides again)."""
        if not self.patches:
            return
        self.steady_clock = workflow.patched(STEADY_CLOCK_PATCH)
        self.lean = self.steady_clock or workflow.patched(LEAN_HISTORY_PATCH)

    def taken(self, patch_id: str) -> bool:
        """``workflow.patched(patch_id)``, which a lean run takes without recording it."""
        return self.lean or workflow.patched(patch_id)
