"""Who a Kafka command acts as: the configured system client, never what the record claims.

On the real broker, dev server and worker: forged actors change nothing and are
dead-lettered as ``forbidden``; a client acts for a person only with a delegation grant, and
then both are recorded; a client's own topic names it whatever source a record claims; a
client over its rate is slowed, not dropped.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from sqlmodel import Session
from temporalio.service import RPCError

from schemas import dlq
from schemas.domain import Role, Tier
from schemas.events import SUBMIT, command_event
from tests.utils.eventually import eventually
from tests.utils.factories import make_request
from tests.utils.ingress_helpers import (
    command_topics,
    make_ingress,
    read_partition,
    running,
    send_commands,
)
from tests.utils.stack_helpers import sample, start_request
from tierflow.accounts_source import RecordedAccounts
from tierflow.auth_store import create_user, set_disabled
from tierflow.constants import workflow_id
from tierflow.db import repository
from tierflow.kafka_io import header
from tierflow.system_clients import SystemClient, SystemClients
from workers.ingress import Ingress
from workflows.service_request import ServiceRequestWorkflow

PORTAL = SystemClient(
    id="portal",
    name="portal",
    sources=["/portal-test"],
    grants=["submit", "comment", "provide_info"],
    act_for=[Role.ENTERPRISE],
)
DESK = SystemClient(  # a supervision desk system allowed to relay supervisors' actions
    id="desk",
    name="supervision desk",
    sources=["/desk-test"],
    grants=["comment", "escalate"],
    act_for=[Role.SUPERVISOR],
)
ZJ_DESK = SystemClient(  # Zhejiang's hotline: relays the people of Zhejiang only
    id="zj-desk",
    name="Zhejiang hotline",
    sources=["/zj-desk-test"],
    grants=["comment", "escalate"],
    act_for=[Role.SUPERVISOR, Role.CASEWORKER],
    region="330000",
)
JS_PORTAL = SystemClient(  # Jiangsu's enterprise portal: acts on Jiangsu's requests only
    id="js-portal",
    name="Jiangsu portal",
    sources=["/js-portal-test"],
    grants=["comment", "withdraw", "submit"],
    act_for=[Role.ENTERPRISE],
    region="320000",
)
SLOW = SystemClient(
    id="slow",
    name="slow feed",
    sources=["/slow-test"],
    grants=["comment"],
    rate_per_second=4,
    burst=2,
)
NAMING_PORTAL = SystemClient(  # as packaged: it acts for the enterprise it names, never itself
    id="naming-portal",
    name="portal naming its enterprises",
    sources=["/naming-portal-test"],
    grants=["submit", "comment", "withdraw"],
    act_for=[Role.ENTERPRISE],
    acts_in_own_name=False,
)
CLIENTS = SystemClients([PORTAL, DESK, ZJ_DESK, JS_PORTAL, SLOW, NAMING_PORTAL])


@asynccontextmanager
async def ingress_on(stack: Any, commands: str, dlq_topic: str) -> AsyncIterator[Ingress]:
    async with running(make_ingress(stack, commands, dlq_topic, clients=CLIENTS)) as ingress:
        yield ingress


async def handle_all(
    stack: Any, commands: str, dlq_topic: str, rid: str, sent: list[Any]
) -> tuple[Any, dict[str, tuple[str, str]]]:
    """Publish ``sent``, run the ingress until it handled them all; its stats, and what it
    dead-lettered (as ``_parked``)."""
    send_commands(stack.bootstrap, commands, rid, sent)
    async with ingress_on(stack, commands, dlq_topic) as ingress:
        await eventually(lambda: ingress.stats.committed >= len(sent), what="all handled")
    return ingress.stats, await asyncio.to_thread(_parked, stack.bootstrap, dlq_topic)


def _parked(bootstrap: str, topic: str) -> dict[str, tuple[str, str]]:
    """Dead letters by CloudEvent id -> (reason, message)."""
    return {
        json.loads(m.value)["id"]: (
            header(m, dlq.DLQ_REASON) or "",
            header(m, dlq.DLQ_MESSAGE) or "",
        )
        for m in read_partition(bootstrap, topic)
    }


async def test_forged_actors_change_nothing_and_are_dead_lettered_as_forbidden(
    stack, unique_topic
) -> None:
    commands, dlq_topic = command_topics(unique_topic, "identity")
    req = make_request(division_code="330106")  # Hangzhou, Zhejiang
    await start_request(stack, req)
    rid = req.request_id
    handle = stack.client.get_workflow_handle(workflow_id(rid))
    before = await handle.query(ServiceRequestWorkflow.view)
    own = req.enterprise.uscc
    theirs = make_request(division_code="330110")  # another enterprise's request
    elsewhere = make_request(division_code="330105")
    other = theirs.enterprise.uscc
    jiangsu_supervisor = {
        "id": "sup-js",
        "role": "supervisor",
        "tier": "provincial",
        "division_code": "320000",
    }
    national_supervisor = {
        "id": "sup-cn",
        "role": "supervisor",
        "tier": "national",
        "division_code": "000000",
    }
    forged = {
        # any source may write the shared topic: an unknown one is nobody
        "unknown-source": command_event(
            "comment", {"request_id": rid, "text": "hi"}, "/somewhere", subject=rid
        ),
        # the portal may act for enterprises only: not as an admin ...
        "admin-claim": command_event(
            "comment",
            {"request_id": rid, "text": "x", "actor": {"id": "root", "role": "admin"}},
            "/portal-test",
            subject=rid,
        ),
        # ... and it holds no grant to escalate, whoever it names
        "no-grant": command_event(
            "escalate",
            {"request_id": rid, "text": "up", "actor": {"id": "e", "role": "enterprise"}},
            "/portal-test",
            subject=rid,
        ),
        # the desk may relay supervisors, but this one oversees another province
        "out-of-region": command_event(
            "escalate",
            {"request_id": rid, "text": "up", "actor": jiangsu_supervisor},
            "/desk-test",
            subject=rid,
        ),
        # Zhejiang's desk cannot name a national supervisor (whose scope covers the request) ...
        "national-claim": command_event(
            "escalate",
            {"request_id": rid, "text": "up", "actor": national_supervisor},
            "/zj-desk-test",
            subject=rid,
        ),
        # ... nor a caseworker of a Jiangsu institution
        "caseworker-elsewhere": command_event(
            "comment",
            {
                "request_id": rid,
                "text": "x",
                "actor": {"id": "cw-js", "role": "caseworker", "institution_id": "js-320000-sme"},
            },
            "/zj-desk-test",
            subject=rid,
        ),
        # Jiangsu's portal acts on Jiangsu's requests: neither itself nor an enterprise here
        "portal-elsewhere": command_event(
            "withdraw", {"request_id": rid}, "/js-portal-test", subject=rid
        ),
        "enterprise-elsewhere": command_event(
            "withdraw",
            {
                "request_id": rid,
                "actor": {"id": own, "role": "enterprise", "division_code": "330106"},
            },
            "/js-portal-test",
            subject=rid,
        ),
        # an enterprise acts by its unified social credit code ...
        "not-a-code": command_event(
            "comment",
            {"request_id": rid, "text": "x", "actor": {"id": "e-1", "role": "enterprise"}},
            "/portal-test",
            subject=rid,
        ),
        # ... on its own requests only: the portal cannot answer for another enterprise ...
        "another-enterprise": command_event(
            "provide_info",
            {"request_id": rid, "text": "x", "actor": {"id": other, "role": "enterprise"}},
            "/portal-test",
            subject=rid,
        ),
        # ... nor submit one in another enterprise's name
        "submit-for-another": command_event(
            SUBMIT,
            theirs.model_dump(mode="json") | {"submitted_by": {"id": own, "role": "enterprise"}},
            "/portal-test",
            subject=theirs.request_id,
        ),
        # ... and Jiangsu's portal submits Jiangsu's requests only
        "submit-elsewhere": command_event(
            SUBMIT, elsewhere.model_dump(mode="json"), "/js-portal-test"
        ),
    }
    submits = {name: forged.pop(name) for name in ("submit-for-another", "submit-elsewhere")}
    send_commands(stack.bootstrap, commands, rid, forged.values())
    send_commands(stack.bootstrap, commands, theirs.request_id, [submits["submit-for-another"]])
    send_commands(stack.bootstrap, commands, elsewhere.request_id, [submits["submit-elsewhere"]])
    forged |= submits
    async with ingress_on(stack, commands, dlq_topic) as ingress:
        await eventually(
            lambda: ingress.stats.dead_lettered >= len(forged), what="all dead-lettered"
        )
    parked = await asyncio.to_thread(_parked, stack.bootstrap, dlq_topic)
    reasons = {name: parked[event.id][0] for name, event in forged.items()}
    assert reasons == dict.fromkeys(forged, "forbidden")
    assert "not a configured system client" in parked[forged["unknown-source"].id][1]
    assert "may not act for a admin" in parked[forged["admin-claim"].id][1]
    assert "no grant for escalate" in parked[forged["no-grant"].id][1]
    assert "oversees provincial tier region 320000" in parked[forged["out-of-region"].id][1]
    for name in ("national-claim", "caseworker-elsewhere"):
        assert "acts only for people in region 330000" in parked[forged[name].id][1]
    assert parked[forged["portal-elsewhere"].id][1] == (
        "Forbidden: system js-portal acts in region 320000; the request is from 330106"
    )
    assert parked[forged["enterprise-elsewhere"].id][1] == (
        f"Forbidden: enterprise {own} (via js-portal) acts in region 320000; the request is "
        "from 330106"
    )
    assert parked[forged["not-a-code"].id][1].startswith(
        "data.actor.id: an enterprise acts by its unified social credit code: USCC must have 18"
    )
    assert parked[forged["another-enterprise"].id][1] == (
        f"Forbidden: enterprise {other} (via portal) may act only on its own requests (an "
        "enterprise acts by its unified social credit code); this request is another enterprise's"
    )
    assert parked[forged["submit-for-another"].id][1] == (
        f"data.submitted_by.id: enterprise {own} may submit only its own requests, not one for "
        f"data.enterprise.uscc {other}"
    )
    assert parked[forged["submit-elsewhere"].id][1] == (
        "data.enterprise.division_code: system js-portal acts in region 320000; the enterprise "
        "is registered in 330105"
    )
    for never in (theirs, elsewhere):
        with pytest.raises(RPCError):  # never started
            await stack.client.get_workflow_handle(workflow_id(never.request_id)).describe()
    # each dead letter names the command as its sender knows it, and the client it was taken for
    copies = {json.loads(m.value)["id"]: m for m in read_partition(stack.bootstrap, dlq_topic)}
    refused_early = copies[forged["not-a-code"].id]  # refused by the ingress: no client yet
    assert header(refused_early, dlq.DLQ_COMMAND_ID) == forged["not-a-code"].id
    assert header(refused_early, dlq.DLQ_SOURCE) == "/portal-test"
    assert header(refused_early, dlq.DLQ_CLIENT) is None
    refused_late = copies[forged["another-enterprise"].id]  # refused by the workflow
    assert header(refused_late, dlq.DLQ_SOURCE) == "/portal-test"
    assert header(refused_late, dlq.DLQ_CLIENT) == "portal"
    after = await handle.query(ServiceRequestWorkflow.view)
    assert after.timeline == before.timeline  # nothing happened
    assert after.summary.tier is Tier.COUNTY


async def test_a_client_acts_for_a_person_only_with_a_grant_and_both_are_recorded(
    stack, unique_topic
) -> None:
    commands, dlq_topic = command_topics(unique_topic, "delegation")
    req = make_request(division_code="330106")
    rid = req.request_id
    zhejiang_supervisor = {
        "id": "sup-zj",
        "role": "supervisor",
        "tier": "provincial",
        "division_code": "330000",
    }
    sent = [
        command_event(SUBMIT, req.model_dump(mode="json"), "/portal-test", subject=rid),
        command_event(
            "comment",
            {
                "request_id": rid,
                "text": "我们补充了材料",
                "actor": {"id": req.enterprise.uscc.lower(), "role": "enterprise"},
            },
            "/portal-test",
            subject=rid,
        ),
        command_event(
            "escalate",
            {"request_id": rid, "text": "省级统筹", "actor": zhejiang_supervisor},
            "/desk-test",
            subject=rid,
        ),
        command_event("comment", {"request_id": rid, "text": "from the portal"}, "/portal-test"),
        # Zhejiang's desk relays a supervisor of Zhejiang
        command_event(
            "comment",
            {"request_id": rid, "text": "省里已关注", "actor": zhejiang_supervisor},
            "/zj-desk-test",
            subject=rid,
        ),
    ]
    send_commands(stack.bootstrap, commands, rid, sent)
    async with ingress_on(stack, commands, dlq_topic) as ingress:
        await eventually(lambda: ingress.stats.applied >= len(sent), what="all applied")
    assert ingress.stats.dead_lettered == 0
    view = await stack.client.get_workflow_handle(workflow_id(rid)).query(
        ServiceRequestWorkflow.view
    )
    assert view.summary.tier is Tier.MUNICIPAL

    def audit() -> list[Any]:
        with Session(stack.engine) as session:
            return [
                (t.event_type.value, t.actor_id, t.actor_role, t.actor_via)
                for t in repository.transitions(session, rid)
                if t.action_id or t.event_type.value == "submitted"
            ]

    rows = await eventually(lambda: len(audit()) >= 5 and audit(), what="audit trail")
    assert rows == [
        ("submitted", "portal", Role.SYSTEM, None),  # the submit's claimed submitter is not used
        ("commented", req.enterprise.uscc, Role.ENTERPRISE, "portal"),  # its code, upper case
        ("escalated", "sup-zj", Role.SUPERVISOR, "desk"),
        ("commented", "portal", Role.SYSTEM, None),
        ("commented", "sup-zj", Role.SUPERVISOR, "zj-desk"),
    ]


async def test_a_client_that_never_acts_in_its_own_name_must_name_the_enterprise(
    stack, unique_topic
) -> None:
    commands, dlq_topic = command_topics(unique_topic, "naming")
    req = make_request(division_code="330106")
    rid, own = req.request_id, req.enterprise.uscc
    source = "/naming-portal-test"
    system = {"id": "naming-portal", "role": "system"}
    sent = {
        "submit-unnamed": command_event(
            SUBMIT, req.model_dump(mode="json", exclude={"submitted_by"}), source, subject=rid
        ),
        "submit": command_event(
            SUBMIT,
            req.model_dump(mode="json") | {"submitted_by": {"id": own, "role": "enterprise"}},
            source,
            subject=rid,
        ),
        "comment-unnamed": command_event("comment", {"request_id": rid, "text": "谁?"}, source),
        "withdraw-as-itself": command_event(
            "withdraw", {"request_id": rid, "text": "撤回", "actor": system}, source
        ),
        "comment": command_event(
            "comment",
            {"request_id": rid, "text": "材料已上传", "actor": {"id": own, "role": "enterprise"}},
            source,
            subject=rid,
        ),
    }
    stats, parked = await handle_all(stack, commands, dlq_topic, rid, list(sent.values()))
    assert {name for name, event in sent.items() if event.id in parked} == {
        "submit-unnamed",
        "comment-unnamed",
        "withdraw-as-itself",
    }
    reason, message = parked[sent["submit-unnamed"].id]
    assert reason == "forbidden" and message.startswith("data.submitted_by: ")
    assert "never in its own name" in message and "enterprise" in message
    reason, message = parked[sent["withdraw-as-itself"].id]
    assert reason == "forbidden" and message.startswith("data.actor: ")

    def steps() -> list[tuple[str, str, str | None]]:
        with Session(stack.engine) as session:
            return [
                (t.event_type.value, t.actor_id, t.actor_via)
                for t in repository.transitions(session, rid)
                if t.event_type.value in ("submitted", "commented", "withdrawn")
            ]

    recorded = await eventually(lambda: len(steps()) >= 2 and steps(), what="named steps")
    assert recorded == [("submitted", own, "naming-portal"), ("commented", own, "naming-portal")]
    assert stats.dead_lettered == 3


async def test_a_person_named_by_an_account_is_who_the_account_says(stack, unique_topic) -> None:
    """A client cannot lend a console user's name to someone else, nor act for a user an
    administrator disabled; an account it names rightly acts with the account's scope."""
    commands, dlq_topic = command_topics(unique_topic, "accounts")
    req = make_request(division_code="330106")
    await start_request(stack, req)
    rid = req.request_id
    tag = uuid.uuid4().hex[:8]
    lead, left, worker = f"zj-lead-{tag}", f"zj-left-{tag}", f"zj-cw-{tag}"
    create_user(stack.engine, lead, Role.SUPERVISOR, "zj-330000-sme")
    create_user(stack.engine, left, Role.SUPERVISOR, "zj-330000-sme")
    set_disabled(stack.engine, left, True)
    create_user(stack.engine, worker, Role.CASEWORKER, "zj-330106-sme")

    def comment(actor: dict[str, Any]) -> Any:
        return command_event(
            "comment", {"request_id": rid, "text": "x", "actor": actor}, "/zj-desk-test"
        )

    provincial = {"role": "supervisor", "tier": "provincial", "division_code": "330000"}
    refused = {
        "disabled": comment({"id": left} | provincial),
        "other-role": comment({"id": worker} | provincial),
        "other-unit": comment(
            {"id": worker, "role": "caseworker", "institution_id": "zj-330110-sme"}
        ),
        "other-scope": comment({"id": lead, "role": "supervisor", "tier": "municipal"}),
        "look-alike": comment({"id": lead.upper()} | provincial),
    }
    taken = comment({"id": lead, "role": "supervisor"})  # its scope: the account's
    sent = [*refused.values(), taken]
    send_commands(stack.bootstrap, commands, rid, sent)
    accounts = RecordedAccounts(stack.engine, interval=0)
    ingress = make_ingress(stack, commands, dlq_topic, clients=CLIENTS, accounts=accounts.find)
    async with running(ingress):
        await eventually(lambda: ingress.stats.committed >= len(sent), what="all handled")
    parked = await asyncio.to_thread(_parked, stack.bootstrap, dlq_topic)
    assert {name: parked[event.id] for name, event in refused.items()} == {
        "disabled": ("forbidden", f"data.actor.id: the account {left} is disabled"),
        "other-role": ("forbidden", f"data.actor.role: {worker} is a caseworker, not a supervisor"),
        "other-unit": (
            "forbidden",
            f"data.actor.institution_id: {worker}'s account says zj-330106-sme, not zj-330110-sme",
        ),
        "other-scope": (
            "forbidden",
            f"data.actor.tier: {lead}'s account says provincial, not municipal",
        ),
        "look-alike": (
            "forbidden",
            f"data.actor.id: {lead.upper()!r} is written unlike the account {lead!r}; name the "
            "person exactly as the account does",
        ),
    }
    assert taken.id not in parked

    def commented() -> list[Any]:
        with Session(stack.engine) as session:
            return [
                (t.actor_id, t.actor_via, t.actor_tier, t.actor_division_code)
                for t in repository.transitions(session, rid)
                if t.event_type.value == "commented"
            ]

    rows = await eventually(commented, what="the comment in the audit trail")
    assert rows == [(lead, "zj-desk", Tier.PROVINCIAL, "330000")]


