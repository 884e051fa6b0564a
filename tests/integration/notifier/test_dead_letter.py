"""A record the notifier cannot read goes to its dead-letter topic with a reason; the
partition moves on to the events behind it."""

from __future__ import annotations

import json

from sqlalchemy import Engine

from schemas.dlq import DLQ_WORDING
from schemas.lifecycle import Wording
from tests.utils.eventually import eventually
from tests.utils.ingress_helpers import read_partition
from tests.utils.notifier_helpers import project, rows, warning_breach_escalation
from tests.utils.notifier_rig import NotifierRig, notifier_thread
from tierflow.i18n import translations
from tierflow.i18n.refusals import refusal_text
from tierflow.kafka_io import header, make_producer
from tierflow_dev.devstack.smtp_sink import SmtpSink


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
