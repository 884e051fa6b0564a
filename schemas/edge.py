"""Edge rules for what callers send: free text, ids and timestamps (shared by API and Kafka).

Both edges validate with the models in ``schemas/``, so every rule lives here once:

- free text is bounded by UTF-8 **bytes** (a workflow's state is bytes; a Chinese character
  takes 3), and refuses control characters (NUL and the rest of U+0000-U+001F, DEL, the C1
  controls, the bidirectional overrides and isolates) except tab, newline and carriage return;
- names and ids a caller chooses (an actor's id, a CloudEvent's source) refuse every control
  character, tab and line breaks too;
- ids are matched as a whole string (no trailing newline slips through to logs);
- a contact e-mail is one address (``EMAIL_PATTERN``): the notifier mails it;
- a contact phone is one telephone number (``check_phone``): the notifier texts a mobile;
- timestamps must carry a UTC offset.

These are *edge* rules. A request or record the workflow stored earlier is read back inside
:func:`stored`, which skips them: data accepted under older rules must keep decoding, or a
running request would wedge on replay.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import AfterValidator, Field
from temporalio import workflow

from schemas.messages import N_, TranslatableError
from schemas.policy import FIRST_POLICY_EFFECTIVE, FIRST_POLICY_VERSION

# C0 controls except tab (09), newline (0A) and carriage return (0D), DEL (7F), the C1
# controls (80-9F: U+0085 ends a line to some readers) and the bidirectional controls
# (202A-202E, 2066-2069): an override shown in the console, a mail or a log reorders what a
# reader sees (a text or a name that reads otherwise than it is, "Trojan Source").
_BIDI = "\u202a-\u202e\u2066-\u2069"
_CONTROL = re.compile(f"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f{_BIDI}]")
# Every C0 control, DEL, C1 and bidirectional control, and the Unicode line and paragraph
# separators: none belongs in a name or an id (logs, columns, mail headers).
_ANY_CONTROL = re.compile(f"[\x00-\x1f\x7f-\x9f\u2028\u2029{_BIDI}]")
_STORED: ContextVar[bool] = ContextVar("tierflow_stored", default=False)

# Byte limits: three times the character limits of 0.1.0 (a CJK character is 3 UTF-8 bytes),
# so a text in Chinese keeps the length it had, and an ASCII text may be longer.
SUBJECT_BYTES = 600  # was 200 characters
DESCRIPTION_BYTES = 30_000  # was 10,000 characters
ACTION_TEXT_BYTES = 30_000  # was 10,000 characters
NAME_BYTES = 600  # enterprise name, contact e-mail (were 200 characters)
CONTACT_NAME_BYTES = 300  # was 100 characters
SHORT_BYTES = 120  # contact phone, channel (were 40 characters)
ATTACHMENT_NAME_BYTES = 765  # was 255 characters
MEDIA_TYPE_BYTES = 300  # was 100 characters
URL_BYTES = 3_000  # was 1,000 characters
SEARCH_BYTES = 300  # a search box: 100 Chinese characters
INSTITUTION_IDS_AT_ONCE = 200  # the ids one call of GET /institutions names

# One e-mail address mail can go to: no display name, no list, no spaces or line breaks (a
# line break would end a mail's header, a comma would add a recipient).
EMAIL_PATTERN = r"^[^@\s<>,;\"]{1,64}@[A-Za-z0-9.-]{1,190}\.[A-Za-z]{2,}$"

# Ids a caller chooses: printable ASCII, no spaces, matched as a whole string.
ACTION_ID_PATTERN = r"^[!-~]{1,200}$"
INSTITUTION_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"
USER_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,99}$"  # a user's name, also its actor id


@contextmanager
def stored() -> Iterator[None]:
    """Read data the workflow stored itself: edge rules are skipped inside this block."""
    token = _STORED.set(True)
    try:
        yield
    finally:
        _STORED.reset(token)


def is_stored() -> bool:
    """Return True while stored data is being read back (see :func:`stored`)."""
    return _STORED.get()


def replaying() -> bool:
    """Whether a workflow is replaying its history now: what it decodes (an update's input)
    was judged by the rules in force when it came, and must decode as it was accepted, or a
    rule tightened since would fail the replay and wedge the request."""
    return workflow.in_workflow() and workflow.unsafe.is_replaying()


def edge_rule(check: Callable[[Any], Any]) -> AfterValidator:
    """Wrap ``check`` so that it runs on what callers send, not on stored data."""

    def run(value: Any) -> Any:
        return value if _STORED.get() else check(value)

    return AfterValidator(run)


def check_text(value: str | None, max_bytes: int) -> str | None:
    """Return ``value`` if it is at most ``max_bytes`` of UTF-8 without control characters."""
    if value is None:
        return None
    _refuse_control(
        _CONTROL,
        value,
        N_(
            "control character U+%(code)s at position %(position)d is not allowed (only tab, "
            "newline and carriage return are)"
        ),
    )
    size = len(value.encode("utf-8", errors="surrogatepass"))
    if size > max_bytes:
        raise TranslatableError(
            N_("text is %(size)d bytes in UTF-8, limit %(limit)d"), size=size, limit=max_bytes
        )
    return value


def check_no_control(value: str | None) -> str | None:
    """Return ``value`` if it has no control character at all (a tab or a line break
    included, unlike free text): an id or a name a caller chose."""
    if value is not None:
        _refuse_control(
            _ANY_CONTROL,
            value,
            N_("control character U+%(code)s at position %(position)d is not allowed in a name"),
        )
    return value


def _refuse_control(controls: re.Pattern[str], value: str, message: str) -> None:
    """Raise ``message`` (a TranslatableError) naming the first of ``controls`` in ``value``
    and where it stands."""
    bad = controls.search(value)
    if bad:
        raise TranslatableError(message, code=f"{ord(bad.group()):04X}", position=bad.start() + 1)


def check_name(value: str | None) -> str | None:
    """Return ``value`` if it is a name: no control character, and not blank."""
    if value is None:
        return None
    check_no_control(value)
    return check_not_blank(value)


def check_not_blank(value: str) -> str:
    """Return ``value`` if it holds more than white space (a required text)."""
    if not value.strip():
        raise TranslatableError(N_("must not be blank"))
    return value


def check_web_link(value: str | None) -> str | None:
    """Return ``value`` if it is an http or https link (or empty): the console shows it as a
    link to click, which a ``javascript:`` or ``data:`` one must never be."""
    if value and not re.fullmatch(r"https?://[^\s/?#]+[^\s]*", value, re.IGNORECASE):
        raise TranslatableError(N_("must be an http or https link such as https://example.org/f"))
    return value


def is_email(value: str) -> bool:
    """Whether ``value`` is one e-mail address mail can go to (``EMAIL_PATTERN``)."""
    return full_match(EMAIL_PATTERN, value)


def check_email(value: str | None) -> str | None:
    """Return ``value`` if it is one e-mail address (or empty: none given)."""
    if value and not is_email(value):
        raise TranslatableError(N_("must be an e-mail address such as name@example.org"))
    return value


# A telephone number as people write it: digits grouped by spaces, hyphens or parentheses,
# an optional leading + (international form), an optional extension after 转, 分机, ext or x.
_PHONE = re.compile(
    r"^\+?[0-9 ()\-]+?(?:\s*(?:转|分机|ext\.?|x)\s*(?P<extension>[0-9]{1,8}))?$", re.IGNORECASE
)
_PHONE_DIGITS = (7, 15)  # a local number at least; E.164 at most
_CN_MOBILE = re.compile(r"^(?:\+86|0086|86)?(1[3-9][0-9]{9})$")


def check_phone(value: str | None) -> str | None:
    """Return ``value`` if it is one telephone number (or empty: none given): the notifier
    texts a mobile number, and a caseworker calls it."""
    if not value:
        return value
    text = value.strip()
    found = _PHONE.fullmatch(text)
    number = text[: found.start("extension")] if found and found.group("extension") else text
    digits = sum(c.isdigit() for c in number)
    if found is None or not _PHONE_DIGITS[0] <= digits <= _PHONE_DIGITS[1]:
        raise TranslatableError(
            N_(
                "must be one telephone number such as 13800000000 or 0571-87654321 (7 to 15 "
                "digits; spaces, hyphens, parentheses, a leading + and an extension after 转)"
            )
        )
    return value


def sms_number(value: str | None) -> str | None:
    """The number a text message goes to (E.164), or None when ``value`` cannot take one: a
    Chinese landline, a number with an extension (a switchboard), or no number at all. A
    number abroad in international form is taken as it is: only its network knows."""
    if not value:
        return None
    compact = re.sub(r"[\s()\-]", "", value)
    mobile = _CN_MOBILE.fullmatch(compact)
    if mobile:
        return "+86" + mobile.group(1)
    abroad = re.fullmatch(r"\+([1-9][0-9]{6,14})", compact)
    return compact if abroad and not compact.startswith("+86") else None


def full_match(pattern: str, value: str) -> bool:
    """Return True if ``value`` matches ``pattern`` as a whole (a trailing newline does not)."""
    return re.fullmatch(pattern, value) is not None


def text_rule(max_bytes: int) -> AfterValidator:
    """The edge rule of a free-text field: no control characters, at most ``max_bytes``."""
    return edge_rule(lambda v: check_text(v, max_bytes))


def limit(max_bytes: int, min_length: int = 0) -> Any:
    """The schema side of a byte limit (characters never outnumber bytes)."""
    return Field(
        min_length=min_length,
        max_length=max_bytes,
        json_schema_extra={"maxUtf8Bytes": max_bytes},
    )


def check_aware(value: datetime | None) -> datetime | None:
    """Return ``value`` if it has a UTC offset; a bare local time means nothing here."""
    if value is not None and value.utcoffset() is None:
        raise TranslatableError(
            N_("must include a time zone (e.g. 2026-03-02T09:30:00+08:00 or ...Z)")
        )
    return value


# Clock skew tolerated between a caller and us for ``submitted_at``.
SUBMITTED_AT_SKEW = timedelta(minutes=5)


def check_submitted_at(value: datetime | None) -> datetime | None:
    """Return ``value`` if it has a time zone and lies between the first policy and now + skew.

    Nothing can have been submitted before the first SLA policy took effect, nor (beyond a
    small clock skew) in the future. The workflow never pins its calendar from this time.
    """
    if value is None:
        return None
    check_aware(value)
    if value < FIRST_POLICY_EFFECTIVE:
        raise TranslatableError(
            N_("is before %(effective)s, when the first SLA policy (%(version)s) took effect"),
            effective=FIRST_POLICY_EFFECTIVE.isoformat(),
            version=FIRST_POLICY_VERSION,
        )
    latest = datetime.now(UTC) + SUBMITTED_AT_SKEW
    if value > latest:
        minutes = int(SUBMITTED_AT_SKEW.total_seconds() // 60)
        raise TranslatableError(
            N_("is in the future (more than %(minutes)d minutes after now)"), minutes=minutes
        )
    return value
