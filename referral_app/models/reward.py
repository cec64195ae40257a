"""Reward milestones a customer sets, the rewards participants earned, and the code bank.

A grant moves through `pending` (the hold period: the referrals behind it may still turn
out to be fraud) → `approved` (optional: the customer's manual approval) → `delivered`;
or to `revoked` (taken back: a referral behind it was flagged, or the customer rejected
it; `reason` says why). A later payout batch picks up delivered `cash` grants.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .base import utcnow

# What a milestone gives.
TEXT = "text"  # the `delivery` text (a link, a coupon, instructions), as before
CODE = "code"  # one single-use code from the milestone's code bank
DOWNLOAD = "download"  # a file the customer uploaded, behind a per-participant link
CASH = "cash"  # `amount_cents` EUR, paid out by a later payout batch
REWARD_KINDS = (TEXT, CODE, DOWNLOAD, CASH)

# Where a grant stands.
GRANT_PENDING = "pending"
GRANT_APPROVED = "approved"
GRANT_DELIVERED = "delivered"
GRANT_REVOKED = "revoked"
GRANT_STATUSES = (GRANT_PENDING, GRANT_APPROVED, GRANT_DELIVERED, GRANT_REVOKED)
# Why a grant was revoked: the customer said no, or its referrals no longer count.
REJECTED = "rejected"
CLAWBACK = "clawback"


class RewardMilestone(db.Model):
    """The seed's `referral_rewards`: reach `threshold` referrals, get the reward."""

    __tablename__ = "referral_rewards"
    __table_args__ = (
        UniqueConstraint("customer_id", "threshold", name="uq_reward_customer_threshold"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    threshold: Mapped[int] = mapped_column(Integer)
    tier: Mapped[str] = mapped_column(String(50))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    delivery: Mapped[str | None] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(16), default=TEXT, server_default=TEXT)
    amount_cents: Mapped[int | None] = mapped_column(Integer)
    # Rows made before holds existed deliver at once (as they did); the API's default is 14.
    hold_days: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    manual_approval: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Set when the low-stock mail went out; cleared when the bank is topped up again.
    low_stock_notified_at: Mapped[datetime | None] = mapped_column(DateTime)
    position: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


class RewardGrant(db.Model):
    """A milestone a participant reached: the ledger `stats rebuild` can recompute."""

    __tablename__ = "referral_reward_grants"
    __table_args__ = (
        UniqueConstraint("participant_id", "reward_id", name="uq_grant_participant_reward"),
        Index("idx_grant_status_due", "status", "due_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("referral_leads.id", ondelete="CASCADE"))
    reward_id: Mapped[int] = mapped_column(
        ForeignKey("referral_rewards.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(
        String(16), default=GRANT_DELIVERED, server_default=GRANT_DELIVERED
    )
    earned_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    due_at: Mapped[datetime | None] = mapped_column(DateTime)  # the hold ends
    approved_at: Mapped[datetime | None] = mapped_column(DateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime)
    mail_sent_at: Mapped[datetime | None] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)
    reason_code: Mapped[str | None] = mapped_column(String(16))  # rejected | clawback
    reason: Mapped[str | None] = mapped_column(String(500))  # shown to the participant


class RewardCode(db.Model):
    """One single-use code in a milestone's code bank. A grant takes one by setting
    `grant_id` in a conditional update; `used_at` stays when the grant is erased later,
    so a code is never handed out twice."""

    __tablename__ = "referral_reward_codes"
    __table_args__ = (
        UniqueConstraint("reward_id", "code", name="uq_reward_code"),
        Index("idx_reward_code_free", "reward_id", "used_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reward_id: Mapped[int] = mapped_column(ForeignKey("referral_rewards.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(200))
    grant_id: Mapped[int | None] = mapped_column(
        ForeignKey("referral_reward_grants.id", ondelete="SET NULL"), unique=True
    )
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column(DateTime)
