"""Activity that finds the institution serving a request at one tier."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from temporalio import activity

from activities.failures import is_permanent, permanent_failure
from schemas.lifecycle import Institution, RouteRequest, TargetAnswer, TargetCheck
from tierflow.checked_source import NotReadYet
from tierflow.directory import Directory, DirectorySource

log = logging.getLogger("tierflow.directory")


class DirectoryActivities:
    """Routes by the directory of a ``DirectorySource`` (a worker's: the newest version recorded
    in the database, else its directory file), parsed once per version.

    A request routes by the directory version it pinned at submission: ``versions`` finds an
    earlier one (the database keeps every imported version); a version it cannot find, or
    none pinned, routes by the current directory. A unit a person names (改派, 协办) is
    checked against the current directory.
    """

    def __init__(
        self,
        directory: DirectorySource,
        versions: Callable[[str], Directory | None] = lambda version: None,
    ) -> None:
        self._source = directory
        self._versions = versions

    @property
    def directory(self) -> Directory:
        return self._source.current()

    async def pinned(self, version: str | None) -> Directory:
        """The directory of ``version`` (the current one when it is that, or unknown).

        An earlier version is read and parsed on a thread (once: the store caches it), so the
        event loop never waits for the database.
        """
        try:
            current = self.directory
        except NotReadYet:  # the database not read yet: a pinned version may still be found
            pinned = None if version is None else await asyncio.to_thread(self._versions, version)
            if pinned is None:
                raise
            return pinned
        if version is None or version == current.version:
            return current
        found = await asyncio.to_thread(self._versions, version)
        if found is None:
            log.warning(
                "directory version %s is not recorded; routing by %s", version, current.version
            )
            return current
        return found

    @activity.defn(name="resolve_institution")
    async def resolve_institution(self, req: RouteRequest) -> Institution | None:
        """Return the institution for the request at ``req.tier``, or None if there is none.

        A dictionary lookup: it runs on the worker's event loop (as a local activity) so an
        escalation never waits for a thread-pool slot held by database writes.
        """
        try:
            directory = await self.pinned(req.directory_version)
            return directory.route(req.division_code, req.category, req.tier)
        except Exception as exc:
            if is_permanent(exc):  # e.g. a division the directory cannot map to this tier
                raise permanent_failure("resolve_institution", exc) from None
            raise

    @activity.defn(name="check_target")
    async def check_target(self, check: TargetCheck) -> TargetAnswer:
        """Answer whether the request may be handed to an institution a caller named (改派,
        协办), by the current directory, not the version the request pinned: a unit imported
        since (a placeholder's real one) may receive it, a unit removed since may not. The
        pinned version keeps routing its automatic moves (escalations)."""
        return self.directory.check_target(check)
