"""Activity that checks a named handler (承办人) against the user accounts."""

from __future__ import annotations

from sqlalchemy import Engine
from sqlmodel import Session
from temporalio import activity

from schemas.lifecycle import HandlerAnswer, HandlerCheck, Wording
from schemas.messages import N_, Said
from schemas.permissions import HANDLER_ROLES
from tierflow.db.auth_models import ApiUser


class HandlerActivities:
    """A handler must be an enabled caseworker (or supervisor) of the holding institution."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @activity.defn(name="check_handler")
    def check_handler(self, check: HandlerCheck) -> HandlerAnswer:
        with Session(self.engine) as session:
            user = session.get(ApiUser, check.handler_id)
        said = refusal(user, check)
        return HandlerAnswer(refusal=said, wording=Wording.of(said))


def refusal(user: ApiUser | None, check: HandlerCheck) -> Said | None:
    """Why ``user`` may not handle a request ``check.institution_id`` holds; None if they may.

    One answer whatever the account is (unknown, disabled, another role, another unit): the
    one who names a handler learns nothing of other people's accounts by trying names."""
    if (
        user is None
        or user.disabled
        or user.role not in HANDLER_ROLES
        or user.institution_id != check.institution_id
    ):
        return Said(
            N_("handler_id: %(user)s is not an enabled caseworker or lead of %(holder)s"),
            user=check.handler_id,
            holder=check.institution_id,
        )
    return None
