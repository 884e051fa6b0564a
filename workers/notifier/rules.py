"""Notification rules: which lifecycle events reach whom, by which channels (validated TOML).

The packaged ``data/rules.toml`` is the default; ``TIERFLOW_NOTIFIER_RULES_FILE`` replaces it.
A file that does not validate stops the notifier at start with every problem named by its
path in the file (``rule[2].send[0].channels: ...``). Secrets are never in the file: a webhook
endpoint or the SMS gateway names the environment variable that holds its secret.
"""

from __future__ import annotations

import json
import os
import tomllib
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs

from jinja2 import Environment, StrictUndefined
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from schemas.domain import Category, Role
from schemas.lifecycle import ActionKind, EventType, RatingStage, RequestSummary, ReturnReason
from tierflow.db.notification_models import LOCALES, Channel
from tierflow.webhook_signature import secret_key

NAME_PATTERN = r"^[a-z][a-z0-9_-]{0,63}$"
_SMS_TEMPLATES = Environment(undefined=StrictUndefined, autoescape=False)  # JSON: use tojson


class Audience(StrEnum):
    """Who a rule addresses, relative to the request the event is about."""

    # caseworkers of the institution holding the request; of a chasing event (催办, 督办,
    # 通报), the unit chased (a late part's co-handler: schemas.chased.charged_unit)
    CASEWORKERS = "caseworkers"
    INSTITUTION_LEAD = "institution_lead"  # supervisors of that institution
    SUPERVISORS_ABOVE = "supervisors_above"  # supervisors of the tier above, for its region
    TIER_SUPERVISORS = "tier_supervisors"  # supervisors of the holding tier, for its region
    ENTERPRISE = "enterprise"  # the enterprise's contact on file
    CO_HANDLERS = "co_handlers"  # caseworkers of the co-handling unit the event names (协办)
    FOLLOW_UP_DESK = "follow_up_desk"  # 回访员 of the tier above (the dispatching tier)
    DISPATCH_DESK = "dispatch_desk"  # 派单员 of the tier above: returns come back to them
    HANDLER = "handler"  # the caseworker an event names as the request's handler (承办人)
    # the supervisor who opened the 督办 an event answers (a reply, a reprimand); none when
    # the engine opened it
    SUPERVISION_OPENER = "supervision_opener"
    # caseworkers of the unit a move took the request from (改派, an approved 退单)
    PREVIOUS_HOLDER = "previous_holder"
    # 派单员 of the province (of the tier above, when that is higher): a 退单 for 非本辖区 may
    # belong to another city's unit, which only the province may send it to
    PROVINCE_DISPATCH_DESK = "province_dispatch_desk"


PERSON_CHANNELS = frozenset({Channel.INBOX, Channel.EMAIL, Channel.SMS})
ENTERPRISE_CHANNELS = frozenset({Channel.EMAIL, Channel.SMS})


