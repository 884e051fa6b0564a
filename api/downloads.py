"""File answers: a CSV or JSON as an attachment, as the API and the console both send one."""

from __future__ import annotations

from fastapi.responses import Response

# Downloads hold personal data (enterprises, contacts, subjects): kept by no cache, and read
# as the type they say they are.
DOWNLOAD_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


def attachment(body: str, media_type: str, filename: str, total: int | None = None) -> Response:
    """``body`` as a download named ``filename``; ``total`` goes in X-Total-Count."""
    headers = {"Content-Disposition": f'attachment; filename="{filename}"', **DOWNLOAD_HEADERS}
    if total is not None:
        headers["X-Total-Count"] = str(total)
    return Response(body, media_type=media_type, headers=headers)


def csv_attachment(body: str, filename: str, total: int | None = None) -> Response:
    """``body`` (CSV text, UTF-8 with BOM) as a download; ``total`` goes in X-Total-Count."""
    return attachment(body, "text/csv; charset=utf-8", filename, total)
