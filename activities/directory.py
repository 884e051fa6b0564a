"""Activity that finds the institution serving a request at one tier."""

from __future__ import annotations

from temporalio import activity

from activities.failures import is_permanent, permanent_failure
from schemas.lifecycle import Institution, RouteRequest, TargetAnswer, TargetCheck
from tierflow.directory import Directory, DirectoryWatch


class DirectoryActivities:
    """Holds the directory so a worker parses it once (a watch reloads it when its file changes)."""

    def __init__(self, directory: Directory | DirectoryWatch) -> None:
        self._source = directory

    @property
    def directory(self) -> Directory:
        src = self._source
        return src.current() if isinstance(src, DirectoryWatch) else src

    @activity.defn(name="resolve_institution")
    async def resolve_institution(self, req: RouteRequest) -> Institution | None:
        """Return the institution for the request at ``req.tier``, or None if there is none.

        A dictionary lookup: it runs on the worker's event loop (as a local activity) so an
        escalation never waits for a thread-pool slot held by database writes.
        """
        try:
            return self.directory.route(req.division_code, req.category, req.tier)
        except Exception as exc:
            if is_permanent(exc):  # e.g. a division the directory cannot map to this tier
                raise permanent_failure("resolve_institution", exc) from exc
            raise

    @activity.defn(name="check_target")
    async def check_target(self, check: TargetCheck) -> TargetAnswer:
        """Answer whether the request may be handed to an institution a caller named."""
        return self.directory.check_target(check)
