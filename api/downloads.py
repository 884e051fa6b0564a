"""File answers: a CSV or JSON as an attachment, as the API and the console both send one."""

from __future__ import annotations

import re
from urllib.parse import quote

from fastapi.responses import Response

# Downloads hold personal data (enterprises, contacts, subjects): kept by no cache, and read
# as the type they say they are.
DOWNLOAD_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


def disposition(filename: str) -> str:
    """An attachment's header for any file name (a directory version in Chinese, a quote in
    it): an ASCII stand-in for old clients, and the name itself as RFC 6266 says (UTF-8)."""
    plain = re.sub(r"[^A-Za-z0-9._-]+", "_", filename)
    return f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(filename, safe='')}"


def attachment(body: str, media_type: str, filename: str, total: int | None = None) -> Response:
    """``body`` as a download named ``filename``; ``total`` goes in X-Total-Count."""
    headers = {"Content-Disposition": disposition(filename), **DOWNLOAD_HEADERS}
    if total is not None:
        headers["X-Total-Count"] = str(total)
    return Response(body, media_type=media_type, headers=headers)


def csv_attachment(body: str, filename: str, total: int | None = None) -> Response:
    """``body`` (CSV text, UTF-8 with BOM) as a download; ``total`` goes in X-Total-Count."""
    return attachment(body, "text/csv; charset=utf-8", filename, total)
