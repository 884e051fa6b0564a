"""An action form's text label says what the text becomes: a supervisor's comment is an
instruction (批示) that the holding unit's caseworkers are told of; anyone else's is a note."""

from __future__ import annotations

from api.console.routes import text_label
from schemas.domain import Role
from schemas.lifecycle import ActionKind
from tierflow.auth_store import Principal


def test_a_supervisors_comment_is_labelled_an_instruction() -> None:
    boss = Principal(user_id="sup", role=Role.SUPERVISOR, institution_id="zj-330100-sme")
    worker = Principal(user_id="cw", role=Role.CASEWORKER, institution_id="zj-330106-sme")
    assert text_label(ActionKind.COMMENT, boss).startswith("Instruction to the unit")
    assert text_label(ActionKind.COMMENT, worker) == "Comment"
    assert text_label(ActionKind.RESOLVE, boss) == "How it was concluded"
