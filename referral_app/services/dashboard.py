"""What the customer dashboard and `get-stats` show: read from aggregates only."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from ..extensions import db
from ..models import Customer
from . import stats


def program_stats(customer_id: int) -> dict[str, Any]:
    """API.md `get-stats`: totals, last 30 days (today included) and the 7-day trend."""
    customer = db.session.get(Customer, customer_id)
    today = stats.today()
    last_30 = stats.window(customer_id, today - timedelta(days=29), today)
    this_week = stats.window(customer_id, today - timedelta(days=6), today)
    week_before = stats.window(customer_id, today - timedelta(days=13), today - timedelta(days=7))
    return {
        "customer_id": customer_id,
        "ref_code": customer.ref_code,
        "enabled": customer.program_active,
        "totals": stats.with_rate(stats.totals(customer_id)),
        "last_30_days": stats.with_rate(last_30),
        "trend_7d": {
            name: stats.trend(this_week[name], week_before[name])
            for name in ("clicks", "conversions", "leads")
        },
    }
