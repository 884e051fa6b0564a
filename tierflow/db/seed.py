"""Copy the institution directory and the SLA policy into the database."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session

from tierflow.db.repository import record_policy_version, upsert_institutions
from tierflow.directory import Directory
from tierflow.directory_store import institution_of
from tierflow.policy import PACKAGED_POLICY, parse_policy


def seed_directory(engine: Engine, directory: Directory) -> int:
    """Upsert every directory institution; return how many were written."""
    rows = [institution_of(e) for e in directory.entries]
    with Session(engine) as session:
        written = upsert_institutions(session, rows)
        session.commit()
    return written


def seed_policy(engine: Engine, path: Path | None = None) -> tuple[str, bool]:
    """Store the policy file's version and text; return (version, newly stored)."""
    if path is None:
        text = resources.files("tierflow.data").joinpath(PACKAGED_POLICY).read_text("utf-8")
    else:
        text = Path(path).read_text("utf-8")
    policy = parse_policy(text, path.name if path else PACKAGED_POLICY)
    with Session(engine) as session:
        new = record_policy_version(session, policy.version, text)
        session.commit()
    return policy.version, new