async def test_a_client_over_its_rate_is_slowed_not_dropped(stack, unique_topic) -> None:
    commands, dlq_topic = command_topics(unique_topic, "rate")
    req = make_request()
    await start_request(stack, req)
    rid = req.request_id
    sent = [
        command_event("comment", {"request_id": rid, "text": f"#{n}"}, "/slow-test")
        for n in range(6)
    ]
    send_commands(stack.bootstrap, commands, rid, sent)
    async with ingress_on(stack, commands, dlq_topic) as ingress:
        await eventually(lambda: ingress.stats.applied >= 6, what="all six applied")
    assert sample(ingress.registry, "tierflow_ingress_rate_limited_total", client="slow") >= 1
    await eventually(lambda: _comment_count(stack, rid) >= 6, what="comments in the read model")
    with Session(stack.engine) as session:
        comments = [c.body for c in repository.comments(session, rid)]
    assert comments == [f"#{n}" for n in range(6)]  # in order, none lost


async def test_a_client_on_its_own_topic_acts_as_itself_whatever_source_it_names(
    stack, unique_topic
) -> None:
    """A client's own topic (which Kafka ACLs let only its principal write) names the client.

    Its commands act as that client even when their CloudEvents ``source`` names another
    configured client, and the grants are the topic's client's: an escalation the named
    client could send is refused ``forbidden``.
    """
    commands, dlq_topic = command_topics(unique_topic, "own-topic")
    own = unique_topic("crm-commands")
    crm = SystemClient(id="crm", name="CRM feed", topic=own, grants=["comment"])
    clients = SystemClients([*CLIENTS.clients, crm])
    req = make_request(division_code="330106")
    await start_request(stack, req)
    rid = req.request_id
    posing = {  # both name the supervision desk, which holds comment and escalate
        "comment": command_event(
            "comment", {"request_id": rid, "text": "来自CRM"}, "/desk-test", subject=rid
        ),
        "escalate": command_event(
            "escalate", {"request_id": rid, "text": "up"}, "/desk-test", subject=rid
        ),
    }
    send_commands(stack.bootstrap, own, rid, posing.values())
    ingress = make_ingress(stack, commands, dlq_topic, clients=clients)
    async with running(ingress):
        await eventually(lambda: ingress.stats.committed >= len(posing), what="both handled")
    assert (ingress.stats.applied, ingress.stats.dead_lettered) == (1, 1)
    parked = await asyncio.to_thread(_parked, stack.bootstrap, dlq_topic)
    assert parked == {
        posing["escalate"].id: ("forbidden", "type: system client crm has no grant for escalate")
    }

    def audit() -> list[Any]:
        with Session(stack.engine) as session:
            return [
                (t.event_type.value, t.actor_id, t.actor_role, t.actor_via, t.action_id)
                for t in repository.transitions(session, rid)
                if t.action_id
            ]

    rows = await eventually(audit, what="the comment in the audit trail")
    assert rows == [("commented", "crm", Role.SYSTEM, None, posing["comment"].id)]
    view = await stack.client.get_workflow_handle(workflow_id(rid)).query(
        ServiceRequestWorkflow.view
    )
    assert view.summary.tier is Tier.COUNTY  # the escalation did not happen


