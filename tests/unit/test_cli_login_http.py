"""`tierflow login` sends a bearer token: never in clear to another host unless asked."""

from __future__ import annotations

import pytest

from tierflow.cli.client import _in_clear


@pytest.mark.parametrize(
    ("url", "clear"),
    [
        ("http://127.0.0.1:8000", False),  # this machine: the local stack
        ("http://localhost:8000/", False),
        ("http://[::1]:8000", False),
        ("https://tierflow.example.gov.cn", False),
        ("http://tierflow.example.gov.cn", True),
        ("HTTP://10.0.0.7:8000", True),
        ("http://127.0.0.1.example.cn", True),  # a name that only looks like loopback
    ],
)
def test_plain_http_to_another_host_is_in_clear(url: str, clear: bool) -> None:
    assert _in_clear(url) is clear
