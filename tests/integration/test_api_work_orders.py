"""Work-order steps through the HTTP API on the real stack (Temporal, Kafka, the database).

签收 and 承办人 (sign-for, claim, transfer, "mine", a unit's workload), 退单 and 延期 with
their decisions, 回访 and 受理评价, each taken by the role the work-order practice gives it.
"""

from __future__ import annotations

import random
import re
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import httpx
import pytest_asyncio
from sqlmodel import Session, col, select

from api.app import create_app
from schemas.domain import Category, Priority, Role
from schemas.lifecycle import WORKFLOW_TYPE, RatingStage, WorkflowState
from tests.fixtures.console import sign_in
from tests.integration.test_api import Api
from tests.utils.api_helpers import asgi_client, make_users
from tests.utils.factories import make_request
from tests.utils.stack_helpers import eventually
from tierflow.auth_store import create_user, issue_token, set_disabled
from tierflow.constants import workflow_id
from tierflow.db.models import Rating, ServiceRequest, Transition
from tierflow.directory import Directory
from tierflow.i18n import translations
from tierflow.i18n.formats import when
from tierflow.i18n.refusals import answer_text
from tierflow.worklists_refresh import refresh_worklists
from tierflow_dev.demo import make_uscc

# the module's portal submits every request, and its readers poll: its per-token buckets
# (tested in test_api.py) are wide enough for a module's worth at full speed
ROOMY = {"api_submit_burst": 1000, "api_reads_burst": 1000, "api_actions_burst": 1000}


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def api(stack) -> AsyncIterator[Api]:
    app = create_app(stack.settings.model_copy(update=ROOMY), stack.client, stack.engine)
    async with asgi_client(app) as client:
        yield Api(client, make_users(stack.engine))


async def _mine(api: Api, who: str) -> list[str]:
    page = await api.get("/requests", who, params={"mine": "true"})
    assert page.status_code == 200, page.text
    return [item["request_id"] for item in page.json()["items"]]


async def _console_queue(stack, api: Api, who: str, **params: str) -> str:
    """The console's queue page as ``who`` sees it with ``params``."""
    return await _console_page(stack, api, who, "/console/", **params)


async def _console_act(
    stack, api: Api, who: str, rid: str, kind: str, **fields: str
) -> tuple[str, httpx.Response]:
    """Open the request's case page as ``who`` and send its ``kind`` form with ``fields``:
    the page as it offered the form, and the answer (a redirect when taken)."""
    app = create_app(stack.settings, stack.client, stack.engine)
    async with asgi_client(app) as client:
        assert (await sign_in(client, api.users.tokens[who])).status_code == 303
        case = (await client.get(f"/console/requests/{rid}")).text
        form = {
            "csrf_token": re.findall(r'name="csrf_token" value="([^"]+)"', case)[-1],
            "idempotency_key": f"console-{uuid.uuid4().hex}",
            **fields,
        }
        return case, await client.post(f"/console/requests/{rid}/actions/{kind}", data=form)


async def _console_page(stack, api: Api, who: str, path: str, **params: str) -> str:
    """A console page as ``who`` sees it."""
    app = create_app(stack.settings, stack.client, stack.engine)
    async with asgi_client(app) as client:
        assert (await sign_in(client, api.users.tokens[who])).status_code == 303
        page = await client.get(path, params=params)
        assert page.status_code == 200, page.text
        return page.text


async def test_sign_for_claims_and_transfer_moves_it_between_queues(api: Api, stack) -> None:
    rid = await api.submit(make_request(), who="sys_portal")
    waiting = await api.get("/requests", "cw_own", params={"signed_for": "false"})
    assert rid in [i["request_id"] for i in waiting.json()["items"]]  # 待签收
    # the console's queue has the same two lists: 只看待签收的, 只看我承办的
    unsigned = await _console_queue(stack, api, "cw_own", signed_for="false")
    assert rid in unsigned and 'name="signed_for" value="false" checked' in unsigned
    assert rid not in await _console_queue(stack, api, "cw_own", mine="true")

    signed = await api.act(rid, "sign_for", "cw_own")
    assert signed.status_code == 200 and signed.json()["state"] == "assigned", signed.text
    own, mate = api.users.ids["cw_own"], api.users.ids["cw_mate"]

    async def handled_by(who: str) -> bool:
        d = await api.get(f"/requests/{rid}", "admin")
        return d.json()["request"]["handler_id"] == who

    await eventually(lambda: handled_by(own), what="the signer handles it")
    assert rid in await _mine(api, "cw_own") and rid not in await _mine(api, "cw_mate")
    assert rid in await _console_queue(stack, api, "cw_own", mine="true")
    assert rid not in await _console_queue(stack, api, "cw_mate", mine="true")
    assert rid not in await _console_queue(stack, api, "cw_own", signed_for="false")
    assert rid in await _console_queue(stack, api, "cw_mate")  # the unit's queue: everyone's

    # the transfer form offers the unit's other caseworkers and lead by name, no one else
    app = create_app(stack.settings, stack.client, stack.engine)
    async with asgi_client(app) as client:
        assert (await sign_in(client, api.users.tokens["cw_own"])).status_code == 303
        case = (await client.get(f"/console/requests/{rid}")).text
    colleagues = case.split('<datalist id="colleagues">')[1].split("</datalist>")[0]
    offered = re.findall(r'<option value="([^"]+)">', colleagues)
    assert mate in offered and own not in offered and api.users.ids["cw_other"] not in offered
    assert 'name="handler_id" required value="" list="colleagues"' in case

    refused = await api.act(rid, "claim", "cw_mate")
    assert refused.status_code == 409 and f"{own} handles it" in refused.json()["detail"]
    missing = await api.act(rid, "transfer", "cw_own")
    assert missing.status_code == 422 and "handler_id" in missing.text
    stranger = await api.act(rid, "transfer", "cw_own", handler_id=api.users.ids["cw_other"])
    assert stranger.status_code == 422, stranger.text
    [problem] = stranger.json()["detail"]
    assert problem["field"] == "handler_id" and "zj-330105-sme" not in problem["msg"]  # theirs
    assert "is not an enabled caseworker or lead of zj-330106-sme" in problem["msg"]
    moved = await api.act(rid, "transfer", "cw_own", handler_id=mate)
    assert moved.status_code == 200, moved.text
    await eventually(lambda: handled_by(mate), what="the colleague handles it")
    assert rid in await _mine(api, "cw_mate") and rid not in await _mine(api, "cw_own")

    # the unit's lead sees the workload per handler
    load = await api.get("/reports/workload", "sup_own", params={"institution": "zj-330106-sme"})
    assert load.status_code == 200, load.text
    counts = {h["handler_id"]: h["open"] for h in load.json()["handlers"]}
    assert counts.get(mate, 0) >= 1
    assert (
        await api.get("/reports/workload", "cw_own", params={"institution": "x"})
    ).status_code == 403


