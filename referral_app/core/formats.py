"""How the API writes times and percentages: one definition each, used everywhere."""

from __future__ import annotations

from datetime import UTC, date, datetime

# Dates a client may send: bounded, so no date arithmetic overflows (9999-12-31 + 1 day).
EARLIEST = date(2000, 1, 1)
LATEST = date(2100, 12, 31)


def iso(value: datetime | date | None) -> str | None:
    """ISO-8601 as the API answers it: times in UTC with a `Z` (stored times are naive UTC),
    whole seconds; days plain (`2026-12-06`); None stays None."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.replace(microsecond=0).isoformat() + "Z"
    return value.isoformat()


def percent(part: int | float, whole: int | float) -> float:
    """`part` as a percentage of `whole`, one decimal; 0 when there is no whole. The
    conversion rate (API.md) is `percent(conversions, unique_clicks)`."""
    return round(part / whole * 100, 1) if whole else 0.0


def parse_date(text: str, *, times: bool = False) -> date | datetime:
    """`YYYY-MM-DD`, or with `times` also an ISO-8601 time (Z or an offset; naive UTC
    returned), between EARLIEST and LATEST. ValueError otherwise."""
    text = text.strip()
    if len(text) == 10:
        value: date | datetime = date.fromisoformat(text)
        day = value
    elif times and len(text) > 10:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
        day = value.date()
    else:
        raise ValueError(text)
    if not EARLIEST <= day <= LATEST:
        raise ValueError(text)
    if isinstance(value, datetime) and value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value
