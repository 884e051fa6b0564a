"""Enterprise identities: the Unified Social Credit Code and GB/T 2260 division codes."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, Field

from schemas.divisions import check_known_division
from schemas.domain import Grade, SizeClass, Tier
from schemas.edge import (
    CONTACT_NAME_BYTES,
    NAME_BYTES,
    SHORT_BYTES,
    check_email,
    check_not_blank,
    check_phone,
    edge_rule,
    limit,
    text_rule,
)
from schemas.messages import N_, TranslatableError

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
NATIONAL_DIVISION = "000000"


def uscc_check_character(first17: str) -> str:
    """Return the GB 32100-2015 check character for the first 17 characters of a USCC."""
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(first17, USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def validate_uscc(code: str) -> str:
    """Return the code if it is a valid USCC; raise ValueError naming the position otherwise.

    The error is a TranslatableError: English as ``str()`` (the API's answer), in the
    operator's language in the CLI.
    """
    if not isinstance(code, str):
        raise TranslatableError(N_("USCC must be a string"))
    if len(code) != 18:
        raise TranslatableError(N_("USCC must have 18 characters, got %(count)d"), count=len(code))
    for position, char in enumerate(code, start=1):
        if char not in USCC_ALPHABET:
            raise TranslatableError(
                N_(
                    "USCC character %(char)r at position %(position)d is not allowed "
                    "(allowed: digits and %(letters)s)"
                ),
                char=char,
                position=position,
                letters=USCC_ALPHABET[10:],
            )
    if not code[2:8].isdigit():
        raise TranslatableError(
            N_("USCC positions 3-8 must be a 6-digit division code, got %(code)r"), code=code[2:8]
        )
    expected = uscc_check_character(code[:17])
    if code[17] != expected:
        raise TranslatableError(
            N_("USCC check character at position 18 is %(got)r, expected %(expected)r"),
            got=code[17],
            expected=expected,
        )
    return code


def normalise_uscc(value: Any) -> Any:
    """Upper-case a USCC before the check (lower-case letters are the same code)."""
    return value.upper() if isinstance(value, str) else value


def validate_division_code(code: str) -> str:
    """Return the code if it is a well-formed GB/T 2260 division code, else raise ValueError
    (a TranslatableError)."""
    # [0-9], not \d or isdigit(): full-width digits such as "３３０１０６" are not a code
    if isinstance(code, str) and len(code) == 6 and code.isdigit() and not code.isascii():
        raise TranslatableError(
            N_("division code must use ASCII digits 0-9, got %(code)r"), code=code
        )
    if not isinstance(code, str) or re.fullmatch(r"[0-9]{6}", code) is None:
        raise TranslatableError(N_("division code must be 6 digits, got %(code)r"), code=code)
    if code == NATIONAL_DIVISION:
        return code
    if code[:2] == "00":
        raise TranslatableError(
            N_("division code %(code)r has no province (first two digits 00)"), code=code
        )
    if code[2:4] == "00" and code[4:] != "00":
        raise TranslatableError(
            N_("division code %(code)r names a county without a city (digits 3-4 are 00)"),
            code=code,
        )
    return code


def registering_division(uscc: str) -> str | None:
    """The division a USCC was issued in: its characters 3-8 are the registering
    authority's GB/T 2260 code (GB 32100-2015), the enterprise's ``division_code`` unless
    it moved. None for an invalid USCC or a code the division data does not know."""
    try:
        code = validate_uscc(uscc.strip().upper())[2:8]
        return check_known_division(validate_division_code(code))
    except ValueError:
        return None


def division_tier(code: str) -> Tier:
    """Return the tier a division code names: province, city or county."""
    if code == NATIONAL_DIVISION:
        return Tier.NATIONAL
    if code[2:] == "0000":
        return Tier.PROVINCIAL
    if code[4:] == "00":
        return Tier.MUNICIPAL
    return Tier.COUNTY


def division_for_tier(code: str, tier: Tier) -> str:
    """Return the division code that governs ``code`` at ``tier`` (county -> city -> province)."""
    if tier is Tier.NATIONAL:
        return NATIONAL_DIVISION
    if tier is Tier.PROVINCIAL:
        return code[:2] + "0000"
    if tier is Tier.MUNICIPAL:
        return code[:4] + "00"
    return code


Uscc = Annotated[str, BeforeValidator(normalise_uscc), AfterValidator(validate_uscc)]
DivisionCode = Annotated[str, AfterValidator(validate_division_code)]
# An enterprise's division: well formed, and present in the division data (edge rule).
KnownDivisionCode = Annotated[DivisionCode, edge_rule(check_known_division)]


class Enterprise(BaseModel):
    """The enterprise asking for help. ``contact_*`` fields are PII."""

    uscc: Uscc = Field(
        description="Unified Social Credit Code (GB 32100-2015); lower case is upper-cased"
    )
    name: Annotated[str, limit(NAME_BYTES, 1), text_rule(NAME_BYTES), edge_rule(check_not_blank)]
    division_code: KnownDivisionCode = Field(
        description="GB/T 2260 code of the registering county; must be in the division data"
    )
    size_class: SizeClass = SizeClass.SMALL
    grade: Grade = Grade.NONE
    contact_name: Annotated[
        str | None, limit(CONTACT_NAME_BYTES), text_rule(CONTACT_NAME_BYTES)
    ] = None
    contact_phone: Annotated[
        str | None, limit(SHORT_BYTES), text_rule(SHORT_BYTES), edge_rule(check_phone)
    ] = None
    contact_email: Annotated[
        str | None, limit(NAME_BYTES), text_rule(NAME_BYTES), edge_rule(check_email)
    ] = None