async def test_a_unit_signs_for_the_requests_it_ticks_in_the_queue(api: Api, stack) -> None:
    """签收所选: one form signs for each ticked request dispatched to the caller's unit; one
    held elsewhere is named as not signed for; sending the form again signs nothing twice."""
    ours = [await api.submit(make_request(), who="sys_portal") for _ in range(2)]
    theirs = await api.submit(make_request(division_code="330105"), who="sys_portal")
    app = create_app(stack.settings, stack.client, stack.engine)
    async with asgi_client(app) as client:
        assert (await sign_in(client, api.users.tokens["cw_own"])).status_code == 303
        page = (await client.get("/console/", params={"signed_for": "false"})).text
        for rid in ours:
            assert f'name="request_id" value="{rid}" form="batch-sign"' in page
        assert "每次最多 50 件" in page  # the limit, said before it refuses
        form = {
            "csrf_token": re.findall(r'name="csrf_token" value="([^"]+)"', page)[-1],
            "batch_key": re.findall(r'name="batch_key" value="([^"]+)"', page)[0],
            "request_id": [*ours, theirs],
        }
        sent = await client.post("/console/sign-for", data=form)
        assert sent.status_code == 303, sent.text
        back = await client.get(sent.headers["location"])
        assert (
            "已签收 2 件工单。" in back.text
            and f"以下工单未签收（请打开查看原因）：{theirs}" in back.text
        )
        for rid in ours:
            detail = (await api.get(f"/requests/{rid}", "admin")).json()["request"]
            assert detail["signed_for_at"] and detail["handler_id"] == api.users.ids["cw_own"]
            assert f'value="{rid}" form="batch-sign"' not in back.text  # signed: not offered
        again = await client.post("/console/sign-for", data=form)  # the same form, resent
        assert again.status_code == 303
        for rid in ours:
            signed = [
                e
                for e in (await api.get(f"/requests/{rid}", "admin")).json()["timeline"]
                if e["event_type"] == "signed_for"
            ]
            assert len(signed) == 1, signed
        form["request_id"] = [f"x{i}" for i in range(51)]
        assert (await client.post("/console/sign-for", data=form)).status_code == 422
        del form["csrf_token"]
        assert (await client.post("/console/sign-for", data=form)).status_code == 403


async def _walk_in_form(stack, api: Api, who: str, uscc: str, status: int = 200) -> str:
    app = create_app(stack.settings, stack.client, stack.engine)
    async with asgi_client(app) as client:
        assert (await sign_in(client, api.users.tokens[who])).status_code == 303
        page = await client.get("/console/submit", params={"uscc": uscc})
        assert page.status_code == status, page.text
        return page.text


async def test_a_walk_in_form_fills_in_an_enterprise_that_came_before(api: Api, stack) -> None:
    """带出企业信息: the USCC of an enterprise the unit served fills in its name, division and
    contact from its latest request the caseworker may see; another unit's caseworker, who
    may not see it, gets the registering division only; a bad USCC is named."""
    # an enterprise of its own: other tests may move the shared one's requests to cw_other
    before = make_request(uscc=make_uscc("330106", random.Random(uuid.uuid4().hex)))
    rid = await api.submit(before, who="sys_portal")
    await eventually(lambda: _row_of(stack, rid), what=f"{rid} in the read model")
    page = await _walk_in_form(stack, api, "cw_own", before.enterprise.uscc.lower())
    assert f'value="{before.enterprise.name}"' in page
    assert f'value="{before.enterprise.contact_phone}"' in page and 'value="330106"' in page
    assert f"的工单 {rid} 带出企业名称、行政区划和联系人，请核对。" in page
    other = await _walk_in_form(stack, api, "cw_other", before.enterprise.uscc)
    assert before.enterprise.name not in other and "未找到您可查看的此企业办理记录" in other
    assert 'name="enterprise.division_code" type="text" value="330106"' in other
    bad = before.enterprise.uscc[:17] + ("0" if before.enterprise.uscc[17] != "0" else "1")
    assert "第 18 位校验码为" in await _walk_in_form(stack, api, "cw_own", bad)
    # a system client that submits but may not read requests gets no contact from them
    blind = await _walk_in_form(stack, api, "sys_submit", before.enterprise.uscc)
    assert before.enterprise.contact_phone not in blind and rid not in blind
    assert before.enterprise.name not in blind and "未找到您可查看的此企业办理记录" in blind
    await _walk_in_form(stack, api, "sys_none", before.enterprise.uscc, status=403)


def _row_of(stack, rid: str) -> bool:
    with Session(stack.engine) as session:
        return session.get(ServiceRequest, rid) is not None


ZH = translations("zh-CN")


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text)


async def _worklist(api: Api, who: str, awaiting: str | list[str]) -> list[str]:
    page = await api.get("/requests", who, params={"awaiting": awaiting})
    assert page.status_code == 200, page.text
    return [item["request_id"] for item in page.json()["items"]]


async def _listed(
    api: Api, who: str, awaiting: str | list[str], rid: str, listed: bool = True
) -> None:
    """Wait until the read model lists (or no longer lists) ``rid`` on the worklist."""

    async def there() -> bool:
        return (rid in await _worklist(api, who, awaiting)) is listed

    await eventually(there, what=f"{rid} {'on' if listed else 'off'} the {awaiting} worklist")


async def test_the_dispatch_desk_redispatches_returns_but_does_not_supervise(api: Api) -> None:
    """派单员 of the city: sees the county's requests, decides a 退单 by sending the request
    to another unit and reassigns; supervision and reports stay with supervisors."""
    rid = await api.submit(make_request(), who="sys_portal")
    assert (await api.get(f"/requests/{rid}", "disp_city")).status_code == 200
    asked = await api.act(
        rid, "return", "cw_own", text="企业注册地不在本区", return_reason="outside_region"
    )
    assert asked.status_code == 200, asked.text
    await _listed(api, "disp_city", "return_decision", rid)  # the desk's worklist: 退单待决定
    moved = await api.act(rid, "approve_return", "disp_city", institution_id="zj-330105-sme")
    assert moved.status_code == 200 and moved.json()["institution_id"] == "zj-330105-sme"
    await _listed(api, "disp_city", "return_decision", rid, listed=False)
    back = await api.act(
        rid, "reassign", "disp_city", text="改派回原单位", institution_id="zj-330106-sme"
    )
    assert back.status_code == 200 and back.json()["institution_id"] == "zj-330106-sme"
    for kind, fields in (
        ("supervise", {"text": "督办"}),
        ("acknowledge", {}),
        ("uphold_appeal", {"text": "x"}),
    ):
        refused = await api.act(rid, kind, "disp_city", **fields)
        assert refused.status_code == 403, (kind, refused.text)
    assert (await api.get("/reports/assessment", "disp_city")).status_code == 403
    other_city = await api.submit(make_request(division_code="330203"), who="sys_portal")
    assert (await api.get(f"/requests/{other_city}", "disp_city")).status_code == 404


