"""CSV files that people open in a spreadsheet: one writer for every export.

- Two formats (`FORMATS`): `de`, what a German Excel opens by double-click (semicolon,
  UTF-8 byte order mark, decimal comma, times as "06.12.2026 14:05" in a named time zone),
  the default for German users; `plain`, for scripts (comma, decimal point, ISO-8601 times
  in UTC with a `Z`; the byte order mark only when asked for).
- Cells that a spreadsheet would run as a formula (= + - @ tab CR) are prefixed with a
  quote (OWASP "CSV injection").
- Streamed: rows are written as they come, in chunks, so a million rows never sit in memory.

Rows hand over plain values: a `datetime` (naive UTC, as stored) or a `float` is written
as the format says; text and whole numbers as they are.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from .localtime import ADMIN_ZONE, display, valid_zone

BOM = "\ufeff"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CHUNK_ROWS = 500


@dataclass(frozen=True)
class CsvFormat:
    """How cells are separated and written."""

    name: str
    delimiter: str
    bom: bool
    decimal_comma: bool
    zone: str | None  # None: ISO-8601 in UTC

    def in_zone(self, zone: str | None) -> CsvFormat:
        """The same format with times in `zone` (only formats that show local times)."""
        if self.zone is None or not zone:
            return self
        return replace(self, zone=valid_zone(zone))


GERMAN = CsvFormat("de", ";", True, True, ADMIN_ZONE)
PLAIN = CsvFormat("plain", ",", True, False, None)
FORMATS = {GERMAN.name: GERMAN, PLAIN.name: PLAIN}


def choose(name: str | None, *, zone: str | None = None, bom: bool | None = None) -> CsvFormat:
    """The format a request asks for (`de` when it names none); ValueError for an unknown
    name or zone. `bom=False` leaves the byte order mark out (for scripts)."""
    chosen = FORMATS.get((name or GERMAN.name).strip().lower())
    if chosen is None:
        raise ValueError(name)
    chosen = chosen.in_zone(zone)
    return chosen if bom is None else replace(chosen, bom=bom)


def format_cell(value: Any, fmt: CsvFormat) -> Any:
    if isinstance(value, datetime):
        if fmt.zone is None:
            return value.replace(microsecond=0, tzinfo=None).isoformat() + "Z"
        return display(value, fmt.zone)
    if isinstance(value, float) and fmt.decimal_comma:
        return repr(value).replace(".", ",")
    return value


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
    fmt: CsvFormat = PLAIN,
    bom: bool | None = None,
    delimiter: str | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> Iterator[str]:
    """The rows (header first) as CSV text in `fmt`, `chunk_rows` rows per chunk; `bom`
    and `delimiter` override the format's."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter or fmt.delimiter, lineterminator="\r\n")
    if fmt.bom if bom is None else bom:
        buffer.write(BOM)
    pending = 0
    for row in rows:
        writer.writerow([safe_cell(format_cell(cell, fmt)) for cell in row])
        pending += 1
        if pending == chunk_rows:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate(0)
            pending = 0
    if buffer.tell():
        yield buffer.getvalue()
