"""Search of the read model: enterprise name and subject by substring, USCC and request id by
prefix, with LIKE wildcards in the caller's text taken literally.

On PostgreSQL, migration 0009 adds ``pg_trgm`` GIN indexes on ``enterprise_name`` and
``subject`` that serve ``LIKE``/``ILIKE '%...%'`` for terms of three characters or more (the
database's LC_CTYPE must be a UTF-8 locale, or pg_trgm sees no Chinese characters; see
docs/search.md), and migration 0014 adds GIN indexes on each value's two-character pieces
(``tierflow_bigrams``) that answer a two-character term, such as a brand or a city name, which
has no trigram. A term without letters that have a case (Chinese, digits) is matched with
``LIKE``: the same answer as ``ILIKE`` at about half the cost when a frequent term makes the
database read every row. Only a term an id could start with is also matched against the
request id, and only a USCC-shaped one against the USCC, so a Chinese term's conditions are
all indexed. On SQLite the same conditions are LIKE scans.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import Text, cast, func, or_
from sqlalchemy.dialects.postgresql import ARRAY, array
from sqlmodel import col

from schemas.request import REQUEST_ID_PATTERN
from tierflow.db.models import ServiceRequest

# Indexes only migrations know (PostgreSQL operator classes, expressions): not in the models.
SEARCH_INDEXES = (
    "ix_service_request_name_trgm",
    "ix_service_request_subject_trgm",
    "ix_service_request_name_bigrams",
    "ix_service_request_subject_bigrams",
)
ESCAPE = "\\"
_USCC_PREFIX = re.compile(r"[0-9A-Z]{2,18}")
_ID_PREFIX = re.compile(REQUEST_ID_PATTERN.strip("^$"))


def escape_like(text: str) -> str:
    """Return ``text`` with LIKE's wildcards (% and _) and the escape character escaped."""
    return re.sub(r"([\\%_])", r"\\\1", text)


def search_condition(text: str, dialect: str = "sqlite") -> Any:
    """Return the condition: name or subject contain ``text``, or USCC / request id start so.

    ``dialect`` is the database's (``engine.dialect.name``): PostgreSQL answers two-character
    terms from the bigram indexes.
    """
    term = text.strip()
    caseless = term.lower() == term.upper()
    texts = (col(ServiceRequest.enterprise_name), col(ServiceRequest.subject))
    matches: list[Any]
    if dialect == "postgresql" and caseless and len(term) == 2:
        piece = cast(array([term]), ARRAY(Text))
        matches = [func.tierflow_bigrams(column).op("@>")(piece) for column in texts]
    else:
        pattern = f"%{escape_like(term)}%"
        contains = "like" if caseless else "ilike"
        matches = [getattr(column, contains)(pattern, escape=ESCAPE) for column in texts]
    if _ID_PREFIX.fullmatch(term):
        matches.append(col(ServiceRequest.request_id).startswith(term, autoescape=True))
    if _USCC_PREFIX.fullmatch(term.upper()):
        matches.append(
            col(ServiceRequest.enterprise_uscc).startswith(term.upper(), autoescape=True)
        )
    return or_(*matches)


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """Autogenerate filter: leave the search indexes of migrations 0009 and 0014 alone."""
    return not (type_ == "index" and reflected and name in SEARCH_INDEXES)