async def test_the_dispatch_desk_decides_extensions_as_the_networks_rules_say(
    api: Api, stack
) -> None:
    """延期申请: the unit asks, the dispatcher or a supervisor of the tier above approves; the
    desk finds it on its 延期待审批 worklist, and on the two it decides at once (退单 and 延期,
    its console queue's default). The unit's own lead may not supervise it."""
    rid = await api.submit(make_request(), who="sys_portal")
    await api.act(rid, "acknowledge", "cw_own")
    asked = await api.act(rid, "request_extension", "cw_own", text="等待银行审批", days=2)
    assert asked.status_code == 200, asked.text
    await _listed(api, "disp_city", "extension_decision", rid)
    assert rid in await _worklist(api, "disp_city", ["return_decision", "extension_decision"])
    assert rid not in await _worklist(api, "disp_city", ["return_decision", "follow_up"])
    # the console's worklist filter offers the desk its own two, no list it cannot decide
    page = await _console_queue(stack, api, "disp_city")
    offered = page.split('name="awaiting"')[1].split("</select>")[0]
    assert 'value="extension_decision"' in offered and 'value="return_decision"' in offered
    assert 'value="suspension_decision"' not in offered and 'value="follow_up"' not in offered
    approved = await api.act(rid, "approve_extension", "disp_city", text="同意延期")
    assert approved.status_code == 200, approved.text
    detail = (await api.get(f"/requests/{rid}", "cw_own")).json()
    assert detail["view"]["applications"][-1]["approved"] is True
    own_lead = await api.act(rid, "supervise", "sup_own", text="督办")
    assert own_lead.status_code == 403, own_lead.text
    assert "does not supervise the county tier's request" in own_lead.json()["detail"]


async def test_a_return_waits_on_the_worklists_of_those_who_may_decide_it(api: Api) -> None:
    """The city's own 退单 is decided by the province: it waits on the province's worklist,
    not on the city desk's or the city supervisor's, which could only open it and be refused;
    the city unit still sees its ask waiting."""
    rid = await api.submit(make_request(), who="sys_portal")
    up = await api.act(rid, "escalate", "cw_own", text="需市级统筹")
    assert up.status_code == 200 and up.json()["institution_id"] == "zj-330100-sme", up.text
    asked = await api.act(
        rid, "return", "cw_city", text="非本单位职责", return_reason="not_our_remit"
    )
    assert asked.status_code == 200, asked.text
    await _listed(api, "sup_prov", "return_decision", rid)
    for who in ("disp_city", "sup_city"):
        assert rid not in await _worklist(api, who, "return_decision"), who
    assert rid in await _worklist(api, "cw_city", "return_decision")
    refused = await api.act(rid, "approve_return", "disp_city", institution_id="zj-330105-sme")
    assert refused.status_code == 403, refused.text


async def test_the_dispatch_desk_records_a_withdrawal_the_enterprise_phoned_in(api: Api) -> None:
    """撤单: an enterprise without a portal asks by phone; the city's dispatch desk records it,
    saying how and when it asked. The holding unit does not withdraw its own request."""
    rid = await api.submit(make_request(), who="cw_own")
    assert (await api.act(rid, "acknowledge", "cw_own")).status_code == 200
    detail = (await api.get(f"/requests/{rid}", "disp_city")).json()
    assert "withdraw" in detail["allowed_actions"]
    unit = await api.act(rid, "withdraw", "cw_own", text="企业来电要求撤回")
    assert unit.status_code == 403, unit.text
    bare = await api.act(rid, "withdraw", "disp_city")
    assert bare.status_code == 422, bare.text
    [error] = bare.json()["detail"]
    assert error["field"] == "text" and "how and when the enterprise asked" in error["msg"]
    said = "企业于今日来电要求撤回：问题已自行解决（联系人张经理）"
    done = await api.act(rid, "withdraw", "disp_city", text=said)
    assert done.status_code == 200 and done.json()["state"] == "withdrawn", done.text
    last = (await api.get(f"/requests/{rid}", "cw_own")).json()["view"]["timeline"][-1]
    assert (last["event_type"], last["actor_role"], last["reason"]) == (
        "withdrawn",
        "dispatcher",
        said,
    )


async def test_return_and_extension_are_decided_by_a_tier_above(api: Api) -> None:
    rid = await api.submit(make_request(), who="sys_portal")
    asked = await api.act(
        rid, "return", "cw_own", text="企业注册地不在本区", return_reason="outside_region"
    )
    assert asked.status_code == 200, asked.text
    county_lead = await api.act(rid, "approve_return", "sup_own", institution_id="zj-330105-sme")
    assert county_lead.status_code == 403 and "a tier above" in county_lead.json()["detail"]
    moved = await api.act(rid, "approve_return", "sup_city", institution_id="zj-330105-sme")
    assert moved.status_code == 200, moved.text
    assert moved.json()["institution_id"] == "zj-330105-sme"

    await api.act(rid, "acknowledge", "cw_other")
    no_days = await api.act(rid, "request_extension", "cw_other", text="等待授信")
    assert no_days.status_code == 422 and "days" in no_days.text
    ext = await api.act(rid, "request_extension", "cw_other", text="等待授信", days=3)
    assert ext.status_code == 200, ext.text
    ok = await api.act(rid, "approve_extension", "sup_city", text="同意")
    assert ok.status_code == 200, ok.text
    detail = (await api.get(f"/requests/{rid}", "admin")).json()
    kinds = [(a["kind"], a["approved"]) for a in detail["view"]["applications"]]
    assert kinds == [("return", True), ("request_extension", True)]


