"""Aggregates: per-customer totals and a daily rollup, incremented with each event."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, DateTime, ForeignKey, Integer
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .base import utcnow

# The counters both tables share; `stats rebuild` recomputes exactly these.
COUNTERS = (
    "clicks",
    "unique_clicks",
    "blocked_clicks",
    "conversions",
    "suspicious_conversions",
    "blocked_conversions",
    "leads",
    "confirmed_leads",
)
# The counters the API shows (its S object, daily-stats' days): the blocked ones are internal.
PUBLIC_COUNTERS = (
    "clicks",
    "unique_clicks",
    "conversions",
    "suspicious_conversions",
    "leads",
    "confirmed_leads",
)
# The counters with a 7-day trend (get-stats `trend_7d`) and a line in the charts.
TREND_COUNTERS = ("clicks", "conversions", "leads")


class CustomerStats(db.Model):
    """The seed's `referral_stats`: running totals per customer."""

    __tablename__ = "referral_stats"

    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True
    )
    clicks: Mapped[int] = mapped_column(Integer, default=0)
    unique_clicks: Mapped[int] = mapped_column(Integer, default=0)
    blocked_clicks: Mapped[int] = mapped_column(Integer, default=0)
    conversions: Mapped[int] = mapped_column(Integer, default=0)
    suspicious_conversions: Mapped[int] = mapped_column(Integer, default=0)
    blocked_conversions: Mapped[int] = mapped_column(Integer, default=0)
    leads: Mapped[int] = mapped_column(Integer, default=0)
    confirmed_leads: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


class DailyStats(db.Model):
    """One row per customer and UTC day: 30-day windows, 7-day trends and charts."""

    __tablename__ = "referral_daily_stats"

    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    clicks: Mapped[int] = mapped_column(Integer, default=0)
    unique_clicks: Mapped[int] = mapped_column(Integer, default=0)
    blocked_clicks: Mapped[int] = mapped_column(Integer, default=0)
    conversions: Mapped[int] = mapped_column(Integer, default=0)
    suspicious_conversions: Mapped[int] = mapped_column(Integer, default=0)
    blocked_conversions: Mapped[int] = mapped_column(Integer, default=0)
    leads: Mapped[int] = mapped_column(Integer, default=0)
    confirmed_leads: Mapped[int] = mapped_column(Integer, default=0)


class ArchivedCounts(db.Model):
    """Counts of raw rows that are gone: events deleted after the retention period, and
    participants deleted (erasure, expired sign-ups). `stats rebuild` adds these to its
    recount, so the aggregates stay provable after a deletion. `participant_id` 0 means
    "not one participant's" (a deleted participant's own counts need no archive)."""

    __tablename__ = "referral_stats_archive"

    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    participant_id: Mapped[int] = mapped_column(
        Integer, primary_key=True, autoincrement=False, default=0
    )
    clicks: Mapped[int] = mapped_column(Integer, default=0)
    unique_clicks: Mapped[int] = mapped_column(Integer, default=0)
    blocked_clicks: Mapped[int] = mapped_column(Integer, default=0)
    conversions: Mapped[int] = mapped_column(Integer, default=0)
    suspicious_conversions: Mapped[int] = mapped_column(Integer, default=0)
    blocked_conversions: Mapped[int] = mapped_column(Integer, default=0)
    leads: Mapped[int] = mapped_column(Integer, default=0)
    confirmed_leads: Mapped[int] = mapped_column(Integer, default=0)
