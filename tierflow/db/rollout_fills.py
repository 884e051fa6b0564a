"""The rows a worker of the release before writes during a rolling upgrade, put right after it.

Revisions fill and repair the rows that were there when they ran; workers of the release
before, still running until the rollout ends, go on projecting rows the old way. Each fill
here is the one its revision ran, idempotent, and touches only rows that need it, so
``tierflow db fill-after-rollout`` runs them all once the rollout is done (and again safely).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from types import ModuleType

import sqlalchemy as sa
from sqlalchemy import Engine

from schemas.messages import N_
from tierflow.db.engine import begin_write
from tierflow.db.receivers import fill_ratings, fill_receivers


def _revision(name: str) -> ModuleType:
    """A revision's module (their names start with a digit)."""
    return importlib.import_module(f"tierflow.db.migrations.versions.{name}")


def close_ended_parts(engine: Engine) -> int:
    """0034: close the co-handling parts still open on requests that ended."""
    with begin_write(engine) as conn:
        return int(conn.execute(sa.text(_revision("0034_parts_end_with_request").ENDED)).rowcount)


def charge_intake_ratings(engine: Engine) -> int:
    """0026, 0036: charge each intake rating to the unit that answered first."""
    with begin_write(engine) as conn:
        return int(_revision("0026_intake_rating_unit").backfill(conn))


def clear_untimed_sign_fors(engine: Engine) -> int:
    """0038: stays signed for without a deadline are not measured."""
    with begin_write(engine) as conn:
        return int(_revision("0038_untimed_sign_fors").backfill(conn))


def name_rectifying_units(engine: Engine) -> int:
    """0040: name the rated unit on requests whose 整改 or appeal it owes."""
    with begin_write(engine) as conn:
        return int(_revision("0040_rectifying_unit").backfill(conn))


# what ``fill-after-rollout`` runs, in order, each with what it puts right
FILLS: tuple[tuple[str, Callable[[Engine], int]], ...] = (
    (N_("units that received a request first, filled (0030)"), fill_receivers),
    (N_("conclusion ratings on the requests' rows, filled (0032)"), fill_ratings),
    (N_("co-handling parts of ended requests, closed (0034)"), close_ended_parts),
    (N_("intake ratings charged to the unit that answered (0026, 0036)"), charge_intake_ratings),
    (N_("sign-fors without a deadline, no longer measured (0038)"), clear_untimed_sign_fors),
    (N_("units owing a bad rating's rectification, named (0040)"), name_rectifying_units),
)


def fill_after_rollout(engine: Engine) -> list[tuple[str, int]]:
    """Run every fill; return what each put right and how many values or rows it wrote."""
    return [(what, fill(engine)) for what, fill in FILLS]