async def test_the_unit_records_what_a_walk_in_enterprise_hands_in(api: Api, stack) -> None:
    """补充材料: an enterprise without a portal brings the materials to the window; the
    holding unit's caseworker records them and the clocks run again. A supervisor above does
    not take the unit's step, and a caseworker elsewhere does not see the request."""
    rid = await api.submit(make_request(), who="cw_own")
    assert (await api.act(rid, "acknowledge", "cw_own")).status_code == 200
    asked = await api.act(rid, "request_info", "cw_own", text="请补充近三年财务报表")
    assert asked.json()["state"] == "awaiting_enterprise", asked.text
    detail = (await api.get(f"/requests/{rid}", "cw_own")).json()
    assert "provide_info" in detail["allowed_actions"]  # offered to the unit
    wait_ends = detail["view"]["enterprise_reply_due_at"]
    assert wait_ends is not None

    async def queued_until() -> str | None:  # the queue row: when the wait ends (待企业补充)
        page = await api.get("/requests", "cw_own", params={"search": rid})
        [item] = page.json()["items"]
        return item["paused_until"]

    queued = await eventually(queued_until, what="the pause's end in the queue")
    assert datetime.fromisoformat(queued) == datetime.fromisoformat(wait_ends)
    above = await api.act(rid, "provide_info", "sup_city", text="已补充")
    assert above.status_code == 403 and "holding unit" in above.json()["detail"], above.text
    elsewhere = await api.act(rid, "provide_info", "cw_other", text="已补充")
    assert elsewhere.status_code == 404, elsewhere.text
    report = {
        "name": "2025年度财务报表.pdf",
        "media_type": "application/pdf",
        "size_bytes": 524288,
        "url": "https://files.example.gov.cn/zj/2025-report.pdf",
    }
    unsafe = await api.act(
        rid, "provide_info", "cw_own", text="x", attachments=[report | {"url": "javascript:x"}]
    )
    assert unsafe.status_code == 422 and "attachments" in unsafe.text, unsafe.text
    noted = await api.act(rid, "comment", "cw_own", text="见附件", attachments=[report])
    assert noted.status_code == 422 and "only for provide_info and resolve" in noted.text
    handed_in = await api.act(
        rid, "provide_info", "cw_own", text="企业到窗口提交了财务报表", attachments=[report]
    )
    assert handed_in.status_code == 200 and handed_in.json()["state"] == "in_progress"
    detail = (await api.get(f"/requests/{rid}", "cw_own")).json()
    last = detail["view"]["timeline"][-1]
    assert (last["event_type"], last["actor_id"]) == ("info_provided", api.users.ids["cw_own"])
    assert detail["view"]["summary"]["paused_until"] is None  # the clocks run again
    # the documents are in the audit trail, with the step that sent them
    [sent] = [e for e in detail["timeline"] if e["attachments"]]
    assert (sent["event_type"], sent["attachments"]) == ("info_provided", [report])
    page = await _console_page(
        stack, api, "cw_own", f"/console/requests/{rid}"
    )  # the case page links them
    later = page.split('id="attachments-later"')[1].split("</dd>")[0]
    assert '<a href="https://files.example.gov.cn/zj/2025-report.pdf"' in later
    assert "2025年度财务报表.pdf" in later


async def test_a_co_handler_sees_the_request_and_concludes_its_part(api: Api, stack) -> None:
    rid = await api.submit(make_request(), who="sys_portal")
    assert rid not in [
        i["request_id"] for i in (await api.get("/requests", "cw_other")).json()["items"]
    ]
    await api.act(rid, "acknowledge", "cw_own")
    added = await api.act(
        rid,
        "add_co_handler",
        "cw_own",
        institution_id="zj-330105-sme",
        text="请协助办理厂房租赁补贴",
        days=2,
    )
    assert added.status_code == 200, added.text
    far = await api.act(
        rid, "add_co_handler", "cw_own", institution_id="zj-330203-sme", text="x", days=1
    )
    assert far.status_code == 422 and "lies outside your region 3301" in far.text

    async def visible() -> bool:
        page = await api.get("/requests", "cw_other")
        return rid in [i["request_id"] for i in page.json()["items"]]

    await eventually(visible, what="the co-handler's queue shows the request")
    # there it is due when the co-handler's part is, not when the holder's clock runs out
    items = (await api.get("/requests", "cw_other")).json()["items"]
    (listed,) = [i for i in items if i["request_id"] == rid]
    (part,) = (await api.get(f"/requests/{rid}", "admin")).json()["view"]["parts"]
    assert _instant(listed["next_due_at"]) == _instant(part["due_at"])
    assert listed["co_handled"] is True  # why it is in this unit's queue
    holder = (await api.get("/requests", "cw_own")).json()["items"]
    assert [i["co_handled"] for i in holder if i["request_id"] == rid] == [False]
    region = (await api.get("/requests", "sup_city")).json()["items"]  # the city co-handles none
    assert [i["co_handled"] for i in region if i["request_id"] == rid] == [False]
    assert [_instant(i["next_due_at"]) for i in holder if i["request_id"] == rid] != [
        _instant(part["due_at"])
    ]
    early = await api.act(rid, "resolve", "cw_own", text="办结")
    assert early.status_code == 409 and "co-handling parts are open" in early.json()["detail"]
    due = when(_instant(part["due_at"]), ZH)  # the part's deadline in China's time
    assert answer_text(early.json()["detail"], early.json()["reason"], ZH) == (
        f"不能办结：仍有未完成的协办任务：{part['institution_id']}（截止 {due}）；"
        "须由协办单位完成，或由督办人员免除"
    )
    assert (await api.act(rid, "acknowledge", "cw_other")).status_code == 403  # not its request
    done = await api.act(rid, "conclude_part", "cw_other", text="补贴已落实")
    assert done.status_code == 200, done.text
    resolved = await api.act(rid, "resolve", "cw_own", text="办结")
    assert resolved.status_code == 200 and resolved.json()["state"] == "resolved"

    # the timeline names the co-handling unit of each part's step, and the part's deadline
    detail = (await api.get(f"/requests/{rid}", "cw_own")).json()
    for timeline in (detail["view"]["timeline"], detail["timeline"]):  # live, and the trail
        facts = {e["event_type"]: e["facts"] for e in timeline if e["facts"]}
        due_at = _instant(part["due_at"]).isoformat()  # as the event's details hold it
        assert facts["co_handler_added"] == {
            "co_handler": "zj-330105-sme",
            "part_due_at": due_at,
            "days": 2,
        }
        assert facts["part_concluded"] == {"co_handler": "zj-330105-sme", "part_due_at": due_at}
    page = await _console_page(stack, api, "cw_own", f"/console/requests/{rid}")
    shown = f"协办单位：杭州市拱墅区中小企业服务中心；协办期限：{due}；2 个工作日"
    assert f'<p class="ev-facts">{shown}</p>' in page, page


async def test_a_co_handlers_queue_orders_by_its_parts_deadline(api: Api, stack) -> None:
    """By SLA risk, a co-handled request comes when the unit's part is due (1 working day),
    before the unit's own urgent request (12 working hours), though its holder's clock (a
    normal request: 30 working hours) runs out after it."""
    held = await api.submit(make_request(), who="sys_portal")  # held by cw_own's unit
    await api.act(held, "acknowledge", "cw_own")
    added = await api.act(
        held, "add_co_handler", "cw_own", institution_id="zj-330105-sme", text="协助", days=1
    )
    assert added.status_code == 200, added.text
    own = await api.submit(
        make_request(division_code="330105", category=Category.TALENT, priority=Priority.URGENT),
        who="sys_portal",
    )
    acked = await api.act(own, "acknowledge", "cw_other")
    assert acked.status_code == 200, acked.text

    async def listed() -> dict[str, dict]:
        page = await api.get("/requests", "cw_other", params={"limit": 500})
        return {i["request_id"]: i for i in page.json()["items"] if i["request_id"] in (held, own)}

    async def both_acknowledged() -> bool:
        rows = await listed()
        return len(rows) == 2 and rows[own]["state"] == "acknowledged"

    await eventually(both_acknowledged, what="both requests in the unit's queue, acknowledged")
    rows = await listed()
    assert list(rows) == [held, own]
    assert _instant(rows[held]["next_due_at"]) < _instant(rows[own]["next_due_at"])
    assert rows[held]["sla_status"] == "on_track"
    # once the part is late, the row says so (whatever the holder's clock says)
    later = _instant(rows[held]["next_due_at"]) + timedelta(minutes=1)
    app = create_app(stack.settings, stack.client, stack.engine, clock=lambda: later)
    async with asgi_client(app) as client:
        page = await client.get(
            "/api/v1/requests", params={"limit": 500}, headers=api.users.auth("cw_other")
        )
    (row,) = [i for i in page.json()["items"] if i["request_id"] == held]
    assert row["sla_status"] == "breached"
    # its part concluded, the unit works on it no more: it leaves the unit's queue, and the
    # enterprise's details leave the unit's sight with it
    done = await api.act(held, "conclude_part", "cw_other", text="已协助完成")
    assert done.status_code == 200, done.text

    async def as_co_handler(**params: str) -> list[dict]:
        async with asgi_client(app) as client:
            page = await client.get(
                "/api/v1/requests",
                params={"limit": 500, **params},
                headers=api.users.auth("cw_other"),
            )
        return [i for i in page.json()["items"] if i["request_id"] == held]

    async def concluded() -> bool:
        return await as_co_handler(include_closed="true") == []

    await eventually(concluded, what="the concluded part's request off the unit's queue")
    assert await as_co_handler(sla_status="breached") == []
    assert (await api.get(f"/requests/{held}", "cw_other")).status_code == 404