def _comment_count(stack: Any, rid: str) -> int:
    with Session(stack.engine) as session:
        return len(repository.comments(session, rid))


async def test_a_submit_reusing_a_request_id_with_other_content_is_dead_lettered_as_conflict(
    stack, unique_topic
) -> None:
    commands, dlq_topic = command_topics(unique_topic, "conflict")
    req = make_request()
    other = req.model_copy(update={"subject": "A different request under the same id"})
    rid = req.request_id
    sent = [  # the same submit twice, then one with other content under the same id
        command_event(SUBMIT, r.model_dump(mode="json"), "/portal-test", subject=rid)
        for r in (req, req, other)
    ]
    stats, parked = await handle_all(stack, commands, dlq_topic, rid, sent)
    assert (stats.applied, stats.duplicate, stats.dead_lettered) == (1, 1, 1)
    assert parked[sent[2].id] == (
        "conflict",
        f"request_id: {rid!r} was submitted before with different content",
    )
    view = await stack.client.get_workflow_handle(workflow_id(rid)).query(
        ServiceRequestWorkflow.view
    )
    assert view.summary.subject == req.subject


async def test_a_command_reusing_an_id_with_other_content_is_dead_lettered_as_conflict(
    stack, unique_topic
) -> None:
    """The same comment twice is applied once; another comment under its CloudEvent id is
    refused (the workflow's validator), not answered with the first one's result."""
    commands, dlq_topic = command_topics(unique_topic, "reused")
    req = make_request()
    rid = req.request_id
    enterprise = {"id": req.enterprise.uscc, "role": "enterprise"}
    comment = {"request_id": rid, "text": "我们补充了材料", "actor": enterprise}
    first = command_event("comment", comment, "/portal-test", subject=rid)
    sent = [
        command_event(SUBMIT, req.model_dump(mode="json"), "/portal-test", subject=rid),
        first,
        first,
        command_event("comment", {**comment, "text": "另一条留言"}, "/portal-test", rid, first.id),
    ]
    stats, parked = await handle_all(stack, commands, dlq_topic, rid, sent)
    assert (stats.applied, stats.duplicate, stats.dead_lettered) == (2, 1, 1)
    reason, message = parked[first.id]
    assert reason == "conflict" and message.startswith(
        f"IdempotencyConflict: action id {first.id!r} was used on this request for another"
    )
    view = await stack.client.get_workflow_handle(workflow_id(rid)).query(
        ServiceRequestWorkflow.view
    )
    assert [e.event_type.value for e in view.timeline].count("commented") == 1


