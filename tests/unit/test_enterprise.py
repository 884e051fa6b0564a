"""USCC and division-code validation: clear errors, never silent acceptance."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from schemas.domain import Grade, Tier
from schemas.enterprise import (
    NATIONAL_DIVISION,
    USCC_ALPHABET,
    Enterprise,
    division_for_tier,
    division_tier,
    uscc_check_character,
    validate_division_code,
    validate_uscc,
)


def make_uscc(first17: str) -> str:
    return first17 + uscc_check_character(first17)


VALID = make_uscc("91110108MA01ABCDE")  # Beijing Haidian, registered with an MA... number


# --- USCC -------------------------------------------------------------------------------------


def test_published_examples_validate() -> None:
    assert validate_uscc("91350100M000100Y43") == "91350100M000100Y43"
    assert validate_uscc("91110000802100433B") == "91110000802100433B"
    assert validate_uscc(VALID) == VALID


def test_check_character_covers_the_whole_alphabet() -> None:
    # Changing the last body character steps the check through every residue mod 31.
    checks = {uscc_check_character("9111010800000000" + c) for c in USCC_ALPHABET}
    assert checks == set(USCC_ALPHABET)


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (VALID[:17], "USCC must have 18 characters, got 17"),
        (VALID + "0", "USCC must have 18 characters, got 19"),
        ("", "USCC must have 18 characters, got 0"),
        (VALID[:4] + "I" + VALID[5:], "USCC character 'I' at position 5 is not allowed"),
        (VALID[:9] + "O" + VALID[10:], "USCC character 'O' at position 10 is not allowed"),
        ("S" + VALID[1:], "USCC character 'S' at position 1 is not allowed"),
        (VALID[:16] + "z" + VALID[17:], "USCC character 'z' at position 17 is not allowed"),
        (VALID[:11] + " " + VALID[12:], "USCC character ' ' at position 12 is not allowed"),
        (make_uscc("9111A108MA01ABCDE"), "USCC positions 3-8 must be a 6-digit division code"),
    ],
)
def test_uscc_errors_name_position_and_character(code: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        validate_uscc(code)
    assert message in str(caught.value)


def test_uscc_wrong_check_character_says_what_was_expected() -> None:
    wrong = "0" if VALID[17] != "0" else "1"
    with pytest.raises(ValueError) as caught:
        validate_uscc(VALID[:17] + wrong)
    assert str(caught.value) == (
        f"USCC check character at position 18 is {wrong!r}, expected {VALID[17]!r}"
    )


def test_uscc_must_be_a_string() -> None:
    with pytest.raises(ValueError, match="USCC must be a string"):
        validate_uscc(913501001234567890)  # type: ignore[arg-type]


# --- properties -------------------------------------------------------------------------------

alphabet = st.sampled_from(USCC_ALPHABET)
bodies = st.builds(
    lambda head, division, tail: head + division + tail,
    st.text(alphabet, min_size=2, max_size=2),
    st.text(st.sampled_from("0123456789"), min_size=6, max_size=6),
    st.text(alphabet, min_size=9, max_size=9),
)
replacements = st.sampled_from(USCC_ALPHABET + "IOSVZabc -")


@given(body=bodies)
def test_any_body_with_its_check_character_validates(body: str) -> None:
    code = make_uscc(body)
    assert validate_uscc(code) == code


@given(body=bodies, position=st.integers(min_value=0, max_value=17), char=replacements)
def test_any_single_character_change_is_rejected(body: str, position: int, char: str) -> None:
    code = make_uscc(body)
    if code[position] == char:
        return
    changed = code[:position] + char + code[position + 1 :]
    with pytest.raises(ValueError, match=f"position {position + 1}|positions 3-8|position 18"):
        validate_uscc(changed)


# --- division codes ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "tier"),
    [
        ("000000", Tier.NATIONAL),
        ("110000", Tier.PROVINCIAL),
        ("440300", Tier.MUNICIPAL),
        ("440305", Tier.COUNTY),
        ("110108", Tier.COUNTY),
    ],
)
def test_valid_division_codes(code: str, tier: Tier) -> None:
    assert validate_division_code(code) == code
    assert division_tier(code) is tier


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("11010", "division code must be 6 digits, got '11010'"),
        ("1101080", "division code must be 6 digits, got '1101080'"),
        ("11a108", "division code must be 6 digits, got '11a108'"),
        (110108, "division code must be 6 digits, got 110108"),
        ("001100", "division code '001100' has no province (first two digits 00)"),
        ("110008", "division code '110008' names a county without a city (digits 3-4 are 00)"),
    ],
)
def test_invalid_division_codes(code: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        validate_division_code(code)  # type: ignore[arg-type]
    assert str(caught.value) == message


def test_division_for_tier_walks_up_the_network() -> None:
    county = "440305"  # Shenzhen Nanshan
    assert division_for_tier(county, Tier.COUNTY) == "440305"
    assert division_for_tier(county, Tier.MUNICIPAL) == "440300"
    assert division_for_tier(county, Tier.PROVINCIAL) == "440000"
    assert division_for_tier(county, Tier.NATIONAL) == NATIONAL_DIVISION
    walked, tier = [], Tier.COUNTY
    while tier is not None:
        walked.append(division_for_tier(county, tier))
        tier = tier.next_up()
    assert walked == ["440305", "440300", "440000", "000000"]
    assert all(division_tier(code) is t for code, t in zip(walked, Tier, strict=True))


@given(st.text(st.sampled_from("0123456789"), min_size=6, max_size=6))
def test_division_for_tier_results_are_valid_codes(code: str) -> None:
    try:
        validate_division_code(code)
    except ValueError:
        return
    for tier in Tier:
        governing = validate_division_code(division_for_tier(code, tier))
        assert division_tier(governing).rank >= min(tier.rank, division_tier(code).rank)


# --- the model --------------------------------------------------------------------------------


def test_enterprise_model_reports_the_field() -> None:
    enterprise = Enterprise(uscc=VALID, name="Acme", division_code="330106", grade="little_giant")
    assert enterprise.grade is Grade.LITTLE_GIANT
    with pytest.raises(ValidationError) as caught:
        Enterprise(uscc=VALID[:17] + "#", name="Acme", division_code="330106")
    [error] = caught.value.errors()
    assert error["loc"] == ("uscc",)
    assert "position 18" in error["msg"]
    with pytest.raises(ValidationError) as caught:
        Enterprise(uscc=VALID, name="Acme", division_code="110008")
    assert caught.value.errors()[0]["loc"] == ("division_code",)