async def test_the_follow_up_desk_closes_or_sends_back(api: Api) -> None:
    rid = await api.submit(make_request(), who="sys_portal")
    await api.act(rid, "acknowledge", "cw_own")
    await api.act(rid, "resolve", "cw_own", text="已对接银行")
    await _listed(api, "desk_city", "follow_up", rid)  # the desk's worklist: 待回访
    # the city's desk calls about its counties' requests; the province's does not call again
    assert rid not in await _worklist(api, "desk_prov", "follow_up")
    assert (await api.get(f"/requests/{rid}", "desk_prov")).status_code == 200  # in its sight
    rows = {i["request_id"]: i for i in (await api.get("/requests", "desk_city")).json()["items"]}
    view = (await api.get(f"/requests/{rid}", "desk_city")).json()["view"]
    assert rows[rid]["follow_up_due_at"] == view["follow_up_due_at"] is not None
    no_text = await api.act(rid, "follow_up", "desk_city", outcome="unsatisfied")
    assert no_text.status_code == 422 and "unsatisfied follow-up" in no_text.text
    assert (await api.act(rid, "follow_up", "cw_own", outcome="satisfied")).status_code == 403
    redo = await api.act(rid, "follow_up", "desk_city", outcome="unsatisfied", text="未落实")
    assert redo.status_code == 200 and redo.json()["state"] == "in_progress", redo.text
    await _listed(api, "desk_city", "follow_up", rid, listed=False)  # back at the unit
    row = (await api.get(f"/requests/{rid}", "desk_city")).json()["request"]
    assert row["follow_up_due_at"] is None and row["next_due_at"] is not None
    await api.act(rid, "resolve", "cw_own", text="已落实")
    await _listed(api, "desk_city", "follow_up", rid)  # its new conclusion is followed up
    done = await api.act(rid, "follow_up", "desk_city", outcome="satisfied")
    assert done.status_code == 200 and done.json()["state"] == "closed", done.text
    await _listed(api, "desk_city", "follow_up", rid, listed=False)


def _portal(api: Api, stack) -> str:
    """A portal client the enterprise rates through (granted ``rate``); its key in ``api``."""
    user_id = f"sys_rater-{uuid.uuid4().hex[:6]}"
    create_user(stack.engine, user_id, Role.SYSTEM, None, ["read", "rate"])
    api.users.tokens["sys_rater"] = issue_token(stack.engine, user_id)
    api.users.ids["sys_rater"] = user_id
    return "sys_rater"


def _stages(stack, rid: str) -> list[tuple[str, int]]:
    with Session(stack.engine) as session:
        rows = session.exec(
            select(Rating).where(Rating.request_id == rid).order_by(col(Rating.created_at))
        ).all()
    return [(row.stage.value, row.rating) for row in rows]


async def test_the_intake_is_rated_once_while_the_request_is_open(api: Api, stack) -> None:
    """受理评价: accepted once while open, refused a second time and after the close; its
    field errors name the field. The conclusion is rated apart, as before."""
    portal = _portal(api, stack)
    rid = await api.submit(make_request(), who="sys_portal")

    unknown = await api.act(rid, "rate", portal, rating=4, stage="reception")
    assert unknown.status_code == 422, unknown.text
    assert [e["field"] for e in unknown.json()["detail"]] == ["stage"]
    elsewhere = await api.act(rid, "comment", "cw_own", text="已受理", stage="intake")
    assert elsewhere.status_code == 422 and "stage is only for rate" in elsewhere.text
    no_rating = await api.act(rid, "rate", portal, stage="intake")
    assert no_rating.status_code == 422 and "rating" in no_rating.text
    early = await api.act(rid, "rate", portal, rating=5)  # the conclusion's: not yet
    assert early.status_code == 409 and "stage intake" in early.json()["detail"]

    unreasoned = await api.act(rid, "rate", portal, rating=2, stage="intake")  # 差评: why?
    assert unreasoned.status_code == 422, unreasoned.text
    [error] = unreasoned.json()["detail"]
    assert error["field"] == "text" and "rated 1 or 2 (a bad rating)" in error["msg"]
    rated = await api.act(rid, "rate", portal, rating=2, stage="intake", text="受理较慢")
    assert rated.status_code == 200 and rated.json()["state"] == "assigned", rated.text
    again = await api.act(rid, "rate", portal, rating=5, stage="intake")
    assert again.status_code == 409
    assert "stage intake: the intake has already been rated" in again.json()["detail"]
    detail = (await api.get(f"/requests/{rid}", "admin")).json()
    assert detail["view"]["intake_rating"] == 2 and detail["view"]["rectification"] is None
    assert _stages(stack, rid) == [(RatingStage.INTAKE.value, 2)]

    await api.act(rid, "acknowledge", "cw_own")
    await api.act(rid, "resolve", "cw_own", text="已对接银行")
    done = await api.act(rid, "follow_up", "desk_city", outcome="satisfied")
    assert done.status_code == 200 and done.json()["state"] == "closed", done.text
    late = await api.act(rid, "rate", portal, rating=4, stage="intake")
    assert late.status_code == 409 and "stage intake: the request is closed" in late.text
    recorded = await api.act(rid, "rate", "desk_city", rating=5)  # for the enterprise: how?
    assert recorded.status_code == 422, recorded.text
    assert "how and when the enterprise gave the rating" in recorded.text
    conclusion = await api.act(rid, "rate", portal, rating=5)
    assert conclusion.status_code == 200, conclusion.text

    async def both() -> bool:
        return _stages(stack, rid) == [("intake", 2), ("conclusion", 5)]

    await eventually(both, what="the intake's and the conclusion's ratings in the read model")


