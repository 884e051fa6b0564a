"""The rules file: the packaged default validates, and a bad file names field and reason."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs

import pytest

from schemas.lifecycle import EventType
from tierflow.settings import Settings
from workers.notifier.process import load_checked_rules
from workers.notifier.rules import RulesError, load_rules, parse_rules
from workers.notifier.templates import Templates


def test_the_packaged_rules_validate_and_every_template_exists() -> None:
    rules = load_checked_rules(Settings(), Templates())
    assert {r.name for r in rules.for_event(EventType.SLA_BREACHED)} == {"sla_breached"}
    assert rules.webhook == [] and rules.sms is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            'version = "1"\n[[rule]]\nname = "x"\nevents = ["nope"]\ntemplate = "t"\n'
            'send = [{ audience = "caseworkers", channels = ["inbox"] }]',
            "rule[0].events[0]: Input should be",
        ),
        (
            'version = "1"\n[[rule]]\nname = "x"\nevents = ["rated"]\ntemplate = "t"\n'
            'send = [{ audience = "enterprise", channels = ["inbox"] }]',
            "rule[0].send[0]: Value error, channels ['inbox'] cannot reach enterprise",
        ),
        (
            'version = "1"\n[[webhook]]\nname = "crm"\nurl = "http://x"\nevents = ["rated"]\n'
            'secret_env = "TIERFLOW_TEST_UNSET_SECRET"',
            "webhook[0].secret_env: environment variable TIERFLOW_TEST_UNSET_SECRET is unset",
        ),
        (
            'version = "1"\n[sms]\nurl = "http://x"\nbody_template = \'{"to": '
            '{{ phone | tojson }}, "text": {{ txt }}}\'',
            "sms.body_template: Value error, does not render with phone and text: 'txt' is",
        ),
        (
            'version = "1"\n[sms]\nurl = "http://x"\nbody_template = "{{ phone "',
            "sms.body_template: Value error, does not render with phone and text: unexpected",
        ),
        (  # a subject typed with a quote would add a field (a second "to") to the body
            'version = "1"\n[sms]\nurl = "http://x"\nbody_template = \'{"to": '
            '"{{ phone }}", "text": "{{ text }}"}\'',
            "a text with quotes or line breaks breaks the JSON body; write {{ text | tojson }}",
        ),
        (  # a form-encoded gateway (common in China): "&mobile=" in a subject adds a recipient
            'version = "1"\n[sms]\nurl = "http://x"\n'
            'content_type = "application/x-www-form-urlencoded"\n'
            'body_template = "mobile={{ phone }}&content={{ text }}"',
            "a text with & = + or % breaks the form body; write {{ text | urlencode }}",
        ),
        ('version = "1"\nsurprise = 1', "surprise: Extra inputs are not permitted"),
        ("version = ", "not TOML"),
    ],
)
def test_a_bad_file_names_the_field_and_the_reason(text: str, message: str) -> None:
    with pytest.raises(RulesError) as caught:
        parse_rules(text, "my-rules.toml")
    assert str(caught.value).startswith("my-rules.toml: ")
    assert message in str(caught.value)


def test_an_unknown_template_is_refused_at_start(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(
        'version = "1"\n[[rule]]\nname = "x"\nevents = ["rated"]\ntemplate = "no_such"\n'
        'send = [{ audience = "caseworkers", channels = ["inbox"] }]'
    )
    with pytest.raises(KeyError, match="zh-CN/no_such.j2 does not exist"):
        load_checked_rules(Settings(notifier_rules_file=path), Templates())
    assert load_rules(path).rule[0].template == "no_such"


def test_a_form_encoded_gateway_keeps_the_text_one_value() -> None:
    """Written with urlencode, a subject typed with & = + % is one field's value, and the
    phone keeps its +."""
    rules = parse_rules(
        'version = "1"\n[sms]\nurl = "http://x"\n'
        'content_type = "application/x-www-form-urlencoded"\n'
        'body_template = "mobile={{ phone | urlencode }}&content={{ text | urlencode }}"',
        "rules.toml",
    )
    assert rules.sms is not None
    body = rules.sms.body("+8613800000000", "融资 a&mobile=+8613900000000 100%")
    assert parse_qs(body) == {
        "mobile": ["+8613800000000"],
        "content": ["融资 a&mobile=+8613900000000 100%"],
    }
