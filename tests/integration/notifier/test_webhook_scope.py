"""A webhook may serve part of the network: a regional platform hears of the requests of the
enterprises in its divisions, a financing platform of financing requests, not every
enterprise's (names, USCCs, subjects). The packaged planner on a real read model."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine

from schemas.domain import Category
from schemas.events import event_from_transition
from tests.utils.factories import RecordFactory, make_request
from tests.utils.notifier_helpers import project, rows
from workers.notifier.planner import Planner, record_rows
from workers.notifier.rules import RulesError, parse_rules
from workers.notifier.templates import Templates

HOOKS = """
version = "scoped-webhooks"
[[webhook]]
name = "hangzhou-finance"
url = "https://finance.example.org/hooks"
events = ["submitted"]
divisions = ["3301"]
categories = ["financing"]

[[webhook]]
name = "ningbo"
url = "https://ningbo.example.org/hooks"
events = ["submitted"]
divisions = ["3302"]

[[webhook]]
name = "everything"
url = "https://crm.example.org/hooks"
events = ["submitted"]
"""


def test_a_webhook_hears_only_of_the_requests_it_serves(engine: Engine) -> None:
    rules = parse_rules(HOOKS)
    planner = Planner(engine, rules, Templates(), "http://console", clock=lambda: datetime.now(UTC))
    requests = {
        "req-hz-finance": make_request("req-hz-finance", division_code="330106"),
        "req-hz-talent": make_request(
            "req-hz-talent", division_code="330106", category=Category.TALENT
        ),
        "req-nb": make_request("req-nb", division_code="330203"),
    }
    for req in requests.values():
        (record,) = project(engine, [RecordFactory(req).submitted()])
        record_rows(engine, planner.plan(event_from_transition(record), record))
    heard = sorted((row.recipient, row.request_id) for row in rows(engine))
    assert heard == [
        ("webhook:everything", "req-hz-finance"),
        ("webhook:everything", "req-hz-talent"),
        ("webhook:everything", "req-nb"),
        ("webhook:hangzhou-finance", "req-hz-finance"),
        ("webhook:ningbo", "req-nb"),
    ]


def test_a_division_that_is_no_code_prefix_is_refused_naming_it() -> None:
    with pytest.raises(RulesError) as refused:
        parse_rules(HOOKS.replace('divisions = ["3302"]', 'divisions = ["330"]'))
    assert "webhook[1].divisions[0]" in str(refused.value)
