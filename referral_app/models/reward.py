"""Reward milestones a customer sets, and the rewards participants earned."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .base import utcnow


class RewardMilestone(db.Model):
    """The seed's `referral_rewards`: reach `threshold` referrals, get `delivery`."""

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
    position: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


class RewardGrant(db.Model):
    """A milestone a participant reached: the ledger `stats rebuild` can recompute."""

    __tablename__ = "referral_reward_grants"
    __table_args__ = (
        UniqueConstraint("participant_id", "reward_id", name="uq_grant_participant_reward"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("referral_leads.id", ondelete="CASCADE"))
    reward_id: Mapped[int] = mapped_column(
        ForeignKey("referral_rewards.id", ondelete="CASCADE"), index=True
    )
    earned_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    mail_sent_at: Mapped[datetime | None] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)