async def test_an_enterprise_sends_documents_with_its_materials(stack, unique_topic) -> None:
    """补充材料 with documents through the portal: kept in the audit trail with the step; a
    document whose link is not a web address is dead-lettered naming the field."""
    commands, dlq_topic = command_topics(unique_topic, "documents")
    req = make_request(division_code="330106")
    rid = req.request_id
    enterprise = {"id": req.enterprise.uscc, "role": "enterprise"}
    report = {
        "name": "2025年度财务报表.pdf",
        "media_type": "application/pdf",
        "size_bytes": 524288,
        "url": "https://files.example.gov.cn/zj/2025-report.pdf",
    }

    def materials(text: str, document: dict[str, Any]) -> Any:
        data = {"request_id": rid, "text": text, "attachments": [document], "actor": enterprise}
        return command_event("provide_info", data, "/portal-test", subject=rid)

    unsafe = materials("见附件", report | {"url": "javascript:alert(1)"})
    sent = [
        command_event(SUBMIT, req.model_dump(mode="json"), "/portal-test", subject=rid),
        materials("补充近三年财务报表", report),
        unsafe,
    ]
    _, parked = await handle_all(stack, commands, dlq_topic, rid, sent)
    assert list(parked) == [unsafe.id]
    reason, message = parked[unsafe.id]
    assert reason == "schema_invalid" and "attachments" in message, message

    def sent_with_step() -> list[Any]:
        with Session(stack.engine) as session:
            return [
                (t.event_type.value, (t.details or {}).get("attachments"))
                for t in repository.transitions(session, rid)
                if t.event_type.value == "info_provided"
            ]

    assert await eventually(sent_with_step, what="the materials recorded") == [
        ("info_provided", [report])
    ]