class RulesError(ValueError):
    """A rules file that cannot be used; the message names every problem."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Send(_Strict):
    """One audience of a rule and the channels it is reached by."""

    audience: Audience
    channels: Annotated[list[Channel], Field(min_length=1)]

    @model_validator(mode="after")
    def _channels_fit(self) -> Send:
        allowed = ENTERPRISE_CHANNELS if self.audience is Audience.ENTERPRISE else PERSON_CHANNELS
        wrong = [c.value for c in self.channels if c not in allowed]
        if wrong:
            raise ValueError(
                f"channels {wrong} cannot reach {self.audience.value} "
                f"(allowed: {sorted(c.value for c in allowed)})"
            )
        return self


class Rule(_Strict):
    """Events of these types become messages from ``template`` to each audience."""

    name: str = Field(pattern=NAME_PATTERN)
    events: Annotated[list[EventType], Field(min_length=1)]
    template: str = Field(pattern=NAME_PATTERN)
    urgent: bool = False  # sent at once, even outside working hours
    only_if_rating_below: int | None = Field(default=None, ge=2, le=5)  # rated events only
    # by the event's details.cause (e.g. a close for no reply): only these, or all but these
    only_if_cause: list[str] = Field(default_factory=list)
    unless_cause: list[str] = Field(default_factory=list)
    # by the role of who took the step (a supervisor's comment is an instruction, 批示)
    only_if_actor_role: list[Role] = Field(default_factory=list)
    # by the event's details.kind (an application's: return, request_extension, suspend)
    only_if_kind: list[ActionKind] = Field(default_factory=list)
    # by a rating's stage (rated events: conclusion, the default, or intake)
    only_if_stage: list[RatingStage] = Field(default_factory=list)
    # only events whose details hold these (a close that still takes a rating: rating_due_at)
    only_if_details: list[str] = Field(default_factory=list)
    # by a 退单's details.return_reason (非本辖区: outside_region)
    only_if_return_reason: list[ReturnReason] = Field(default_factory=list)
    send: Annotated[list[Send], Field(min_length=1)]

    def applies(self, details: dict[str, Any], actor_role: Role | None = None) -> bool:
        """Whether an event with these details, taken by ``actor_role``, meets the rule's
        conditions."""
        if self.only_if_actor_role and actor_role not in self.only_if_actor_role:
            return False
        if any(details.get(name) is None for name in self.only_if_details):
            return False
        if self.only_if_kind and details.get("kind") not in self.only_if_kind:
            return False
        reason = details.get("return_reason")
        if self.only_if_return_reason and reason not in self.only_if_return_reason:
            return False
        stage = details.get("stage") or RatingStage.CONCLUSION.value
        if self.only_if_stage and stage not in self.only_if_stage:
            return False
        cause = details.get("cause")
        if self.only_if_cause and cause not in self.only_if_cause:
            return False
        if cause in self.unless_cause:
            return False
        if self.only_if_rating_below is None:
            return True
        rating = details.get("rating")
        return isinstance(rating, int) and rating < self.only_if_rating_below


class Endpoint(_Strict):
    """An HTTP endpoint we POST to, signed by the Standard Webhooks scheme when it has a secret."""

    url: str = Field(pattern=r"^https?://\S+$")
    secret_env: str | None = Field(default=None, pattern=r"^[A-Z][A-Z0-9_]*$")
    timeout_seconds: float = Field(default=10.0, gt=0, le=120)

    def secret(self) -> str | None:
        """Return the secret from the environment (checked at load)."""
        return os.environ.get(self.secret_env) if self.secret_env else None


class Webhook(Endpoint):
    """Another system that receives these lifecycle events: of every request, or only of the
    enterprises in ``divisions`` (division code prefixes: ``"33"`` a province, ``"3301"`` a
    city) and of the ``categories`` it serves (a regional financing platform)."""

    name: str = Field(pattern=NAME_PATTERN)
    events: Annotated[list[EventType], Field(min_length=1)]
    divisions: list[Annotated[str, Field(pattern=r"^\d{2}(\d{2}){0,2}$")]] = Field(
        default_factory=list
    )
    categories: list[Category] = Field(default_factory=list)

    def serves(self, summary: RequestSummary) -> bool:
        """Whether events of the request ``summary`` describes go to this webhook."""
        if self.divisions and not summary.division_code.startswith(tuple(self.divisions)):
            return False
        return not self.categories or summary.category in self.categories


class SmsGateway(Endpoint):
    """An HTTP SMS gateway: ``body_template`` (Jinja, JSON) renders ``phone`` and ``text``, and
    ``rule`` and ``request_id`` (a provider of approved templates maps the rule to one)."""

    body_template: str = Field(min_length=1, max_length=4000)
    content_type: str = "application/json"

    def body(self, phone: str, text: str, rule: str = "", request_id: str = "") -> str:
        """The gateway's request body for one message."""
        return _render_sms(self.body_template, phone, text, rule, request_id)

    @field_validator("body_template")
    @classmethod
    def _renders(cls, template: str) -> str:
        """Refused at start, not at every message's send (a name it does not know, bad syntax)."""
        try:
            _render_sms(template, "+8613800000000", "测试")
        except Exception as exc:  # noqa: BLE001 - a filter may raise anything (tojson: TypeError)
            raise ValueError(f"does not render with phone and text: {exc}") from None
        return template

    @model_validator(mode="after")
    def _escapes_text(self) -> SmsGateway:
        """A JSON body keeps a text with quotes and line breaks one string value: a subject an
        enterprise typed (``", "to": "...``) must not add a recipient or a field."""
        if "x-www-form-urlencoded" in self.content_type:
            return self._form_keeps_text()
        if "json" not in self.content_type:
            return self
        try:
            rendered = _render_sms(self.body_template, "+8613800000000", HOSTILE_TEXT)
        except Exception:  # noqa: BLE001 - fails on some texts: each such send is dead-lettered
            return self
        try:
            body = json.loads(rendered)
        except ValueError:
            body = None
        if HOSTILE_TEXT not in _strings(body):
            raise ValueError(
                "body_template: a text with quotes or line breaks breaks the JSON body; "
                "write {{ text | tojson }} (and {{ phone | tojson }})"
            )
        return self

    def _form_keeps_text(self) -> SmsGateway:
        """A form body keeps a text with ``&``, ``=``, ``+`` and ``%`` one field's value, and
        the phone's ``+``: an enterprise's subject (``&mobile=...``) must not add a recipient
        or a field."""
        rendered = _render_sms(self.body_template, "+8613800000000", HOSTILE_FORM_TEXT)
        values = [v for vs in parse_qs(rendered, keep_blank_values=True).values() for v in vs]
        if HOSTILE_FORM_TEXT not in values or "+8613800000000" not in values:
            raise ValueError(
                "body_template: a text with & = + or % breaks the form body; write "
                "{{ text | urlencode }} (and {{ phone | urlencode }})"
            )
        return self


