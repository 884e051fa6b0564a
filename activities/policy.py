"""Activity that pins the SLA policy and business calendar for one request.

The workflow calls it once at submission; its result, stored in history, is what keeps
deadlines stable when the policy file or the holidays library changes later.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import AwareDatetime, BaseModel
from temporalio import activity

from schemas.domain import Category, Grade, Priority
from schemas.policy import PinnedPolicy
from tierflow.policy import PolicyFile


class PolicyRequest(BaseModel):
    """What decides a request's SLA: its category, priority, grade and submission time."""

    category: Category
    priority: Priority
    grade: Grade = Grade.NONE
    submitted_at: AwareDatetime


class PolicyActivities:
    """Holds the loaded policy file so a worker parses it once."""

    def __init__(self, policy: PolicyFile) -> None:
        self.policy = policy

    @activity.defn(name="load_policy")
    def load_policy(self, req: PolicyRequest) -> PinnedPolicy:
        """Return the policy slice and calendar that apply to the request."""
        submitted_at: datetime = req.submitted_at
        return self.policy.pin(req.category, req.priority, req.grade, submitted_at)
