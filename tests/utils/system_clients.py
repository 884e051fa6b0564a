"""System clients for tests that publish commands on Kafka as a trusted system."""

from __future__ import annotations

from pathlib import Path

from schemas.permissions import SYSTEM_GRANTS
from tierflow.system_clients import DELEGABLE_ROLES, SystemClient, SystemClients

# what a test producer may do: every grant, for every person it names, at a rate no test hits
TRUSTED_TOML = """
[[client]]
id = "{id}"
name = "tests"
sources = [{sources}]
grants = [{grants}]
act_for = [{roles}]
rate_per_second = 100000
burst = 100000
"""


def trusted_client(*sources: str, client_id: str = "tests") -> SystemClient:
    """A client named by ``sources`` that holds every grant and may act for any person."""
    return SystemClient(
        id=client_id,
        name="tests",
        sources=list(sources),
        grants=sorted(SYSTEM_GRANTS),
        act_for=sorted(DELEGABLE_ROLES),
        rate_per_second=100_000,
        burst=100_000,
    )


def trusted_clients(*sources: str) -> SystemClients:
    return SystemClients([trusted_client(*sources)])


def write_trusted_clients(path: Path, *sources: str) -> Path:
    """Write a clients file for a ``tierflow ingress`` process the test starts."""
    quoted = ", ".join(f'"{v}"' for v in sources)
    path.write_text(
        TRUSTED_TOML.format(
            id="tests",
            sources=quoted,
            grants=", ".join(f'"{g}"' for g in sorted(SYSTEM_GRANTS)),
            roles=", ".join(f'"{r.value}"' for r in sorted(DELEGABLE_ROLES)),
        ),
        "utf-8",
    )
    return path
