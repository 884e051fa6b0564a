"""Activity that checks a named handler (承办人) against the user accounts."""

from __future__ import annotations

from sqlalchemy import Engine
from sqlmodel import Session
from temporalio import activity

from schemas.domain import Role
from schemas.lifecycle import HandlerAnswer, HandlerCheck
from tierflow.db.auth_models import ApiUser


class HandlerActivities:
    """A handler must be an enabled caseworker (or supervisor) of the holding institution."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @activity.defn(name="check_handler")
    def check_handler(self, check: HandlerCheck) -> HandlerAnswer:
        with Session(self.engine) as session:
            user = session.get(ApiUser, check.handler_id)
        return HandlerAnswer(refusal=refusal(user, check))


def refusal(user: ApiUser | None, check: HandlerCheck) -> str | None:
    """Why ``user`` may not handle a request ``check.institution_id`` holds; None if they may."""
    name = check.handler_id
    if user is None or user.disabled:
        return f"handler_id: {name} is not an enabled user"
    if user.role not in (Role.CASEWORKER, Role.SUPERVISOR):
        return f"handler_id: {name} is a {user.role.value}, not a caseworker"
    if user.institution_id != check.institution_id:
        return (
            f"handler_id: {name} works for {user.institution_id}, "
            f"the request is held by {check.institution_id}"
        )
    return None
