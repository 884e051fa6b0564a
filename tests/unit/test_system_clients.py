"""The system-clients file: validated with errors naming the field, looked up by source/topic."""

from __future__ import annotations

from pathlib import Path

import pytest

from schemas.domain import Role
from tests.utils.system_clients import write_trusted_clients
from tierflow.system_clients import (
    SystemClientError,
    load_system_clients,
    parse_system_clients,
)


def test_the_packaged_clients_are_valid_and_grant_little() -> None:
    clients = load_system_clients()
    portal = clients.by_source("/portal")
    assert portal is not None and portal.act_for == [Role.ENTERPRISE]
    demo = clients.by_source("/tierflow/devstack")
    assert demo is not None and demo.grants == ["submit"] and demo.act_for == []
    assert clients.by_source("/anything-else") is None


def test_a_client_on_its_own_topic_is_found_by_the_topic() -> None:
    clients = parse_system_clients(
        '[[client]]\nid = "crm"\nname = "CRM"\ntopic = "tierflow.commands.crm.v1"\n'
        'grants = ["external_status"]\n'
    )
    assert clients.topics == ["tierflow.commands.crm.v1"]
    found = clients.by_topic("tierflow.commands.crm.v1")
    assert found is not None and found.id == "crm"


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ('[[client]]\nid = "x"\nname = "x"\ngrants = ["fly"]\n', "client[0].grants: Value error"),
        ('[[client]]\nid = "x"\nname = "x"\nact_for = ["admin"]\n', "client[0].act_for"),
        ('[[client]]\nid = "Bad Id"\nname = "x"\n', "client[0].id"),
        ('[[client]]\nid = "x"\n', "client[0].name: Field required"),
        ('[[client]]\nid = "x"\nname = "x"\nrate_per_second = 0\n', "client[0].rate_per_second"),
        ("[[client]\n", "not TOML"),
    ],
)
def test_a_bad_file_is_refused_naming_the_field(text: str, error: str) -> None:
    with pytest.raises(SystemClientError) as refused:
        parse_system_clients(text, "clients.toml")
    assert str(refused.value).startswith("clients.toml") and error in str(refused.value)


def test_two_clients_cannot_share_a_source() -> None:
    text = '[[client]]\nid = "a"\nname = "a"\nsources = ["/s"]\n' * 1
    text += '[[client]]\nid = "b"\nname = "b"\nsources = ["/s"]\n'
    with pytest.raises(SystemClientError, match="already names client a"):
        parse_system_clients(text)


def test_a_written_file_loads(tmp_path: Path) -> None:
    path = write_trusted_clients(tmp_path / "c.toml", "/tests/x")
    client = load_system_clients(path).by_source("/tests/x")
    assert client is not None and "submit" in client.grants
    with pytest.raises(SystemClientError, match="cannot read"):
        load_system_clients(tmp_path / "missing.toml")
