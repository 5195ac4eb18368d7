"""Lists as Excel workbooks (openpyxl): one sheet, a bold header row, the rows as shown on the page."""
from __future__ import annotations

import io
import re
from datetime import datetime

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
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
