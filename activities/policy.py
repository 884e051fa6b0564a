"""Activity that pins the SLA policy and business calendar for one request.

The workflow calls it once at submission; its result, stored in history, is what keeps
deadlines stable when the policy file, the holidays library or the grade registry changes later.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from temporalio import activity

from activities.failures import is_permanent, permanent_failure
from schemas.domain import Grade
from schemas.policy import PinnedPolicy, PolicyRequest
from tierflow.grades import GradeRegistry, local_day
from tierflow.policy import PolicyFile
from tierflow.policy_source import FixedPolicy, PolicySource


class PolicyActivities:
    """Holds the policies (one file, or the released ones by date) and the grade registry."""

    def __init__(
        self,
        policy: PolicyFile | PolicySource,
        grades: GradeRegistry | None = None,
        directory_version: Callable[[], str | None] = lambda: None,
    ) -> None:
        # the policy in force at each submission instant (a promotion takes effect by date)
        self.policies = FixedPolicy(policy) if isinstance(policy, PolicyFile) else policy
        self.grades = grades  # None: no registry, so no declared grade is confirmed
        self.directory_version = directory_version  # the directory new requests pin

    async def applied_grade(self, req: PolicyRequest) -> Grade:
        """Return the grade the registry holds for the enterprise on the submission day."""
        if self.grades is None:
            return Grade.NONE
        day = local_day(req.submitted_at)
        return await asyncio.to_thread(self.grades.grade_on, req.uscc, day)

    @activity.defn(name="load_policy")
    async def load_policy(self, req: PolicyRequest) -> PinnedPolicy:
        """Return the policy slice and calendar that apply to the request.

        The policy is the one in force at the submission instant (``req.submitted_at``, the
        workflow's clock), so a retry pins the same version. The targets are scaled by the
        grade the registry confirms on the submission day, not the declared one (both are
        recorded). Runs as a local activity: the policies are in memory and cached per year,
        and the one registry read goes to a thread.
        """
        try:
            applied = await self.applied_grade(req)
            policy = self.policies.at(req.submitted_at)
            pinned = policy.pin(
                req.category, req.priority, applied, req.submitted_at, req.division_code
            )
        except Exception as exc:
            if is_permanent(exc):  # a policy or calendar that fails validation stays failing
                raise permanent_failure("load_policy", exc) from None
            raise
        return pinned.model_copy(
            update={
                "grade_declared": req.grade,
                "grade_applied": applied,
                "directory_version": self.directory_version(),
            }
        )
