"""CSV for people: UTF-8 with a byte-order mark (Excel then opens Chinese correctly), and no
cell that a spreadsheet would run as a formula."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

BOM = "\ufeff"
# A cell starting with one of these is a formula to Excel and LibreOffice (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def cell(value: object) -> str:
    """Return ``value`` as CSV cell text, quoted with ``'`` if a spreadsheet would run it."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def uncell(text: str) -> str:
    """The value ``cell`` wrote: a CSV file written for people reads back as it was."""
    quoted = text.startswith("'") and text[1:].startswith(_FORMULA_START)
    return text[1:] if quoted else text


def to_csv(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """Return the rows as CSV text for spreadsheets: BOM, header, CRLF line ends."""
    out = io.StringIO()
    out.write(BOM)
    writer = csv.writer(out)
    writer.writerow(header)
    for row in rows:
        writer.writerow([cell(v) for v in row])
    return out.getvalue()


def decode(data: bytes) -> str:
    """Return the text of a CSV file in UTF-8 (with or without BOM) or GB18030 (Excel, zh-CN)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("gb18030")
