"""Which code path a run takes: Temporal patches, and the one that stands for those before it.

Taking a patch costs every run two history events: its marker and Temporal's
``TemporalChangeVersion`` search attribute. Runs started on this code take LEAN_HISTORY_PATCH
once, when they start; it stands for every patch before it (they record no other marker) and
for the lean history: one record batch for the actions that waited for routing, and search
attributes upserted only when they change. Runs started before replay their own markers and
history unchanged.
"""

from __future__ import annotations

from temporalio import workflow

LEAN_HISTORY_PATCH = "lean-history"


class Versions:
    """The patches a run takes; ``start`` decides, once, whether it is a lean run."""

    def __init__(self) -> None:
        self.lean = False

    def start(self) -> None:
        """Called first thing in ``run`` (each run after continue-as-new decides again)."""
        self.lean = workflow.patched(LEAN_HISTORY_PATCH)

    def taken(self, patch_id: str) -> bool:
        """``workflow.patched(patch_id)``, which a lean run takes without recording it."""
        return self.lean or workflow.patched(patch_id)