async def test_a_client_with_its_own_dead_letter_topic_finds_its_refusals_there(
    stack, unique_topic
) -> None:
    """A client with a ``dead_letter_topic`` reads its own refused commands there: one taken
    for it on the shared topic and a bad record on its own commands topic; another client's
    refusal stays on the shared dead-letter topic, which it is never given to read."""
    commands, shared_dlq = command_topics(unique_topic, "own-dlq")
    own, own_dlq = unique_topic("crm-own-commands"), unique_topic("crm-own-dlq")
    crm = SystemClient(
        id="crm",
        name="CRM feed",
        topic=own,
        sources=["/crm-test"],
        grants=["comment"],
        dead_letter_topic=own_dlq,
    )
    clients = SystemClients([*CLIENTS.clients, crm])
    req = make_request(division_code="330106")
    await start_request(stack, req)
    rid = req.request_id
    escalate = command_event(
        "escalate", {"request_id": rid, "text": "up"}, "/crm-test", subject=rid
    )
    others = command_event(
        "escalate", {"request_id": rid, "text": "up"}, "/portal-test", subject=rid
    )
    # a misspelt field: read as a CloudEvent (its source names the client), then refused
    typo = command_event("comment", {"request_id": rid, "txt": "x"}, "/crm-test", subject=rid)
    send_commands(stack.bootstrap, commands, rid, [escalate, others, typo])
    await asyncio.to_thread(_send_raw, stack.bootstrap, own, rid, b"not json")
    ingress = make_ingress(stack, commands, shared_dlq, clients=clients)
    async with running(ingress):
        await eventually(lambda: ingress.stats.committed >= 4, what="all four handled")
    assert ingress.stats.dead_lettered == 4
    mine = await asyncio.to_thread(read_partition, stack.bootstrap, own_dlq)
    assert sorted(header(m, dlq.DLQ_REASON) or "" for m in mine) == [
        "forbidden",
        "not_json",
        "schema_invalid",
    ]
    [misspelt] = [m for m in mine if header(m, dlq.DLQ_REASON) == "schema_invalid"]
    assert header(misspelt, dlq.DLQ_COMMAND_ID) == typo.id
    assert header(misspelt, dlq.DLQ_SOURCE) == "/crm-test"
    shared = await asyncio.to_thread(_parked, stack.bootstrap, shared_dlq)
    assert list(shared) == [others.id]


def _send_raw(bootstrap: str, topic: str, key: str, value: bytes) -> None:
    from tierflow.kafka_io import make_producer

    producer = make_producer(bootstrap)
    try:
        producer.send(topic, key=key.encode(), value=value).get(timeout=30)
    finally:
        producer.close(timeout=5)
