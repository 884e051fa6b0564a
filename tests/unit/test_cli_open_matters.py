"""`tierflow show` lists the work order's open matters, as the case page's 工单事项 card:
协办 parts not concluded, 督办 awaiting a reply, applications awaiting a decision and an open
rectification; what is done is left out."""

from __future__ import annotations

import pytest

from tierflow.cli import client

FUTURE, PAST = "2099-03-02T03:00:00+00:00", "2026-03-02T03:00:00+00:00"
PART = {"institution_id": "zj-330105-sme", "text": "出口认证部分", "due_at": FUTURE}
CASE = {"opened_by": "sup-1", "reason": "请书面说明办理进展", "reply_due_at": PAST}
ASKED = {"kind": "return", "asked_by": "cw-1", "text": "非本中心职责"}
VIEW = {
    "parts": [
        PART,
        {**PART, "institution_id": "zj-330106-sme", "concluded_at": PAST},
        {**PART, "institution_id": "zj-330107-sme", "waived_by": "sup-1"},
    ],
    "supervisions": [CASE, {**CASE, "replied_at": PAST}, {**CASE, "reprimanded_at": PAST}],
    "applications": [ASKED, {**ASKED, "kind": "request_extension", "decided_at": PAST}],
    "rectification": {"rating": 1, "due_at": FUTURE},
}


@pytest.fixture(autouse=True)
def chinese(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIERFLOW_LANG", "zh-CN")
    names = {"zj-330105-sme": "杭州市拱墅区中小企业服务中心"}
    monkeypatch.setattr(client, "_unit_names", lambda units: {u: names[u] for u in units})


def test_the_open_matters_and_only_those() -> None:
    assert client._open_matters(VIEW) == [
        "  协办：杭州市拱墅区中小企业服务中心（出口认证部分）：待签收；截止 2099年3月2日 11:00",
        "  督办：sup-1：请书面说明办理进展；待书面回复，已超时（截止 2026年3月2日 11:00）",
        "  待审批：退单（cw-1）：非本中心职责",
        "  整改（评价 1 分）：截止 2099年3月2日 11:00",
    ]


def test_a_signed_part_says_so_and_nothing_open_says_nothing() -> None:
    signed = {"parts": [{**PART, "signed_for_at": PAST}]}
    [line] = client._open_matters(signed)
    assert "已于 2026年3月2日 11:00 签收，办理中" in line
    done = {"parts": VIEW["parts"][1:], "rectification": {"rating": 2, "concluded_at": PAST}}
    assert client._open_matters(done) == []
