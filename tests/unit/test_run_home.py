"""The suite keeps off a checkout's own stack (``RUN_HOME`` in tests/conftest.py)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from tierflow.settings import Settings


def test_settings_default_to_a_home_of_the_runs_own_and_no_database() -> None:
    settings = Settings()
    assert Path(tempfile.gettempdir()) in settings.home.parents
    assert settings.home.name.startswith("tierflow-tests-") and settings.home.is_dir()
    assert not settings.database_url
