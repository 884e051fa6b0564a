"""File answers: a CSV as an attachment, as the API and the console both send one."""

from __future__ import annotations

from fastapi.responses import Response


def csv_attachment(body: str, filename: str, total: int | None = None) -> Response:
    """``body`` (CSV text, UTF-8 with BOM) as a download; ``total`` goes in X-Total-Count."""
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    if total is not None:
        headers["X-Total-Count"] = str(total)
    return Response(body, media_type="text/csv; charset=utf-8", headers=headers)
