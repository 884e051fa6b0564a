"""The console's queue export for people: the API's CSV columns (``requests_csv``), headed and
labelled in the reader's language, as the page shows them. The API's CSV keeps the field
names and codes, for programs."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from api.console.views import Texts
from api.models import RequestItem
from api.service.requests import CSV_COLUMNS, SHANGHAI
from schemas.messages import N_
from tierflow.csv_text import to_csv

HEADINGS = {
    "request_id": N_("Request number"),
    "submitted_at": N_("Submitted at"),
    "enterprise_name": N_("Enterprise"),
    "enterprise_uscc": N_("Unified social credit code"),
    "division_code": N_("Division code"),
    "scope_division": N_("Overseeing division"),
    "subject": N_("Subject"),
    "category": N_("Category"),
    "priority": N_("Priority"),
    "grade": N_("Grade"),
    "state": N_("State"),
    "awaiting": N_("Awaiting"),
    "tier": N_("Tier"),
    "institution_id": N_("Holding unit"),
    "sla_status": N_("SLA"),
    "next_due_at": N_("Next deadline"),
    "follow_up_due_at": N_("Follow-up due"),
    "signed_for_at": N_("Signed for at"),
    "resolved_at": N_("Concluded at"),
    "closed_at": N_("Closed at"),
    "escalation_count": N_("Escalations"),
}


def people_csv(items: list[RequestItem], texts: Texts) -> str:
    """Return the listed requests as CSV for a spreadsheet in ``texts``' language (UTF-8 with
    BOM, times in China's)."""

    def value(item: RequestItem, name: str) -> object:
        found = getattr(item, name)
        if isinstance(found, list):  # awaiting: what, in words
            return texts.listed([texts.label(code) for code in found])
        if isinstance(found, datetime):
            return found.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
        return texts.label(found) if isinstance(found, StrEnum) else found

    header = [texts.t.gettext(HEADINGS[name]) for name in CSV_COLUMNS]
    return to_csv(header, ([value(i, n) for n in CSV_COLUMNS] for i in items))