async def test_refresh_writes_a_worklist_the_read_model_lacks(api: Api, stack) -> None:
    """A row from before migration 0021 (or one whose request has not moved since) lacks its
    worklist: refresh-worklists asks the workflow and writes it, and only where it differs."""
    rid = await api.submit(make_request(), who="sys_portal")
    await api.act(rid, "acknowledge", "cw_own")
    await api.act(rid, "resolve", "cw_own", text="已对接银行")
    await _listed(api, "desk_city", "follow_up", rid)
    with Session(stack.engine) as session:  # as a row written before 0021 holds it
        row = session.get(ServiceRequest, rid)
        assert row is not None
        row.awaiting, due, row.follow_up_due_at = None, row.follow_up_due_at, None
        session.add(row)
        session.commit()
    assert rid not in await _worklist(api, "desk_city", "follow_up")

    report = await refresh_worklists(stack.client, stack.engine)
    assert rid in report.updated and report.checked >= 1
    assert rid in await _worklist(api, "desk_city", "follow_up")
    with Session(stack.engine) as session:
        refreshed = session.get(ServiceRequest, rid)
        assert refreshed is not None and due is not None and refreshed.follow_up_due_at == due
    again = await refresh_worklists(stack.client, stack.engine)
    assert rid not in again.updated  # its row holds what the workflow says


def _as_written_before(stack, rid: str, **columns: object) -> None:
    """Set ``columns`` of the request's row, as a revision before they were written left it."""
    with Session(stack.engine) as session:
        row = session.get(ServiceRequest, rid)
        assert row is not None
        for name, value in columns.items():
            setattr(row, name, value)
        session.add(row)
        session.commit()


async def test_refresh_writes_when_a_pause_ends_where_the_row_lacks_it(api: Api, stack) -> None:
    """A row from before migration 0023 has no ``paused_until``: refresh-worklists writes it."""
    rid = await api.submit(make_request(), who="sys_portal")
    await api.act(rid, "acknowledge", "cw_own")
    await api.act(rid, "request_info", "cw_own", text="请补充近三年财务报表")

    def paused_until() -> datetime | None:
        with Session(stack.engine) as session:
            row = session.get(ServiceRequest, rid)
            return row.paused_until if row is not None else None

    ends = await eventually(paused_until, what="the pause's end in the read model")
    _as_written_before(stack, rid, paused_until=None)  # as a row written before 0023 holds it
    report = await refresh_worklists(stack.client, stack.engine)
    assert rid in report.updated and paused_until() == ends


async def test_refresh_skips_and_names_a_request_that_cannot_answer(api: Api, stack) -> None:
    """A request whose workflow cannot answer now (no worker polls its task queue) is named
    with Temporal's reason; the refresh goes on with the others instead of stopping."""
    rid = await api.submit(make_request(), who="sys_portal")
    await api.act(rid, "acknowledge", "cw_own")
    unpolled = make_request()  # its workflow runs on a task queue no worker polls
    with Session(stack.engine) as session:  # its row, as the read model would hold it
        row = session.get(ServiceRequest, rid)
        assert row is not None
        session.add(
            ServiceRequest.model_validate(row.model_dump() | {"request_id": unpolled.request_id})
        )
        session.commit()
    await stack.client.start_workflow(
        WORKFLOW_TYPE,
        WorkflowState(request=unpolled),
        id=workflow_id(unpolled.request_id),
        task_queue=f"nobody-polls-{uuid.uuid4().hex[:8]}",
    )
    report = await refresh_worklists(stack.client, stack.engine, wait=timedelta(seconds=1))
    silent = dict(report.unanswered)
    # the client's deadline, or the server's own when it passes first: Temporal's words
    timed_out = {
        "CANCELLED: Timeout expired",
        "DEADLINE_EXCEEDED: query timed out before a worker could process it",
    }
    assert silent[unpolled.request_id] in timed_out, report
    assert rid not in silent and report.checked >= 1
    # its case is read from the read model meanwhile (the API's wait for its view passes)
    settings = stack.settings.model_copy(update={"api_view_wait_seconds": 1})
    async with asgi_client(create_app(settings, stack.client, stack.engine)) as client:
        read = await client.get(
            f"/api/v1/requests/{unpolled.request_id}", headers=api.users.auth("cw_own")
        )
    assert read.status_code == 200 and read.json()["view_missing"] == "unavailable", read.text


async def test_the_follow_up_desks_queue_is_ordered_by_when_follow_ups_fall_due(
    api: Api, stack
) -> None:
    """待回访: a concluded request's follow-up falls due a business day after its conclusion;
    for the follow-up desk that is its deadline, so it comes before a request whose unit has
    days left, and the row says when."""
    prefix = f"fu-order-{uuid.uuid4().hex[:8]}"
    handling = await api.submit(make_request(f"{prefix}-a"), who="sys_portal")
    await api.act(handling, "acknowledge", "cw_own")
    concluded = await api.submit(make_request(f"{prefix}-b"), who="sys_portal")
    await api.act(concluded, "acknowledge", "cw_own")
    await api.act(concluded, "resolve", "cw_own", text="已对接银行")
    await _listed(api, "desk_city", "follow_up", concluded)

    async def queue(who: str) -> list[dict]:
        page = await api.get("/requests", who, params={"search": prefix})
        assert page.status_code == 200, page.text
        return page.json()["items"]

    rows = await queue("desk_city")
    assert [i["request_id"] for i in rows] == [concluded, handling]
    assert rows[0]["next_due_at"] is None  # no unit clock runs
    assert rows[0]["follow_up_due_at"] < rows[1]["next_due_at"]
    assert rows[0]["sla_status"] == "on_track"  # the call's deadline is ahead, not stopped
    # past the follow-up's deadline the desk sees it late, and its 已超时 filter finds it
    later = _instant(rows[0]["follow_up_due_at"]) + timedelta(minutes=1)
    app = create_app(stack.settings, stack.client, stack.engine, clock=lambda: later)
    async with asgi_client(app) as client:

        async def desk(**params: str) -> list[dict]:
            page = await client.get(
                "/api/v1/requests",
                params={"search": prefix, **params},
                headers=api.users.auth("desk_city"),
            )
            return page.json()["items"]

        late = {i["request_id"]: i["sla_status"] for i in await desk()}
        assert late[concluded] == "breached"
        assert [i["request_id"] for i in await desk(sla_status="breached")] == [concluded]
        assert concluded not in [i["request_id"] for i in await desk(sla_status="stopped")]
    # a supervisor's queue orders by the units' clocks, as before: the concluded one last
    assert [i["request_id"] for i in await queue("sup_city")] == [handling, concluded]


