"""Search of the read model: enterprise name and subject by substring, USCC and request id by
prefix, with LIKE wildcards in the caller's text taken literally.

On PostgreSQL, migration 0009 adds ``pg_trgm`` GIN indexes on ``enterprise_name`` and
``subject`` that serve ``ILIKE '%...%'`` (the database's LC_CTYPE must be a UTF-8 locale, or
pg_trgm sees no Chinese characters; see docs/search.md). On SQLite the same condition is a LIKE
scan. The USCC index and the primary key serve the prefix matches (C collation).
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import or_
from sqlmodel import col

from tierflow.db.models import ServiceRequest

# Indexes only migration 0009 knows (PostgreSQL operator classes): not in the SQLModel tables.
TRIGRAM_INDEXES = ("ix_service_request_name_trgm", "ix_service_request_subject_trgm")
ESCAPE = "\\"
_USCC_PREFIX = re.compile(r"[0-9A-Z]{2,18}")


def escape_like(text: str) -> str:
    """Return ``text`` with LIKE's wildcards (% and _) and the escape character escaped."""
    return re.sub(r"([\\%_])", r"\\\1", text)


def search_condition(text: str) -> Any:
    """Return the condition: name or subject contain ``text``, or USCC / request id start so."""
    term = text.strip()
    pattern = f"%{escape_like(term)}%"
    matches = [
        col(ServiceRequest.enterprise_name).ilike(pattern, escape=ESCAPE),
        col(ServiceRequest.subject).ilike(pattern, escape=ESCAPE),
        col(ServiceRequest.request_id).startswith(term, autoescape=True),
    ]
    if _USCC_PREFIX.fullmatch(term.upper()):
        matches.append(
            col(ServiceRequest.enterprise_uscc).startswith(term.upper(), autoescape=True)
        )
    return or_(*matches)


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """Autogenerate filter: leave the trigram indexes of migration 0009 alone."""
    return not (type_ == "index" and reflected and name in TRIGRAM_INDEXES)
