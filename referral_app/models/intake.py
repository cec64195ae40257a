"""Sign-ups taken in but not yet processed (participants/intake.py)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, Integer, LargeBinary
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .base import utcnow


class SignupIntake(db.Model):
    """One register-lead request, answered before it is processed: the same row for a new
    and a known address (the answer's time cannot tell them apart). `payload` is encrypted
    (the address, name, page, consent version, ref and the visitor's hashes, never the raw
    IP or user agent); the row is deleted once processed, and after a day at the latest."""

    __tablename__ = "signup_intake"
    __table_args__ = (Index("idx_signup_intake_created", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime)
