"""The console's queue export for people: the API's CSV columns (``requests_csv``), headed and
labelled in the reader's language and units named, as the page shows them. The API's CSV
keeps the field names, codes and ids, for programs."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum

from api.console.views import Texts
from api.models import RequestItem
from api.service.requests import CSV_COLUMNS, csv_time
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


def people_csv(items: list[RequestItem], texts: Texts, units: Mapping[str, str]) -> str:
    """Return the listed requests as CSV for a spreadsheet in ``texts``' language (UTF-8 with
    BOM, times in China's), each holding unit by its name in ``units`` (else its id)."""

    def value(item: RequestItem, name: str) -> object:
        found = getattr(item, name)
        if name == "institution_id" and found:
            return units.get(found, found)
        if isinstance(found, list):  # awaiting: what, in words
            return texts.listed([texts.label(code) for code in found])
        if isinstance(found, datetime):
            return csv_time(found)
        return texts.label(found) if isinstance(found, StrEnum) else found

    header = [texts.t.gettext(HEADINGS[name]) for name in CSV_COLUMNS]
    return to_csv(header, ([value(i, n) for n in CSV_COLUMNS] for i in items))