async def test_the_next_deadline_is_the_nearest_running_clock_whichever_it_is(api: Api) -> None:
    """A policy consultation's response (4 working hours) falls due before its sign-for
    (7 hours), and its breach escalates: that is the deadline the row shows and the queue
    orders by, not the sign-for's."""
    prefix = f"due-{uuid.uuid4().hex[:8]}"
    loan = await api.submit(make_request(f"{prefix}-a"), who="sys_portal")
    question = make_request(f"{prefix}-b", category=Category.POLICY_CONSULTATION)
    consultation = await api.submit(question, who="sys_portal")
    page = await api.get("/requests", "cw_own", params={"search": prefix})
    rows = {row["request_id"]: row for row in page.json()["items"]}
    asked = rows[consultation]
    assert asked["response_due_at"] < asked["sign_for_due_at"]
    assert asked["next_due_at"] == asked["response_due_at"]
    assert rows[loan]["next_due_at"] == rows[loan]["sign_for_due_at"]  # 7 hours before 8
    assert [row["request_id"] for row in page.json()["items"]] == [consultation, loan]


async def test_a_request_outside_the_region_goes_to_another_citys_county_and_its_city(
    api: Api, stack
) -> None:
    """退单 for 非本辖区: the province's supervisor picks from the province's county units
    (the right one is in another city), and the request is then that city's to oversee."""
    rid = await api.submit(make_request(), who="sys_portal")
    back = await api.act(
        rid, "return", "cw_own", return_reason="outside_region", text="企业实际经营地在宁波鄞州"
    )
    assert back.status_code == 200, back.text
    page = await _console_page(stack, api, "sup_prov", f"/console/requests/{rid}")
    offered = _dispatch_choices(page)
    assert offered["zj-330212-sme"] == "宁波市鄞州区中小企业服务中心", sorted(offered)
    assert "zj-330105-sme" in offered and "zj-330100-sme" not in offered  # counties only
    moved = await api.act(
        rid, "approve_return", "sup_prov", institution_id="zj-330212-sme", text="转鄞州区"
    )
    assert moved.status_code == 200, moved.text

    async def overseen_by(who: str) -> bool:
        page = await api.get("/requests", who, params={"search": rid})
        return rid in [i["request_id"] for i in page.json()["items"]]

    await eventually(lambda: overseen_by("sup_other"), what="Ningbo's supervisors see it")
    assert not await overseen_by("sup_city")  # Hangzhou's no longer do
    row = (await api.get(f"/requests/{rid}", "sup_other")).json()["request"]
    assert (row["division_code"], row["scope_division"]) == ("330106", "330212")
    page = await _console_page(
        stack, api, "sup_other", f"/console/requests/{rid}"
    )  # the case page says why Ningbo has it
    overseen = page.split('id="overseen-from"')[1].split("</dd>")[0]
    assert "鄞州区" in overseen and "330212" in overseen, overseen


async def test_the_case_page_offers_the_citys_units_by_name_to_reassign_to(api: Api, stack) -> None:
    """改派 names an institution: the case page suggests by name the units of the request's
    city at its tier that serve its category (the field still takes any id; the workflow
    checks it)."""
    rid = await api.submit(make_request(), who="sys_portal")
    page = await _console_page(stack, api, "sup_city", f"/console/requests/{rid}")
    assert 'name="institution_id"' in page and 'list="dispatch-choices"' in page
    # a supervisor's comment is an instruction (批示) the unit hears of: the form says so
    assert '<label for="t-comment">批示（承办单位的经办人会收到通知）</label>' in page
    offered = _dispatch_choices(page)
    assert offered["zj-330105-sme"] == "杭州市拱墅区中小企业服务中心"
    assert "zj-330100-sme" not in offered  # a municipal unit: the request is at the county tier
    assert "zj-330106-sme" not in offered  # its holder: nobody re-dispatches it there
    # Hangzhou's units (named, and the directory's placeholders), no other city's
    assert all(re.search(r"-3301\d\d", unit) for unit in offered), sorted(offered)
    assert "zj-330110-fin" in offered  # a financing service station, for a financing request
    talent = await api.submit(make_request(category=Category.TALENT), who="sys_portal")
    page = await _console_page(stack, api, "sup_city", f"/console/requests/{talent}")
    offered = _dispatch_choices(page)
    assert "zj-330105-sme" in offered and "zj-330110-fin" not in offered  # serves financing only
    # the province moves requests across its cities: it is offered theirs too
    page = await _console_page(stack, api, "sup_prov", f"/console/requests/{rid}")
    offered = _dispatch_choices(page)
    assert {"zj-330105-sme", "zj-330203-sme", "zj-330302-sme"} <= set(offered)
    assert "zj-330106-sme" not in offered and "zj-330200-sme" not in offered  # holder, tier
    # 协办 the holding unit asks of any unit of its city, whatever it serves
    await api.act(talent, "acknowledge", "cw_own")
    page = await _console_page(stack, api, "cw_own", f"/console/requests/{talent}")
    listed = page.split('<datalist id="unit-choices">')[1].split("</datalist>")[0]
    co_handlers = set(re.findall(r'<option value="([^"]+)">', listed))
    assert {"zj-330105-sme", "zj-330110-fin", "zj-330100-digital"} <= co_handlers
    assert not any(unit.startswith("zj-3302") for unit in co_handlers)


def _dispatch_choices(page: str) -> dict[str, str]:
    """The units the case page's 改派 and 退单 forms offer, by id (its other lists aside)."""
    listed = page.split('<datalist id="dispatch-choices">')[1].split("</datalist>")[0]
    return dict(re.findall(r'<option value="([^"]+)">([^<]+)</option>', listed))


