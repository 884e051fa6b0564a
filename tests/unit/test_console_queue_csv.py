"""The console's export for people heads every column the API's CSV has, in the reader's
language, and names the holding unit; the API's CSV keeps the codes and ids."""

from __future__ import annotations

from datetime import UTC, datetime

from api.console.queue_csv import HEADINGS, people_csv
from api.console.views import Texts
from api.models import RequestItem
from api.service.requests import CSV_COLUMNS, requests_csv
from schemas.domain import Category, Grade, Priority, SlaStatus, State, Tier
from schemas.lifecycle import Awaiting
from tierflow.csv_text import decode
from tierflow.i18n import translations

ITEM = RequestItem(
    request_id="req-1",
    enterprise_name="杭州启明智能科技有限公司",
    enterprise_uscc="91330106158459612J",
    division_code="330106",
    subject="申请科技型中小企业信用贷款对接",
    category=Category.FINANCING,
    priority=Priority.NORMAL,
    grade=Grade.INNOVATIVE,
    state=State.ASSIGNED,
    tier=Tier.COUNTY,
    institution_id="zj-330106-sme",
    sla_status=SlaStatus.ON_TRACK,
    submitted_at=datetime(2026, 3, 2, 1, 30, tzinfo=UTC),
    updated_at=datetime(2026, 3, 2, 1, 30, tzinfo=UTC),
    awaiting=[Awaiting.FOLLOW_UP],
    policy_version="2026.1",
    next_due_at=None,
)


def test_every_column_has_a_heading() -> None:
    assert list(HEADINGS) == list(CSV_COLUMNS)


def test_people_read_words_and_names_programs_read_codes() -> None:
    texts = Texts("zh-CN", translations("zh-CN"))
    names = {"zj-330106-sme": "杭州市西湖区中小企业服务中心"}
    header, row = decode(people_csv([ITEM], texts, names).encode()).splitlines()
    assert header.startswith("工单编号,提交时间,企业,")
    assert "杭州市西湖区中小企业服务中心" in row and "2026-03-02 09:30" in row
    assert "assigned" not in row and "financing" not in row and "county" not in row
    api_header, api_row = decode(requests_csv([ITEM]).encode()).splitlines()
    assert api_header.startswith("request_id,submitted_at,")
    assert ",assigned," in api_row and "zj-330106-sme" in api_row
