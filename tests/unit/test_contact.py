"""Who sees an enterprise's contact in full (``api.contact``), and how it is masked for the
others: names, mobiles, other phones and e-mail addresses; ``tierflow show`` says so."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from api.contact import (
    Submitter,
    mask_email,
    mask_name,
    mask_phone,
    masked,
    prefills_contact,
    sees_contact,
    shown_to,
)
from api.models import RequestRow
from schemas.domain import Category, Grade, Priority, Role, SlaStatus, State, Tier
from schemas.permissions import SYSTEM_GRANTS
from schemas.request import AttachmentOut
from tests.utils.factories import enterprise_uscc
from tierflow.auth_store import Principal
from tierflow.cli import client

HELD = "zj-330106-sme"
USCC = enterprise_uscc("330106")


@dataclass(frozen=True)
class Held:
    tier: Tier = Tier.COUNTY
    institution_id: str | None = HELD
    division_code: str = "330106"
    enterprise_uscc: str = USCC
    scope_division: str | None = None


def staff(role: Role, unit: str | None, tier: Tier | None = None, division: str | None = None):
    return Principal(f"{role.value}-1", role, unit, tier, division)


CASEWORKER = staff(Role.CASEWORKER, HELD)
LEAD = staff(Role.SUPERVISOR, HELD, Tier.COUNTY, "330106")
OTHER_CASEWORKER = staff(Role.CASEWORKER, "zj-330105-sme")
CITY_SUPERVISOR = staff(Role.SUPERVISOR, "zj-330100-sme", Tier.MUNICIPAL, "330100")
CITY_DESK = staff(Role.FOLLOW_UP, "zj-330100-sme", Tier.MUNICIPAL, "330100")
CITY_DISPATCH = staff(Role.DISPATCHER, "zj-330100-sme", Tier.MUNICIPAL, "330100")
OTHER_DESK = staff(Role.DISPATCHER, "zj-330200-sme", Tier.MUNICIPAL, "330200")  # 宁波
ADMIN = staff(Role.ADMIN, None)


def system(*grants: str) -> Principal:
    return Principal("portal", Role.SYSTEM, grants=frozenset(grants))


@pytest.mark.parametrize(
    ("name", "shown"),
    [("王", "*"), ("王芳", "王*"), ("欧阳娜娜", "欧***"), ("张小明", "张**"), (" 王芳 ", "王*")],
)
def test_a_name_keeps_its_first_character(name: str, shown: str) -> None:
    assert mask_name(name) == shown


@pytest.mark.parametrize(
    ("phone", "shown"),
    [
        ("13912345678", "139****5678"),
        ("+86 139 1234 5678", "139****5678"),  # however a mobile is written
        ("0086-139-1234-5678", "139****5678"),
        ("0571-87654321", "****-****4321"),  # a landline: its last 4 digits
        ("(0571) 8765 4321", "(****) **** 4321"),
        ("+49 30 1234567", "+** ** ***4567"),  # a number abroad, a mobile or not
        ("8765 4321", "**** ****"),  # a short number: its last 4 would be half of it
        ("12345", "*****"),
    ],
)
def test_a_mobile_keeps_3_and_4_digits_any_other_number_its_last_4(phone: str, shown: str) -> None:
    assert mask_phone(phone) == shown


def test_an_address_keeps_its_first_character_and_its_domain() -> None:
    assert mask_email("wangfang@example.com") == "w***@example.com"
    assert mask_email("w@example.com") == "w***@example.com"  # the length is not told
    assert mask_email("not-an-address") == "n***"


@pytest.mark.parametrize(
    "who",
    [CASEWORKER, LEAD, CITY_DESK, CITY_DISPATCH, system("read", "contact")],
)
def test_those_who_reach_the_enterprise_see_its_contact(who: Principal) -> None:
    assert sees_contact(who, Held())


@pytest.mark.parametrize(
    "who",
    [CITY_SUPERVISOR, ADMIN, system("read"), OTHER_DESK, staff(Role.SUPERVISOR, None)],
)
def test_those_who_oversee_see_it_masked(who: Principal) -> None:
    assert not sees_contact(who, Held())


def test_a_co_handling_units_caseworkers_see_it_while_their_part_is_open() -> None:
    assert sees_contact(OTHER_CASEWORKER, Held(), co_handled=True)
    assert not sees_contact(OTHER_CASEWORKER, Held())
    lead = staff(Role.SUPERVISOR, "zj-330105-sme", Tier.COUNTY, "330105")
    assert not sees_contact(lead, Held(), co_handled=True)  # its caseworkers only


def test_an_enterprise_sees_its_own_contact_only() -> None:
    assert sees_contact(Principal(USCC, Role.ENTERPRISE), Held())
    assert not sees_contact(Principal(enterprise_uscc("330105"), Role.ENTERPRISE), Held())


def test_contact_is_a_grant_a_system_client_may_hold() -> None:
    assert "contact" in SYSTEM_GRANTS


def test_the_walk_in_form_fills_in_the_contact_for_the_holding_unit_only() -> None:
    online = {"submitter": Submitter(Role.SYSTEM, None)}
    assert prefills_contact(CASEWORKER, Held(), **online) and prefills_contact(
        LEAD, Held(), **online
    )
    for who in (CITY_DESK, CITY_DISPATCH, CITY_SUPERVISOR, ADMIN, system("read", "contact")):
        assert not prefills_contact(who, Held(), **online), who
    assert not prefills_contact(OTHER_CASEWORKER, Held(), **online)  # co-handling: not its own


@pytest.mark.parametrize(
    ("submitter", "filled"),
    [
        (Submitter(Role.ENTERPRISE, None), True),  # the enterprise itself
        (Submitter(Role.SYSTEM, None), True),  # through a system client
        (Submitter(Role.CASEWORKER, HELD), True),  # at the unit's own window
        (Submitter(Role.SUPERVISOR, HELD), True),
        (Submitter(Role.CASEWORKER, "zj-330105-sme"), False),  # typed at another unit's
        (Submitter(Role.DISPATCHER, "zj-330200-sme"), False),  # a desk anywhere
        (Submitter(Role.FOLLOW_UP, "zj-330100-sme"), False),
        (Submitter(Role.ADMIN, None), False),
        (None, False),  # unknown: nothing filled in
    ],
)
def test_only_a_contact_the_enterprise_or_the_unit_gave_is_filled_in(
    submitter: Submitter | None, filled: bool
) -> None:
    assert prefills_contact(CASEWORKER, Held(), submitter=submitter) is filled


def _row(**contact: str | None) -> RequestRow:
    now = datetime(2026, 3, 2, tzinfo=UTC)
    return RequestRow(
        request_id="req-1",
        state=State.ASSIGNED,
        tier=Tier.COUNTY,
        institution_id=HELD,
        category=Category.FINANCING,
        priority=Priority.NORMAL,
        grade=Grade.NONE,
        division_code="330106",
        enterprise_uscc=USCC,
        enterprise_name="杭州启明智能科技有限公司",
        subject="融资",
        policy_version="test-1",
        sla_status=SlaStatus.ON_TRACK,
        submitted_at=now,
        updated_at=now,
        next_due_at=None,
        contact_name=contact.get("name"),
        contact_phone=contact.get("phone"),
        contact_email=contact.get("email"),
        description="",
        channel="portal",
    )


def test_a_masked_row_says_so_and_keeps_what_was_missing_missing() -> None:
    row = _row(name="王芳", phone="13800000000")
    hidden = masked(row)
    assert (hidden.contact_name, hidden.contact_phone, hidden.contact_email) == (
        "王*",
        "138****0000",
        None,
    )
    assert hidden.contact_masked and not row.contact_masked
    assert shown_to(CASEWORKER, row) is row
    assert shown_to(ADMIN, row).contact_masked


def test_tierflow_show_says_the_contact_is_partly_hidden(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIERFLOW_LANG", "zh-CN")
    row = masked(_row(name="王芳", phone="13800000000", email="wang@example.com"))
    summary = row.model_dump(mode="json")
    lines = client._particulars(summary, summary, [])
    assert "  联系人：王*、138****0000、w***@example.com（已隐去部分信息）" in lines
    whole = _row(name="王芳").model_dump(mode="json")
    assert "  联系人：王芳" in client._particulars(whole, whole, [])
    nobody = masked(_row()).model_dump(mode="json")
    assert "  联系人：-" in client._particulars(nobody, nobody, [])  # nothing hidden, nothing said


def test_tierflow_show_lists_the_attachments(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIERFLOW_LANG", "zh-CN")
    row = _row(name="王芳").model_copy(
        update={
            "attachments": [
                AttachmentOut(name="营业执照.pdf", url="https://files.example.org/a.pdf"),
                AttachmentOut(name="说明.docx"),
            ]
        }
    )
    summary = row.model_dump(mode="json")
    lines = client._particulars(summary, summary, [])
    assert "  附件：营业执照.pdf（https://files.example.org/a.pdf）" in lines
    assert "  附件：说明.docx" in lines