async def test_the_rated_unit_rectifies_after_its_redo_went_up(api: Api, stack) -> None:
    """整改 is the rated unit's wherever the request goes: the county's redo escalated to the
    city, the county's caseworkers and lead still find the request (its contact masked), are
    offered and take its appeal and its conclusion, and nothing else of the city's; once it
    owes nothing, only its first-received sight is left."""
    uscc = make_uscc("330106", random.Random(uuid.uuid4().hex))
    held_here = make_request(uscc=uscc)  # the enterprise's earlier request, still the unit's
    held_rid = await api.submit(held_here, who="sys_portal")
    request = make_request(uscc=uscc)
    rid = await api.submit(request, who="sys_portal")
    portal = _portal(api, stack)
    for who, kind, body in [
        ("cw_own", "acknowledge", {}),
        ("cw_own", "resolve", {"text": "已对接银行"}),
        (portal, "rate", {"rating": 1, "text": "银行未放款"}),
        ("desk_city", "follow_up", {"outcome": "unsatisfied", "text": "未放款"}),  # 重办
        ("cw_own", "escalate", {"text": "需市级统筹", "reason_code": "needs_coordination"}),
    ]:
        done = await api.act(rid, kind, who, **body)
        assert done.status_code == 200, (kind, done.text)

    async def held_by_the_city() -> bool:
        row = (await api.get(f"/requests/{rid}", "admin")).json()["request"]
        return row["institution_id"] == "zj-330100-sme"

    await eventually(held_by_the_city, what="the redo held by the city")
    mate = await api.get(f"/requests/{rid}", "cw_mate")
    assert mate.status_code == 200, mate.text
    found = mate.json()
    assert found["request"]["rectifying_unit"] == "zj-330106-sme"
    assert not found["received_first"] and found["request"]["contact_phone"] != "13800000000"
    assert {"appeal_rating", "conclude_rectification"} == set(found["allowed_actions"])
    page = await _console_page(stack, api, "cw_mate", f"/console/requests/{rid}")
    assert f"/console/requests/{rid}/actions/conclude_rectification" in page
    assert f"/console/requests/{rid}/actions/comment" not in page
    assert rid in [i["request_id"] for i in (await _queue(api, "cw_mate"))]
    assert (await api.get(f"/requests/{rid}", "cw_other")).status_code == 404
    # the walk-in form fills the contact in from the request the unit holds, not from this
    # one it only rectifies (held elsewhere: its contact is not the unit's to give)
    form = await _walk_in_form(stack, api, "cw_mate", request.enterprise.uscc)
    assert f'value="{held_here.enterprise.contact_phone}"' in form and held_rid in form
    assert (await api.act(rid, "comment", "cw_mate", text="补充")).status_code == 403
    # on the console: the appeal taken, its case page again (the request is still its)
    _, appealed = await _console_act(
        stack, api, "cw_own", rid, "appeal_rating", text="企业误评：评价对象为其他单位"
    )
    assert appealed.status_code == 303, appealed.text
    assert appealed.headers["location"] == f"/console/requests/{rid}?done=appeal_rating"
    concluded = await api.act(rid, "conclude_rectification", "sup_own", text="已开展培训")
    assert concluded.status_code == 200, concluded.text
    assert (await api.get(f"/requests/{rid}", "cw_mate")).status_code == 200  # its appeal waits
    decided = await api.act(rid, "reject_appeal", "sup_city", text="评价属实")
    assert decided.status_code == 200, decided.text

    async def owes_nothing() -> bool:
        row = (await api.get(f"/requests/{rid}", "admin")).json()["request"]
        return row["rectifying_unit"] is None

    await eventually(owes_nothing, what="the county owing nothing more")
    after = await api.get(f"/requests/{rid}", "cw_mate")
    assert after.status_code == 200 and after.json()["received_first"]  # 首问负责: read only
    assert rid not in [i["request_id"] for i in (await _queue(api, "cw_mate"))]
    refused = await api.act(rid, "comment", "cw_mate", text="补充")
    assert refused.status_code == 403 and "received request" in refused.text


async def _queue(api: Api, who: str) -> list[dict]:
    page = await api.get("/requests", who, params={"limit": 500})
    assert page.status_code == 200, page.text
    return page.json()["items"]


def _user(api: Api, stack, key: str, role: Role, institution: str) -> str:
    """A user made for one test, its key in ``api``."""
    user_id = f"{key}-{uuid.uuid4().hex[:6]}"
    create_user(stack.engine, user_id, role, institution, [], Directory.load())
    api.users.tokens[key] = issue_token(stack.engine, user_id)
    api.users.ids[key] = user_id
    return user_id


async def test_a_city_without_a_follow_up_desk_is_called_by_its_provinces(api: Api, stack) -> None:
    """待回访 of a Wenzhou county's request, Wenzhou having no follow-up desk: the province's
    desk, which the notifier tells of it, has it on its worklist (Hangzhou's does not); once
    Wenzhou has a desk of its own, that desk has it and the province's no longer."""
    rid = await api.submit(make_request(division_code="330302"), who="sys_portal")
    _user(api, stack, "cw_wz", Role.CASEWORKER, "zj-330302-sme")
    for kind, body in [("acknowledge", {}), ("resolve", {"text": "已对接银行"})]:
        done = await api.act(rid, kind, "cw_wz", **body)
        assert done.status_code == 200, (kind, done.text)
    await _listed(api, "desk_prov", "follow_up", rid)
    assert rid not in await _worklist(api, "desk_city", "follow_up")  # Hangzhou's desk
    desk = _user(api, stack, "desk_wz", Role.FOLLOW_UP, "zj-330300-sme")
    try:
        assert rid in await _worklist(api, "desk_wz", "follow_up")
        assert rid not in await _worklist(api, "desk_prov", "follow_up")
        called = await api.act(rid, "follow_up", "desk_wz", outcome="satisfied")
        assert called.status_code == 200 and called.json()["state"] == "closed", called.text
    finally:  # the other tests' Wenzhou has no desk
        set_disabled(stack.engine, desk, True)


async def test_the_desk_approves_a_return_with_a_note_on_the_console(api: Api, stack) -> None:
    """同意退单 on the case page: the note for the unit it goes to may be left out (the form
    does not require it) or given, and then it is the approval's reason in the trail."""
    rid = await api.submit(make_request(), who="sys_portal")
    asked = await api.act(
        rid, "return", "cw_own", text="非本单位业务", return_reason="not_our_remit"
    )
    assert asked.status_code == 200, asked.text
    case, sent = await _console_act(
        stack,
        api,
        "disp_city",
        rid,
        "approve_return",
        institution_id="zj-330105-sme",
        text="企业实际经营地在拱墅区",
    )
    form = case.split('action="/console/requests/' + rid + '/actions/approve_return"')[1]
    form = form.split("</form>")[0]
    assert "派往单位的说明（可不填）" in form
    assert 'name="text"' in form and "required" not in form.split('name="text"')[1][:80]
    assert sent.status_code == 303, sent.text
    with Session(stack.engine) as session:
        approved = session.exec(
            select(Transition).where(
                Transition.request_id == rid, Transition.event_type == "return_approved"
            )
        ).one()
    assert approved.reason == "企业实际经营地在拱墅区"


async def test_refresh_names_the_rectifying_unit_of_a_closed_badly_rated_request(
    api: Api, stack
) -> None:
    """A closed request whose bad rating's 整改 is open (its workflow runs on): a row from
    before migration 0040 names no unit; refresh-worklists asks the workflow and writes it."""
    rid = await api.submit(make_request(), who="sys_portal")
    portal = _portal(api, stack)
    for who, kind, body in [
        ("cw_own", "acknowledge", {}),
        ("cw_own", "resolve", {"text": "已对接银行"}),
        (portal, "rate", {"rating": 2, "text": "办理太慢"}),
        ("desk_city", "follow_up", {"outcome": "satisfied"}),
    ]:
        done = await api.act(rid, kind, who, **body)
        assert done.status_code == 200, (kind, done.text)

    def row() -> ServiceRequest:
        with Session(stack.engine) as session:
            found = session.get(ServiceRequest, rid)
            assert found is not None
            return found

    await eventually(lambda: row().state.value == "closed", what="the request closed")
    assert row().rectifying_unit == "zj-330106-sme"
    _as_written_before(stack, rid, rectifying_unit=None)  # as a row from before 0040
    report = await refresh_worklists(stack.client, stack.engine)
    assert rid in report.updated
    assert row().rectifying_unit == "zj-330106-sme"
