"""A record the notifier cannot read goes to its dead-letter topic with a reason; the
partition moves on to the events behind it."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Engine

from schemas.dlq import DLQ_WORDING
from schemas.lifecycle import TransitionRecord, Wording
from tests.utils.eventually import eventually
from tests.utils.factories import RecordFactory, make_request
from tests.utils.ingress_helpers import read_partition
from tests.utils.notifier_helpers import COUNTY, project, rows, warning_breach_escalation
from tests.utils.notifier_rig import NotifierRig, notifier_thread
from tierflow.i18n import translations
from tierflow.i18n.refusals import refusal_text
from tierflow.kafka_io import header, make_producer
from tierflow_dev.devstack.smtp_sink import SmtpSink
from workers.notifier.planner import Planner


async def test_unreadable_records_are_parked_and_the_rest_is_handled(
    engine: Engine, people: None, smtp: SmtpSink, rig: NotifierRig
) -> None:
    records = project(engine, warning_breach_escalation()[:3])
    odd_type = {
        "specversion": "1.0",
        "id": "x:1",
        "source": "/s",
        "type": "org.tierflow.request.teleported.v1",
    }
    bad_data = {**odd_type, "type": "org.tierflow.request.assigned.v1", "data": {"event_id": 1}}
    producer = make_producer(rig.bootstrap)
    for value in (b"not json", json.dumps(odd_type).encode(), json.dumps(bad_data).encode()):
        producer.send(rig.topic, key=b"k", value=value)
    producer.flush(30)
    producer.close(timeout=5)
    with notifier_thread(rig.settings(smtp)):
        rig.publish(records)
        await eventually(lambda: len(rows(engine, rule="sla_warning")) == 3, timeout=60)
        parked = await eventually(
            lambda: (found := read_partition(rig.bootstrap, rig.dlq)) and len(found) == 3 and found,
            timeout=30,
        )
    reasons = [header(r, "tierflow_dlq_reason") for r in parked]
    assert reasons == ["not_json", "unknown_type", "schema_invalid"]
    assert [r.value for r in parked][0] == b"not json"
    assert header(parked[2], "tierflow_dlq_message").startswith("data.event_id: ")
    assert all(header(r, "tierflow_dlq_original_topic") == rig.topic for r in parked)
    # an operator reads why in Chinese (events tail), as the ingress's dead letters say it
    assert header(parked[0], DLQ_WORDING) is None  # the JSON parser's own words only
    zh = translations("zh-CN")
    said = [refusal_text(wording(r).as_said(), zh) for r in parked[1:]]
    assert said[0] == (
        "type 'org.tierflow.request.teleported.v1' 不是 org.tierflow.request.<事件>.v1 "
        "形式的已知事件"
    )
    assert said[1].startswith("data.event_id：")


def wording(record: object) -> Wording:
    return Wording.model_validate_json(header(record, DLQ_WORDING) or "")


async def test_a_text_no_template_could_render_holds_back_no_event(
    engine: Engine, people: None, smtp: SmtpSink, rig: NotifierRig
) -> None:
    """An enterprise's rating text that reads like the engine's "late since" with an instant
    past the calendar in China's time: it is told as written. A JSON value nested deeper than
    the parser goes is parked. The events behind both are notified."""
    f = RecordFactory(make_request())
    odd = "response late since 9999-12-31T23:59:59"
    rated = project(engine, [f.submitted(), f.assigned(COUNTY), f.rated(1, odd)])
    behind = project(engine, warning_breach_escalation()[:3])
    producer = make_producer(rig.bootstrap)
    producer.send(rig.topic, key=b"k", value=b"[" * 100_000)
    producer.flush(30)
    producer.close(timeout=5)
    with notifier_thread(rig.settings(smtp)):
        rig.publish(rated + behind)
        await eventually(lambda: len(rows(engine, rule="sla_warning")) == 3, timeout=60)
        [parked] = await eventually(lambda: read_partition(rig.bootstrap, rig.dlq), timeout=30)
    told = rows(engine, rule="bad_rating")
    assert told and all(odd in row.body for row in told)  # a person's text, as written
    assert header(parked, "tierflow_dlq_reason") == "not_json"
    assert header(parked, "tierflow_dlq_message") == "value is not JSON: nested too deep"


async def test_an_event_that_fails_to_plan_is_parked_after_three_tries(
    engine: Engine, people: None, smtp: SmtpSink, rig: NotifierRig, monkeypatch
) -> None:
    """A fault of the notifier's own on one event (not the database's): tried three times,
    then parked with reason ``unplannable``; the events behind it are notified."""
    poisoned = project(engine, warning_breach_escalation()[:3])
    behind = project(engine, warning_breach_escalation()[:3])
    tries: list[str] = []
    plan = Planner.plan

    def failing(self: Planner, event: Any, transition: TransitionRecord) -> Any:
        if transition.event_id == poisoned[2].event_id:
            tries.append(transition.event_id)
            raise KeyError("a template's missing value")
        return plan(self, event, transition)

    monkeypatch.setattr(Planner, "plan", failing)
    settings = rig.settings(smtp)
    with notifier_thread(settings):
        rig.publish(poisoned + behind)
        await eventually(lambda: len(rows(engine, rule="sla_warning")) == 3, timeout=60)
        [parked] = await eventually(lambda: read_partition(rig.bootstrap, rig.dlq), timeout=30)
    assert len(tries) == 3
    assert header(parked, "tierflow_dlq_reason") == "unplannable"
    assert header(parked, "tierflow_dlq_message") == (
        "its notifications could not be planned (KeyError)"
    )
    assert json.loads(parked.value)["id"] == poisoned[2].event_id