# A text as an enterprise may type it, which a form body must keep as one field's value.
HOSTILE_FORM_TEXT = "关于 a&mobile=+8613900000000&sign=x 100% 的咨询"
# A text as an enterprise may type it, which a JSON body must keep as one string value.
HOSTILE_TEXT = 'a "quote", a \\ and a\nline break", "to": "+8613900000000'


def _strings(value: object) -> list[str]:
    """Every string value in a parsed JSON document."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for item in value.values() for s in _strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return []


def _render_sms(
    template: str, phone: str, text: str, rule: str = "request_received", request_id: str = "r-1"
) -> str:
    """The gateway's body: the number and the text, and the rule and request the text is of,
    for a provider that sends only templates it approved (a rule picks its template code)."""
    return _SMS_TEMPLATES.from_string(template).render(
        phone=phone, text=text, rule=rule, request_id=request_id
    )


class Rules(_Strict):
    """The whole rules file."""

    version: str = Field(min_length=1, max_length=64)
    default_locale: str = "zh-CN"
    rule: list[Rule] = Field(default_factory=list)
    webhook: list[Webhook] = Field(default_factory=list)
    sms: SmsGateway | None = None

    @field_validator("default_locale")
    @classmethod
    def _known_locale(cls, value: str) -> str:
        if value not in LOCALES:
            raise ValueError(f"unknown locale {value!r}; known: {', '.join(LOCALES)}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Rules:
        for kind, names in (
            ("rule", [r.name for r in self.rule]),
            ("webhook", [w.name for w in self.webhook]),
        ):
            doubles = sorted({n for n in names if names.count(n) > 1})
            if doubles:
                raise ValueError(f"{kind} names must be unique, repeated: {doubles}")
        for rule in self.rule:
            if rule.only_if_rating_below is not None and rule.events != [EventType.RATED]:
                raise ValueError(f"rule {rule.name}: only_if_rating_below needs events = ['rated']")
        return self

    def texts_unsent(self) -> list[str]:
        """The rules whose text messages go nowhere: they name SMS and there is no [sms]
        gateway (the packaged rules text the enterprise once a gateway is configured)."""
        if self.sms is not None:
            return []
        return [r.name for r in self.rule if any(Channel.SMS in s.channels for s in r.send)]

    def for_event(self, event_type: EventType) -> list[Rule]:
        return [r for r in self.rule if event_type in r.events]

    def webhooks_for(self, event_type: EventType, summary: RequestSummary) -> list[Webhook]:
        return [w for w in self.webhook if event_type in w.events and w.serves(summary)]


def _check_secrets(rules: Rules) -> list[str]:
    """Name every endpoint whose secret variable is unset or not a valid secret."""
    problems = []
    endpoints: list[tuple[str, Endpoint]] = [
        (f"webhook[{i}]", w) for i, w in enumerate(rules.webhook)
    ]
    if rules.sms is not None:
        endpoints.append(("sms", rules.sms))
    for where, endpoint in endpoints:
        if endpoint.secret_env is None:
            continue
        value = os.environ.get(endpoint.secret_env)
        if not value:
            problems.append(
                f"{where}.secret_env: environment variable {endpoint.secret_env} is unset"
            )
            continue
        try:
            secret_key(value)
        except ValueError as exc:
            problems.append(f"{where}.secret_env: {endpoint.secret_env}: {exc}")
    return problems


def parse_rules(text: str, source: str = "rules") -> Rules:
    """Validate the TOML text of a rules file; raise RulesError naming each problem."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RulesError(f"{source}: not TOML: {exc}") from None
    try:
        rules = Rules.model_validate(raw)
    except ValidationError as exc:
        lines = [f"{'.'.join(_path(err['loc'])) or '<root>'}: {err['msg']}" for err in exc.errors()]
        raise RulesError(f"{source}: " + "; ".join(lines)) from None
    problems = _check_secrets(rules)
    if problems:
        raise RulesError(f"{source}: " + "; ".join(problems))
    return rules


def _path(loc: tuple[int | str, ...]) -> list[str]:
    """Turn pydantic's ``('rule', 2, 'send', 0)`` into ``['rule[2]', 'send[0]']``."""
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int) and parts:
            parts[-1] += f"[{item}]"
        else:
            parts.append(str(item))
    return parts


def load_rules(path: Path | None = None) -> Rules:
    """Load the rules file at ``path``, or the packaged default."""
    if path is None:
        text = resources.files("workers.notifier").joinpath("data/rules.toml").read_text("utf-8")
        return parse_rules(text, "packaged rules.toml")
    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        raise RulesError(f"{path}: cannot read: {exc.strerror}") from None
    return parse_rules(text, str(path))
