"""The API's limits come from the environment, like every other setting."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from api.deps import ApiLimits
from tierflow.settings import Settings


def test_the_api_limits_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIERFLOW_API_ACTIONS_PER_SECOND", "0.5")
    monkeypatch.setenv("TIERFLOW_API_ACTIONS_BURST", "7")
    monkeypatch.setenv("TIERFLOW_API_ACTION_WAIT_SECONDS", "45")
    monkeypatch.setenv("TIERFLOW_API_MAX_BODY_BYTES", "65536")
    limits = ApiLimits.from_settings(Settings(_env_file=None))  # type: ignore[call-arg]
    assert (limits.actions_per_second, limits.actions_burst) == (0.5, 7)
    assert limits.action_wait_seconds == 45 and limits.max_body_bytes == 65536
    assert (limits.submit_per_second, limits.submit_burst) == (2.0, 20)  # not set: defaults


@pytest.mark.parametrize(
    ("field", "value"),
    [("api_actions_per_second", 0), ("api_actions_burst", 0), ("api_action_wait_seconds", 601)],
)
def test_a_limit_that_cannot_work_is_refused_naming_it(field: str, value: float) -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(**{field: value})  # type: ignore[arg-type]
    assert field in str(refused.value)
