"""Lists as Excel workbooks (openpyxl): one sheet, a bold header row, the rows as shown on the page.

``workbook_bytes`` builds a small list in memory; ``workbook_stream`` writes a long one (the dashboard's
exports) with openpyxl's write-only mode into a temporary file — memory stays flat whatever the number of
rows, which are read from an iterator (a database cursor fetched in batches) — and sends that file in chunks."""
from __future__ import annotations

import io
import itertools
import re
import tempfile
from typing import Iterable, Iterator
from datetime import datetime

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_SHEET_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")


def workbook_bytes(title: str, headers: list[str], rows: list[list]) -> bytes:
    """An .xlsx file holding ``rows`` under ``headers``. Numbers stay numbers, datetimes (naive, local time)
    become dates; text is always text — never a formula, whatever it starts with."""
    wb = Workbook()
    ws = wb.active
    ws.title = (_SHEET_FORBIDDEN.sub(" ", title) or "Sheet")[:31]
    ws.append(headers)
    for cell in ws[1]:
        cell.font = Font(bold=True)
    widths = [len(str(h)) * 2 for h in headers]
    for values in rows:
        ws.append([_clean(v) for v in values])
        for index, value in enumerate(values):
            if index < len(widths):
                widths[index] = max(widths[index], len(str(value if value is not None else "")) * 2)
    for row in ws.iter_rows(min_row=2):
        for cell in row:
            if isinstance(cell.value, str):
                cell.data_type = "s"          # "=…" stays text: no formula injection from case data
            elif isinstance(cell.value, datetime):
                cell.number_format = "yyyy-mm-dd hh:mm"
            elif isinstance(cell.value, float):
                cell.number_format = "0.0"
    for index, width in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(index)].width = min(max(width, 8), 60)
    ws.freeze_panes = "A2"
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _clean(value):
    if isinstance(value, str):
        return ILLEGAL_CHARACTERS_RE.sub("", value)
    return value


WIDTH_SAMPLE = 200          # column widths are taken from the headers and the first rows


def workbook_stream(title: str, headers: list[str], rows: Iterable[list]) -> Iterator[bytes]:
    """The same workbook as ``workbook_bytes``, written row by row in write-only mode to a temporary file
    (flat memory), then yielded in 64 KiB chunks. The rows are all read before the first chunk."""
    wb = Workbook(write_only=True)
    ws = wb.create_sheet((_SHEET_FORBIDDEN.sub(" ", title) or "Sheet")[:31])
    rows = iter(rows)
    head = list(itertools.islice(rows, WIDTH_SAMPLE))
    widths = [len(str(h)) * 2 for h in headers]
    for values in head:
        for index, value in enumerate(values):
            if index < len(widths):
                widths[index] = max(widths[index], len(str(value if value is not None else "")) * 2)
    for index, width in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(index)].width = min(max(width, 8), 60)
    ws.freeze_panes = "A2"
    bold = Font(bold=True)

    def header_cell(value):
        cell = WriteOnlyCell(ws, value=_clean(value))
        cell.font = bold
        if isinstance(value, str):
            cell.data_type = "s"
        return cell

    ws.append([header_cell(h) for h in headers])
    for values in itertools.chain(head, rows):
        ws.append([_write_only(ws, v) for v in values])
    out = tempfile.TemporaryFile()
    wb.save(out)
    out.seek(0)

    def chunks():
        with out:
            while True:
                chunk = out.read(65536)
                if not chunk:
                    return
                yield chunk
    return chunks()


def _write_only(ws, value):
    """A plain value where openpyxl writes it right; a styled cell for dates, one-decimal numbers and text
    that would otherwise be taken for a formula."""
    if isinstance(value, str):
        value = ILLEGAL_CHARACTERS_RE.sub("", value)
        if value.startswith("="):
            cell = WriteOnlyCell(ws, value=value)
            cell.data_type = "s"          # "=…" stays text: no formula injection from case data
            return cell
        return value
    if isinstance(value, datetime):
        cell = WriteOnlyCell(ws, value=value)
        cell.number_format = "yyyy-mm-dd hh:mm"
        return cell
    if isinstance(value, float):
        cell = WriteOnlyCell(ws, value=value)
        cell.number_format = "0.0"
        return cell
    return value
