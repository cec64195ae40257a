"""Statistics in O(1) per event, and the recount that proves them.

Every counted event calls `record` in the transaction of its own insert: the customer's
totals and today's rollup row go up by one (`UPDATE … SET n = n + 1`, an upsert on first use).
Dashboards read only these aggregates. `rebuild` recomputes them from the raw events.

Raw rows that are deleted on purpose (events past retention, erased or expired participants)
leave their counts in the archive (`ArchivedCounts`, via `archive`), and the recount adds
the archive: aggregates = live raw rows + archive, exactly, before and after any deletion."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..core import readonly
from ..core.formats import percent
from ..core.sqlutil import upsert_increment
from ..models import (
    COUNTERS,
    PUBLIC_COUNTERS,
    ArchivedCounts,
    CustomerStats,
    DailyStats,
    Participant,
    utcnow,
)

PARTICIPANT_COUNTERS = ("clicks", "unique_clicks", "conversions", "suspicious_conversions")


def record(session: Session, customer_id: int, day: date, **increments: int) -> None:
    """Add `increments` (counter name → n) to the customer's totals and to `day`'s rollup."""
    increments = {name: n for name, n in increments.items() if n}
    if not increments:
        return
    unknown = set(increments) - set(COUNTERS)
    if unknown:
        raise ValueError(f"unknown counters: {sorted(unknown)}")
    upsert_increment(session, CustomerStats.__table__, {"customer_id": customer_id}, increments)
    upsert_increment(
        session, DailyStats.__table__, {"customer_id": customer_id, "day": day}, increments
    )


def archive(
    session: Session, customer_id: int, day: date, participant_id: int = 0, **increments: int
) -> None:
    """Keep the counts of raw rows about to be deleted (in the deleting transaction), so the
    recount still adds up to the aggregates. `participant_id` 0: not a participant's."""
    increments = {name: n for name, n in increments.items() if n}
    if not increments:
        return
    unknown = set(increments) - set(COUNTERS)
    if unknown:
        raise ValueError(f"unknown counters: {sorted(unknown)}")
    upsert_increment(
        session,
        ArchivedCounts.__table__,
        {"customer_id": customer_id, "day": day, "participant_id": participant_id},
        increments,
    )


def record_participant(session: Session, participant_id: int, **increments: int) -> None:
    """The participant's own counters (referrals towards rewards), in the same transaction."""
    increments = {name: n for name, n in increments.items() if n}
    if not increments:
        return
    table = Participant.__table__
    session.execute(
        table.update()
        .where(table.c.id == participant_id)
        .values({name: table.c[name] + n for name, n in increments.items()})
    )


def with_rate(counters: dict[str, int]) -> dict[str, Any]:
    """The API's S object: the public counters plus the conversion rate."""
    result: dict[str, Any] = {name: int(counters.get(name) or 0) for name in PUBLIC_COUNTERS}
    result["conversion_rate"] = percent(result["conversions"], result["unique_clicks"])
    return result


def totals(customer_id: int) -> dict[str, int]:
    """The customer's totals row, for dashboards: from the read replica when there is one."""
    row = readonly.session().get(CustomerStats, customer_id)
    return {name: (getattr(row, name) if row else 0) for name in COUNTERS}


def window(customer_id: int, first: date, last: date) -> dict[str, int]:
    """Sums of the daily rollup over [first, last] (dashboards: the read replica's)."""
    columns = [func.coalesce(func.sum(getattr(DailyStats, name)), 0) for name in COUNTERS]
    reader = readonly.session()
    row = reader.execute(
        select(*columns).where(
            DailyStats.customer_id == customer_id, DailyStats.day >= first, DailyStats.day <= last
        )
    ).one()
    return {name: int(value) for name, value in zip(COUNTERS, row, strict=True)}


def daily_series(customer_id: int, first: date, last: date) -> list[dict[str, Any]]:
    """One entry per day in [first, last], zeros included, oldest first (dashboards: the
    read replica's)."""
    reader = readonly.session()
    rows = reader.scalars(
        select(DailyStats).where(
            DailyStats.customer_id == customer_id, DailyStats.day >= first, DailyStats.day <= last
        )
    ).all()
    by_day = {row.day: row for row in rows}
    series = []
    day = first
    while day <= last:
        row = by_day.get(day)
        entry: dict[str, Any] = {"date": day.isoformat()}
        for name in COUNTERS:
            entry[name] = getattr(row, name) if row else 0
        series.append(entry)
        day += timedelta(days=1)
    return series


def trend(current: int, previous: int) -> float | None:
    """Percent change of the last 7 days against the 7 before; None when the base is 0."""
    if not previous:
        return None
    return round((current - previous) / previous * 100, 1)


def today() -> date:
    return utcnow().date()
