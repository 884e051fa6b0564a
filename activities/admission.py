"""Activity that admits a request in one call: pin its policy, then route it at the first tier.

One local activity instead of two saves every request a history event. A permanent routing
failure comes back as data beside the pinned policy, so the policy stays pinned at submission
while the request waits for an operator; a permanent policy failure is raised as before.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from temporalio import activity
from temporalio.exceptions import ApplicationError

from schemas.lifecycle import Admission, AdmitRequest, Institution, RouteRequest
from schemas.policy import PinnedPolicy, PolicyRequest

LoadPolicy = Callable[[PolicyRequest], Awaitable[PinnedPolicy]]
Route = Callable[[RouteRequest], Awaitable[Institution | None]]


async def admit(load_policy: LoadPolicy, route: Route, req: AdmitRequest) -> Admission:
    """Pin the policy, then route by the directory version it pins."""
    pinned = await load_policy(req.policy)
    where = req.route.model_copy(update={"directory_version": pinned.directory_version})
    try:
        institution = await route(where)
    except ApplicationError as exc:
        if not exc.non_retryable:
            raise
        return Admission(policy=pinned, route_error_type=exc.type, route_error=exc.message)
    return Admission(policy=pinned, institution=institution)


class AdmissionActivities:
    """``load_policy`` and ``resolve_institution``, called in one local activity at admission."""

    def __init__(self, load_policy: LoadPolicy, route: Route) -> None:
        self.load_policy = load_policy
        self.route = route

    @activity.defn(name="admit_request")
    async def admit_request(self, req: AdmitRequest) -> Admission:
        """Return the pinned policy and the first tier's institution (or why routing failed)."""
        return await admit(self.load_policy, self.route, req)
