"""The admin's overview of every program: totals, top performers, fraud counts, the daily series.

Numbers come from the aggregates (`referral_stats`, `referral_daily_stats`); the raw event
tables are read only where no aggregate exists (duplicate IPs), bounded by an index or a
time window, and cached per process for a polling panel. With a read replica they read there.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

from sqlalchemy import and_, case, func, select
from sqlalchemy.sql.elements import ColumnElement

from ..core import readonly
from ..core.cache import app_cache, ttl_setting
from ..core.formats import percent
from ..models import (
    COUNTERS,
    Click,
    Customer,
    CustomerStats,
    DailyStats,
    FraudLogEntry,
    utcnow,
)
from ..tracking import stats

# Fraud-log types that mean "a rate limit held this back" (overview: rate_limit_blocks).
RATE_LIMIT_TYPES = ("click_rate_limit", "ip_daily_limit", "conversion_rate_limit")
DUPLICATE_IP_HOURS = 24
TOP_PERFORMERS = 5

T = TypeVar("T")


def _cached(name: str, compute: Callable[[], T]) -> T:
    """Counts over raw tables for a panel that polls every 10 s: computed at most once per
    `ADMIN_OVERVIEW_CACHE_SECONDS` (default 60, the seed's response cache) per process."""
    ttl = ttl_setting("ADMIN_OVERVIEW_CACHE_SECONDS", 60)
    return app_cache("admin_overview", maxsize=64).get_or_compute(name, ttl, compute)


def _active_condition() -> ColumnElement[bool]:
    return and_(Customer.referral_enabled.is_(True), Customer.suspended_at.is_(None))


def overview() -> dict[str, Any]:
    """API.md `get-overview`. Totals are sums of the per-customer aggregates, so they equal
    the sum over customers by construction; `avg_conversion_rate` is all conversions over
    all unique clicks (a weighted average, not the mean of the programs' rates)."""
    reader = readonly.session()
    sums = reader.execute(
        select(*[func.coalesce(func.sum(getattr(CustomerStats, n)), 0) for n in COUNTERS])
    ).one()
    totals = {name: int(value) for name, value in zip(COUNTERS, sums, strict=True)}
    customers, programs_active, suspended = reader.execute(
        select(
            func.count(Customer.id),
            func.coalesce(func.sum(case((_active_condition(), 1), else_=0)), 0),
            func.coalesce(func.sum(case((Customer.suspended_at.is_not(None), 1), else_=0)), 0),
        )
    ).one()
    fraud_counts = _cached("fraud_counts", _fraud_counts)
    return {
        "programs_active": int(programs_active),
        "customers": int(customers),
        "suspended": int(suspended),
        "clicks": totals["clicks"],
        "unique_clicks": totals["unique_clicks"],
        "conversions": totals["conversions"],
        "leads": totals["leads"],
        "confirmed_leads": totals["confirmed_leads"],
        "avg_conversion_rate": percent(totals["conversions"], totals["unique_clicks"]),
        "top_performers": top_performers(),
        "fraud": {
            "suspicious_conversions": totals["suspicious_conversions"],
            "suspicious_rate": percent(totals["suspicious_conversions"], totals["conversions"]),
            "rate_limit_blocks": fraud_counts["rate_limit_blocks"],
            "duplicate_ips": fraud_counts["duplicate_ips"],
            "duplicate_ips_hours": DUPLICATE_IP_HOURS,
            "blocked_clicks": totals["blocked_clicks"],
            "blocked_conversions": totals["blocked_conversions"],
            "unreviewed": fraud_counts["unreviewed"],
        },
    }


def top_performers(limit: int = TOP_PERFORMERS) -> list[dict[str, Any]]:
    """The programs with the most counted conversions (ties: the older customer first)."""
    reader = readonly.session()
    rows = reader.execute(
        select(
            Customer.id,
            Customer.company_name,
            CustomerStats.conversions,
            CustomerStats.unique_clicks,
        )
        .join(CustomerStats, CustomerStats.customer_id == Customer.id)
        .where(CustomerStats.conversions > 0)
        .order_by(CustomerStats.conversions.desc(), Customer.id)
        .limit(limit)
    ).all()
    return [
        {
            "customer_id": customer_id,
            "company_name": name,
            "conversions": int(conversions),
            "conversion_rate": percent(int(conversions), int(unique)),
        }
        for customer_id, name, conversions, unique in rows
    ]


def _fraud_counts() -> dict[str, int]:
    """rate_limit_blocks: fraud-log entries of the rate-limit types (all stored; the monthly
    cleanup bounds them). duplicate_ips: IP hashes that clicked with more than one visitor
    fingerprint in the last 24 hours, the horizon of the 24-hour rules (a shared office or
    household is a signal, not a verdict). IP hashes are salted per day, so a longer window
    would only add up separate days; the 24 hours keep the scan to one day's clicks. They are
    also keyed per program, so an IP counts once per program it had several devices in."""
    since = utcnow() - timedelta(hours=DUPLICATE_IP_HOURS)
    reader = readonly.session()
    rate_limit_blocks = reader.scalar(
        select(func.count(FraudLogEntry.id)).where(FraudLogEntry.type.in_(RATE_LIMIT_TYPES))
    )
    shared = (
        select(Click.ip_hash)
        # Read only the day's rows, by time; MariaDB would otherwise walk the ip_hash index
        # (its grouping order) through the whole table.
        .with_hint(Click, "FORCE INDEX (idx_click_created)", "mysql")
        .with_hint(Click, "FORCE INDEX (idx_click_created)", "mariadb")
        .where(Click.created_at >= since)
        .group_by(Click.ip_hash)
        .having(func.min(Click.fingerprint) != func.max(Click.fingerprint))
        .subquery()
    )
    duplicate_ips = reader.scalar(select(func.count()).select_from(shared))
    unreviewed = reader.scalar(
        select(func.count(FraudLogEntry.id)).where(FraudLogEntry.reviewed_at.is_(None))
    )
    return {
        "rate_limit_blocks": int(rate_limit_blocks or 0),
        "duplicate_ips": int(duplicate_ips or 0),
        "unreviewed": int(unreviewed or 0),
    }


def overall_daily_series(days: int = 30) -> list[dict[str, Any]]:
    """Every program's daily rollup summed per day, zeros included, oldest first."""
    last = stats.today()
    first = last - timedelta(days=days - 1)
    columns = [func.sum(getattr(DailyStats, name)) for name in COUNTERS]
    reader = readonly.session()
    rows = reader.execute(
        select(DailyStats.day, *columns)
        .where(DailyStats.day >= first, DailyStats.day <= last)
        .group_by(DailyStats.day)
    ).all()
    by_day = {row[0]: row[1:] for row in rows}
    series = []
    for offset in range(days):
        day = first + timedelta(days=offset)
        values = by_day.get(day)
        entry: dict[str, Any] = {"date": day.isoformat()}
        for index, name in enumerate(COUNTERS):
            entry[name] = int(values[index] or 0) if values else 0
        series.append(entry)
    return series
