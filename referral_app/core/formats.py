"""How the API writes times and percentages: one definition each, used everywhere."""

from __future__ import annotations

from datetime import date, datetime


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
