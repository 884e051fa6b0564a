"""The system-clients file: validated with errors naming the field, looked up by source/topic."""

from __future__ import annotations

from pathlib import Path

import pytest

from schemas.domain import Role
from schemas.events import CommandError, ParsedCommand, command_event
from tests.utils.system_clients import write_trusted_clients
from tierflow.settings import Settings
from tierflow.system_clients import (
    SystemClient,
    SystemClientError,
    SystemClients,
    load_system_clients,
    parse_system_clients,
)
from tierflow.tls import trusts_sources
from workers.ingress.decode import decode
from workers.ingress.identity import authorize


def test_the_packaged_clients_are_valid_and_grant_little() -> None:
    clients = load_system_clients()
    portal = clients.by_source("/portal")
    assert portal is not None and portal.act_for == [Role.ENTERPRISE]
    assert not portal.acts_in_own_name  # it names the enterprise in every command
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
        (
            '[[client]]\nid = "x"\nname = "x"\nacts_in_own_name = false\n',
            "acts_in_own_name: false needs act_for",
        ),
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


def _desk(region: str | None) -> SystemClient:
    return SystemClient(
        id="desk",
        name="desk",
        sources=["/desk"],
        grants=["comment"],
        act_for=[Role.SUPERVISOR, Role.CASEWORKER],
        region=region,
    )


def _comment_as(person: dict[str, str]) -> ParsedCommand:
    event = command_event("comment", {"request_id": "r-1", "text": "x", "actor": person}, "/desk")
    return decode(event.to_json_bytes(), [], b"r-1")


PLACES = {"zj-330106-sme": "330106", "zj-330100-sme": "330100", "js-320102-sme": "320102"}


@pytest.mark.parametrize(
    ("region", "person", "allowed"),
    [
        (None, {"role": "supervisor", "tier": "national", "division_code": "000000"}, True),
        ("330000", {"role": "supervisor", "tier": "national", "division_code": "000000"}, False),
        ("330000", {"role": "supervisor", "tier": "provincial", "division_code": "320000"}, False),
        ("330000", {"role": "supervisor", "tier": "provincial", "division_code": "330000"}, True),
        ("330000", {"role": "supervisor", "tier": "municipal", "division_code": "330100"}, True),
        ("330100", {"role": "supervisor", "tier": "provincial", "division_code": "330000"}, False),
        ("330000", {"role": "supervisor"}, False),  # no region named: not inside any
        ("330000", {"role": "caseworker", "institution_id": "zj-330106-sme"}, True),
        ("330106", {"role": "caseworker", "institution_id": "zj-330100-sme"}, False),
        ("330000", {"role": "caseworker", "institution_id": "js-320102-sme"}, False),
        ("330000", {"role": "caseworker", "institution_id": "nowhere"}, False),
    ],
)
def test_a_client_with_a_region_acts_only_for_people_inside_it(
    region: str | None, person: dict[str, str], allowed: bool
) -> None:
    """A regional desk cannot name a national supervisor, one of another province, or a
    caseworker of an institution the directory places elsewhere (or nowhere)."""
    cmd = _comment_as({"id": "p-1", **person})
    clients = SystemClients([_desk(region)])
    if allowed:
        authorize(cmd, "tierflow.commands.v1", clients, PLACES.get)
        assert cmd.action is not None and cmd.action.actor.via == "desk"
        return
    with pytest.raises(CommandError) as refused:
        authorize(cmd, "tierflow.commands.v1", clients, PLACES.get)
    assert refused.value.reason_code == "forbidden"
    assert f"acts only for people in region {region}" in refused.value.message


def test_a_region_must_be_a_known_division() -> None:
    with pytest.raises(SystemClientError, match=r"client\[0\].region"):
        parse_system_clients(
            '[[client]]\nid = "x"\nname = "x"\nact_for = ["supervisor"]\nregion = "339999"\n'
        )


def test_with_kafka_authentication_only_a_clients_own_topic_names_it() -> None:
    """A source on the shared topic is anyone's to write: with SASL on it names nobody."""
    clients = SystemClients(
        [
            SystemClient(
                id="crm", name="crm", topic="tierflow.commands.crm.v1", grants=["comment"]
            ),
            SystemClient(id="desk", name="desk", sources=["/desk"], grants=["comment"]),
        ]
    )
    claimed = _comment_as({"id": "sys", "role": "system"})  # sent with source /desk
    with pytest.raises(CommandError) as refused:
        authorize(claimed, "tierflow.commands.v1", clients, trust_sources=False)
    assert refused.value.reason_code == "forbidden"
    assert "known by its own commands topic" in refused.value.message
    on_topic = _comment_as({"id": "sys", "role": "system"})
    assert authorize(on_topic, "tierflow.commands.crm.v1", clients, trust_sources=False).id == "crm"
    shared = _comment_as({"id": "sys", "role": "system"})
    assert authorize(shared, "tierflow.commands.v1", clients).id == "desk"  # without SASL


@pytest.mark.parametrize(
    ("protocol", "said", "trusted"),
    [
        ("PLAINTEXT", None, True),
        ("SSL", None, True),
        ("SASL_SSL", None, False),
        ("sasl_ssl", None, False),  # spelt as the Kafka client takes it: still SASL
        ("Sasl_Plaintext", None, False),
        ("SSL", False, False),  # brokers that require client certificates
        ("PLAINTEXT", False, False),
    ],
)
def test_sources_are_trusted_only_while_kafka_names_no_producer(
    protocol: str, said: bool | None, trusted: bool
) -> None:
    settings = Settings(
        kafka_security_protocol=protocol,
        ingress_trust_sources=said,
        kafka_sasl_username="ingress",
        kafka_sasl_password="secret",
    )
    assert trusts_sources(settings) is trusted


def test_an_enterprise_named_by_a_portal_keeps_no_unit_or_tier_it_claims() -> None:
    """Its claim of a unit and a tier would reach the audit trail as the actor's own."""
    portal = SystemClient(
        id="portal", name="portal", sources=["/desk"], grants=["comment"], act_for=[Role.ENTERPRISE]
    )
    code = "91330106MA2B3C4D5D"
    cmd = _comment_as(
        {"id": code, "role": "enterprise", "institution_id": "zj-330106-sme", "tier": "national"}
    )
    authorize(cmd, "tierflow.commands.v1", SystemClients([portal]))
    assert cmd.action is not None
    actor = cmd.action.actor
    assert (actor.id, actor.institution_id, actor.tier, actor.via) == (code, None, None, "portal")
