"""Times as people read them: one format ("06.12.2026 14:05") in one named time zone.

Stored times are naive UTC. A customer sees them in the program's time zone
(`Customer.time_zone`, default Europe/Berlin); the platform's admins in `ADMIN_ZONE`. The
API keeps ISO-8601 in UTC (`formats.iso`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

ADMIN_ZONE = "Europe/Berlin"
DISPLAY_FORMAT = "%d.%m.%Y %H:%M"


def valid_zone(zone: str) -> str:
    """An IANA time zone name; ValueError for anything else."""
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        raise ValueError(zone) from exc
    return zone


def zone_or_default(zone: str | None) -> str:
    """`zone` when it is a time zone, else ADMIN_ZONE (a typo never breaks a page)."""
    try:
        return valid_zone(zone or ADMIN_ZONE)
    except ValueError:
        return ADMIN_ZONE


def parse_stored(value: datetime | str | None) -> datetime | None:
    """A stored time or an API time (ISO-8601, `Z`) as an aware UTC datetime."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value.removesuffix("Z"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def local(value: datetime | str, zone: str) -> datetime:
    """The moment in `zone`."""
    moment = parse_stored(value)
    if moment is None:
        raise ValueError("no time")
    return moment.astimezone(ZoneInfo(zone_or_default(zone)))


def display(value: datetime | str | None, zone: str) -> str:
    """ "06.12.2026 14:05" in `zone`; empty for no time."""
    if value is None or value == "":
        return ""
    return local(value, zone).strftime(DISPLAY_FORMAT)
