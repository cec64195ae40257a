"""Participants (the seed's `referral_leads`): people who joined a program by double opt-in."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import utcnow

PENDING = "pending"
CONFIRMED = "confirmed"
UNSUBSCRIBED = "unsubscribed"


class ConsentText(db.Model):
    """The exact consent wording a person agreed to, kept per version (proof of consent)."""

    __tablename__ = "consent_texts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[str] = mapped_column(String(64), unique=True)
    language: Mapped[str] = mapped_column(String(5), default="de")
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Participant(db.Model):
    """A referrer. The address is stored encrypted (`email_encrypted`) and found by a keyed
    hash (`email_hash`); `alias_hash` is the keyed hash of the canonical form (Gmail dots,
    +tags removed) so near-identical addresses can be spotted."""

    __tablename__ = "referral_leads"
    __table_args__ = (
        UniqueConstraint("customer_id", "email_hash", name="uq_lead_customer_email"),
        Index("idx_lead_customer_status", "customer_id", "status", "id"),
        Index("idx_lead_customer_alias", "customer_id", "alias_hash"),
        Index("idx_lead_created", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    ref_code: Mapped[str] = mapped_column(String(16), unique=True)
    email_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    email_hash: Mapped[str] = mapped_column(String(64))
    alias_hash: Mapped[str] = mapped_column(String(64))
    name_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    language: Mapped[str] = mapped_column(String(5), default="de")
    referred_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("referral_leads.id", ondelete="SET NULL"), index=True
    )
    consent_text_id: Mapped[int | None] = mapped_column(ForeignKey("consent_texts.id"))
    consent_given_at: Mapped[datetime | None] = mapped_column(DateTime)
    consent_ip_hash: Mapped[str | None] = mapped_column(String(64))
    consent_page: Mapped[str | None] = mapped_column(String(500))
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime)
    unsubscribed_at: Mapped[datetime | None] = mapped_column(DateTime)
    confirm_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    confirm_token_expires_at: Mapped[datetime | None] = mapped_column(DateTime)
    confirmation_sent_at: Mapped[datetime | None] = mapped_column(DateTime)
    hub_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    clicks: Mapped[int] = mapped_column(Integer, default=0)
    unique_clicks: Mapped[int] = mapped_column(Integer, default=0)
    conversions: Mapped[int] = mapped_column(Integer, default=0)
    suspicious_conversions: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    consent_text: Mapped[ConsentText | None] = relationship()

    @property
    def referrals(self) -> int:
        """Referrals that count towards rewards: conversions not flagged suspicious."""
        return self.conversions - self.suspicious_conversions


class ParticipantDevice(db.Model):
    """A participant's own device fingerprint in one salt period (self-referral rule)."""

    __tablename__ = "participant_devices"

    participant_id: Mapped[int] = mapped_column(
        ForeignKey("referral_leads.id", ondelete="CASCADE"), primary_key=True
    )
    salt_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class RetiredLinkToken(db.Model):
    """The hash of a hub or confirmation token made under an older HASH_KEYS key, so a link
    mailed before `flask keys rehash` moved the participant's row to the newest key still
    opens (the row's own column holds the newest key's hash). `key_id` names the key
    (`crypto.key_id`): once that key is no longer in HASH_KEYS, the command deletes the row
    and the old link stops working."""

    __tablename__ = "retired_link_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    participant_id: Mapped[int] = mapped_column(
        ForeignKey("referral_leads.id", ondelete="CASCADE"), index=True
    )
    purpose: Mapped[str] = mapped_column(String(16))  # "hub" | "confirm"
    key_id: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
