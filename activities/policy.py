"""Activity that pins the SLA policy and business calendar for one request.

The workflow calls it once at submission; its result, stored in history, is what keeps
deadlines stable when the policy file or the holidays library changes later.
"""

from __future__ import annotations

from datetime import datetime

from temporalio import activity

from activities.failures import is_permanent, permanent_failure
from schemas.policy import PinnedPolicy, PolicyRequest
from tierflow.policy import PolicyFile


class PolicyActivities:
    """Holds the loaded policy file so a worker parses it once."""

    def __init__(self, policy: PolicyFile) -> None:
        self.policy = policy

    @activity.defn(name="load_policy")
    async def load_policy(self, req: PolicyRequest) -> PinnedPolicy:
        """Return the policy slice and calendar that apply to the request.

        In memory and cached per year, so it runs on the worker's event loop (as a local
        activity) instead of queueing in the thread pool behind database writes.
        """
        submitted_at: datetime = req.submitted_at
        try:
            return self.policy.pin(req.category, req.priority, req.grade, submitted_at)
        except Exception as exc:
            if is_permanent(exc):  # a policy or calendar that fails validation stays failing
                raise permanent_failure("load_policy", exc) from None
            raise
