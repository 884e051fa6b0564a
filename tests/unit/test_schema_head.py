"""The schema head the processes check against is Alembic's own head."""

from __future__ import annotations

from pathlib import Path

from alembic.script import ScriptDirectory

from tierflow.db.migrate import alembic_config
from tierflow.db.schema_head import behind, schema_head


def test_the_head_is_alembics_and_the_history_is_linear() -> None:
    scripts = ScriptDirectory.from_config(alembic_config("sqlite://"))
    [head] = scripts.get_heads()
    assert head[:4] == schema_head()
    numbers = []
    for revision in scripts.walk_revisions():  # newest first, one line of revisions
        assert revision.module.__file__ is not None
        assert Path(revision.module.__file__).name[:4] == revision.revision[:4]
        numbers.append(revision.revision[:4])
    assert numbers == sorted(numbers, reverse=True) and len(set(numbers)) == len(numbers)


def test_a_database_behind_the_head_is_behind_and_one_ahead_is_not() -> None:
    assert behind(None) and behind("0002_api_auth")
    assert not behind(f"{schema_head()}_x") and not behind("9999_a_later_release")
