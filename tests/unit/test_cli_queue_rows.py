"""`tierflow queue` marks a request the caller's unit co-handles (协办), as the console does:
another unit holds it, and it is in the queue for the unit's part."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from typer.testing import CliRunner

from schemas.domain import State
from schemas.lifecycle import WorkflowState
from tests.utils.factories import make_request
from tierflow.cli import app, client
from workflows.views import request_view

ITEM = {
    "request_id": "req-own",
    "state": "acknowledged",
    "tier": "county",
    "institution_id": "zj-330105-sme",
    "category": "financing",
    "priority": "normal",
    "sla_status": "on_track",
    "next_due_at": "2099-03-02T03:00:00+00:00",
    "co_handled": False,
}
NAMES = {
    "zj-330105-sme": "杭州市拱墅区中小企业服务中心",
    "zj-330106-sme": "杭州市西湖区中小企业服务中心",
}


def test_a_co_handled_row_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    part = {**ITEM, "request_id": "req-part", "institution_id": "zj-330106-sme", "co_handled": True}
    page = {"items": [ITEM, part], "total": 2, "total_exact": True}

    def answer(method: str, path: str, **kwargs: Any) -> Any:
        assert (method, path) == ("GET", "/requests")
        return page

    monkeypatch.setattr(client, "_call", answer)
    monkeypatch.setattr(client, "_unit_names", lambda units: NAMES)
    shown = CliRunner().invoke(app, ["queue"], env={"TIERFLOW_LANG": "zh-CN", "COLUMNS": "200"})
    assert shown.exit_code == 0, shown.output
    own, co = (line for line in shown.output.splitlines() if "req-" in line)
    assert "杭州市西湖区中小企业服务中心（协办）" in co
    assert "杭州市拱墅区中小企业服务中心" in own and "协办" not in own


@pytest.mark.parametrize("width", ["60", "80"])
def test_a_narrow_terminal_lists_each_request_as_a_block(
    monkeypatch: pytest.MonkeyPatch, width: str
) -> None:
    """A long request id on a narrow terminal (or a pipe, 80 columns) squeezed the state,
    unit, priority and SLA columns to nothing: each request is a block instead, every value
    under its name."""
    long = {**ITEM, "request_id": "hotline-2026-120600123-" + "x" * 20}
    page = {"items": [long], "total": 1, "total_exact": True}
    monkeypatch.setattr(client, "_call", lambda method, path, **kwargs: page)
    monkeypatch.setattr(client, "_unit_names", lambda units: NAMES)
    shown = CliRunner().invoke(app, ["queue"], env={"TIERFLOW_LANG": "zh-CN", "COLUMNS": width})
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    assert long["request_id"] in lines
    assert "  机构：杭州市拱墅区中小企业服务中心" in lines
    assert any(line.startswith("  状态：") for line in lines)
    assert any(line.startswith("  时限：") for line in lines)


def test_show_says_which_deadlines_rest_on_an_estimated_calendar(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    case = WorkflowState(request=make_request("req-estimated"), state=State.SUSPENDED)
    view = request_view(case, datetime(2026, 12, 20, tzinfo=UTC)).model_copy(
        update={
            "calendar_estimated_years": [2027, 2028],
            "suspended_until": datetime(2027, 1, 8, 2, 0, tzinfo=UTC),
        }
    )
    detail = {"view": view.model_dump(mode="json"), "request": None, "allowed_actions": []}
    monkeypatch.setattr(client, "_call", lambda method, path, **kwargs: detail)
    monkeypatch.setattr(client, "_unit_names", lambda units: NAMES)
    shown = CliRunner().invoke(
        app, ["show", "req-estimated"], env={"TIERFLOW_LANG": "zh-CN", "COLUMNS": "200"}
    )
    assert shown.exit_code == 0, shown.output
    assert "2027 年的时限按预估工作日历计算" in shown.output
