"""Who may do what: the one role -> action table, used by the API and by the workflow.

The API refuses a caller's action by role (403) before it reaches the workflow; the
workflow's update validator checks the enterprise's row whatever path an action came by.
System clients hold explicit grants instead of a role row.
"""

from __future__ import annotations

from schemas.domain import Role
from schemas.lifecycle import ActionKind

CASEWORKER_ACTIONS = frozenset(
    {
        ActionKind.ACKNOWLEDGE,
        ActionKind.START,
        ActionKind.REQUEST_INFO,
        ActionKind.RESOLVE,
        ActionKind.REOPEN,
        ActionKind.ESCALATE,
        ActionKind.HAND_BACK,
        ActionKind.REJECT,
        ActionKind.COMMENT,
    }
)
SUPERVISOR_ACTIONS = CASEWORKER_ACTIONS | {ActionKind.REASSIGN}
ENTERPRISE_ACTIONS = frozenset(
    {ActionKind.PROVIDE_INFO, ActionKind.WITHDRAW, ActionKind.RATE, ActionKind.COMMENT}
)
ROLE_ACTIONS: dict[Role, frozenset[ActionKind]] = {
    Role.CASEWORKER: CASEWORKER_ACTIONS,
    Role.SUPERVISOR: SUPERVISOR_ACTIONS,
    Role.ADMIN: frozenset(ActionKind),
    Role.ENTERPRISE: ENTERPRISE_ACTIONS,
}

# Staff users may submit and read requests in their scope; supervisors and admins see reports.
STAFF_ROLES = frozenset({Role.CASEWORKER, Role.SUPERVISOR, Role.ADMIN})
REPORT_ROLES = frozenset({Role.SUPERVISOR, Role.ADMIN})
# What a system client can be granted: submit, read (requests and reports), or an action kind.
SYSTEM_GRANTS = frozenset({"submit", "read", "reports", *(k.value for k in ActionKind)})
