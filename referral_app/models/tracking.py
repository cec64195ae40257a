"""Raw tracking events (clicks, conversions), the rotating hash salts and the fraud log.

Visitor identity is only ever an HMAC keyed with HASH_KEY and salted with the salt of one
period (`HashSalt`); once an old salt is deleted its hashes cannot be linked to anything.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .base import BigId, utcnow

STATUS_TRACKED = "tracked"
STATUS_DUPLICATE = "duplicate"
STATUS_BLOCKED = "blocked"

FRAUD_TYPES = (
    "click_rate_limit",
    "ip_daily_limit",
    "conversion_rate_limit",
    "fast_conversion",
    "no_prior_click",
    "duplicate_fingerprint",
    "self_referral",
    "bot_user_agent",
    "disposable_email",
    "alias_email",
    "velocity",
    "foreign_site",
)


class HashSalt(db.Model):
    """One random salt per period (default: a UTC day); shared by every app server."""

    __tablename__ = "hash_salts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    period_start: Mapped[datetime] = mapped_column(DateTime, unique=True)
    salt: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Click(db.Model):
    """A click on a referral link. `first_in_period` is 1 for a counted click and NULL
    otherwise, so the unique key allows one counted click per visitor, code and salt period
    while duplicates and blocked clicks are still kept for the "why not counted" view."""

    __tablename__ = "referral_clicks"
    __table_args__ = (
        UniqueConstraint(
            "ref_code", "fingerprint", "salt_id", "first_in_period", name="uq_click_visitor_period"
        ),
        Index("idx_click_customer_date", "customer_id", "created_at"),
        Index("idx_click_ref_fingerprint", "ref_code", "fingerprint"),
        Index("idx_click_ip_hash", "ip_hash"),
        Index("idx_click_created", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    participant_id: Mapped[int | None] = mapped_column(
        ForeignKey("referral_leads.id", ondelete="SET NULL"), index=True
    )
    ref_code: Mapped[str] = mapped_column(String(32))
    salt_id: Mapped[int] = mapped_column(Integer)
    fingerprint: Mapped[str] = mapped_column(String(64))
    ip_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default=STATUS_TRACKED)
    reason: Mapped[str | None] = mapped_column(String(32))
    first_in_period: Mapped[bool | None] = mapped_column(Boolean)
    page: Mapped[str | None] = mapped_column(String(500))
    # Microseconds on MariaDB/MySQL too (their DATETIME keeps whole seconds): the
    # fast-conversion rule measures from this time, and a cut-off fraction is up to 1 s.
    created_at: Mapped[datetime] = mapped_column(
        DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql"), default=utcnow
    )


class Conversion(db.Model):
    """A visitor reaching the thank-you page. Counted conversions may still be `suspicious`
    (too fast, no prior click); suspicious ones never earn rewards."""

    __tablename__ = "referral_conversions"
    __table_args__ = (
        UniqueConstraint(
            "ref_code", "fingerprint", "salt_id", "first_in_period", name="uq_conv_visitor_period"
        ),
        Index("idx_conv_customer_date", "customer_id", "created_at"),
        Index("idx_conv_ref_fingerprint", "ref_code", "fingerprint"),
        Index("idx_conv_ip_hash", "ip_hash"),
        Index("idx_conv_created", "created_at"),
        Index("idx_conv_participant", "participant_id", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    participant_id: Mapped[int | None] = mapped_column(
        ForeignKey("referral_leads.id", ondelete="SET NULL")
    )
    click_id: Mapped[int | None] = mapped_column(BigId)
    ref_code: Mapped[str] = mapped_column(String(32))
    salt_id: Mapped[int] = mapped_column(Integer)
    fingerprint: Mapped[str] = mapped_column(String(64))
    ip_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default=STATUS_TRACKED)
    suspicious: Mapped[bool] = mapped_column(Boolean, default=False)
    reasons: Mapped[list[str] | None] = mapped_column(JSON)
    seconds_since_click: Mapped[float | None] = mapped_column(Float)
    first_in_period: Mapped[bool | None] = mapped_column(Boolean)
    page: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class FraudLogEntry(db.Model):
    """One fired fraud rule: its `type` (API.md list) and a `details` dict without personal data."""

    __tablename__ = "referral_fraud_log"
    __table_args__ = (
        Index("idx_fraud_customer_date", "customer_id", "created_at"),
        Index("idx_fraud_type_date", "type", "created_at"),
        Index("idx_fraud_created", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    participant_id: Mapped[int | None] = mapped_column(
        ForeignKey("referral_leads.id", ondelete="SET NULL")
    )
    ref_code: Mapped[str | None] = mapped_column(String(32))
    type: Mapped[str] = mapped_column(String(32))
    event: Mapped[str | None] = mapped_column(String(16))
    click_id: Mapped[int | None] = mapped_column(BigId)
    conversion_id: Mapped[int | None] = mapped_column(BigId)
    ip_hash: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime)
    reviewed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class RateCounter(db.Model):
    """Windowed counters for fraud rules when there is no Redis: shared by every worker."""

    __tablename__ = "rate_counters"

    key: Mapped[str] = mapped_column(String(190), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[datetime] = mapped_column(DateTime, index=True)
