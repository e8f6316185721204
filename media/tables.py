"""Tables out as files: CSV and Excel (.xlsx, openpyxl). Bytes out only: the caller (a
``backend`` service) decides the rows; the first row of each table is its header.

CSV is UTF-8 with a byte-order mark, so that Excel on a Chinese Windows reads the names
right. Text that a spreadsheet would take for a formula (``=``, ``+``, ``-``, ``@`` first:
OWASP "CSV injection") is written as text: a quote before it in CSV, a string cell in Excel.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _as_text(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_bytes(rows: Sequence[Sequence[Any]]) -> bytes:
    """The rows as CSV (comma, CRLF, UTF-8 with BOM); None is an empty cell."""
    out = io.StringIO()
    writer = csv.writer(out)
    for row in rows:
        writer.writerow(["" if v is None else _as_text(v) for v in row])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


@dataclass(frozen=True)
class Sheet:
    """One worksheet: ``title`` (its tab, at most 31 characters), lines of text above the
    table (``notes``: what it is, the period), then the table (header first)."""

    title: str
    rows: Sequence[Sequence[Any]]
    notes: Sequence[str] = field(default_factory=tuple)


def xlsx_bytes(sheets: Sequence[Sheet]) -> bytes:
    """The sheets as one .xlsx workbook: the header bold and frozen, columns sized to fit."""
    book = Workbook()
    book.remove(book.active)
    for sheet in sheets:
        page = book.create_sheet(sheet.title[:31])
        for note in sheet.notes:
            page.append([note])
        first = len(sheet.notes) + 1
        for row in sheet.rows:
            page.append([None if v is None else v for v in row])
        for cell in page[first] if sheet.rows else ():
            cell.font = Font(bold=True)
            cell.alignment = Alignment(wrap_text=True, vertical="top")
        for row in page.iter_rows(min_row=first):
            for cell in row:
                if isinstance(cell.value, str) and cell.value.startswith(FORMULA_STARTS):
                    cell.data_type = "s"  # text, never a formula
        page.freeze_panes = page.cell(row=first + 1, column=2)
        for index, column in enumerate(zip(*sheet.rows, strict=False), start=1):
            width = max(len(str(v)) if v is not None else 0 for v in column)
            page.column_dimensions[get_column_letter(index)].width = min(max(width * 2, 8), 40)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
