"""CSV files that people open in a spreadsheet: one writer for every export.

- A UTF-8 byte order mark first (unless asked not to), so Excel reads umlauts right.
- Cells that a spreadsheet would run as a formula (= + - @ tab CR) are prefixed with a
  quote (OWASP "CSV injection").
- Streamed: rows are written as they come, in chunks, so a million rows never sit in memory.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from typing import Any

BOM = "\ufeff"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CHUNK_ROWS = 500


def safe_cell(value: Any) -> Any:
    """The cell as written: text a spreadsheet would run as a formula is quoted; None is
    empty; numbers stay numbers."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def stream(
    rows: Iterable[Iterable[Any]],
    *,
    bom: bool = True,
    delimiter: str = ",",
    chunk_rows: int = CHUNK_ROWS,
) -> Iterator[str]:
    """The rows (header first) as CSV text, `chunk_rows` rows per chunk."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    if bom:
        buffer.write(BOM)
    pending = 0
    for row in rows:
        writer.writerow([safe_cell(cell) for cell in row])
        pending += 1
        if pending == chunk_rows:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate(0)
            pending = 0
    if buffer.tell():
        yield buffer.getvalue()
