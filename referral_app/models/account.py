"""Customers (the businesses running a program), logins and API keys."""

from __future__ import annotations

from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import utcnow

ROLE_CUSTOMER = "customer"
ROLE_ADMIN = "admin"


class Customer(db.Model):
    """A business with one referral program (the seed's `customers` + its referral fields)."""

    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    company_name: Mapped[str] = mapped_column(String(200))
    contact_email: Mapped[str | None] = mapped_column(String(254))
    website: Mapped[str | None] = mapped_column(String(500))
    sender_name: Mapped[str | None] = mapped_column(String(200))
    imprint: Mapped[str | None] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(5), default="de")
    # Art. 13 DSGVO: where the customer's privacy notice is (shown wherever data is taken).
    privacy_url: Mapped[str | None] = mapped_column(String(500))
    # Host names whose pages may count conversions; empty: no check.
    allowed_domains: Mapped[list[str] | None] = mapped_column(JSON)
    accent_color: Mapped[str | None] = mapped_column(String(7))  # "#0b5cad"
    time_zone: Mapped[str] = mapped_column(
        String(64), default="Europe/Berlin", server_default="Europe/Berlin"
    )
    # The freebie the hosted pages give away: a file (CustomerFile kind "freebie") or a URL.
    freebie_title: Mapped[str | None] = mapped_column(String(200))
    freebie_description: Mapped[str | None] = mapped_column(Text)
    freebie_url: Mapped[str | None] = mapped_column(String(500))
    ref_code: Mapped[str] = mapped_column(String(32), unique=True)
    referral_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    suspended_at: Mapped[datetime | None] = mapped_column(DateTime)
    suspended_reason: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    users: Mapped[list[User]] = relationship(back_populates="customer")

    @property
    def program_active(self) -> bool:
        """Visitors may be tracked and sign up only while this is true."""
        return self.referral_enabled and self.suspended_at is None


class CustomerFile(db.Model):
    """A file the customer uploads, served by the app itself (no third party): the logo,
    the freebie. One per kind and customer."""

    __tablename__ = "customer_files"
    __table_args__ = (UniqueConstraint("customer_id", "kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))  # "logo" | "freebie"
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = mapped_column(LargeBinary().with_variant(mysql.LONGBLOB(), "mysql"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class User(UserMixin, db.Model):
    """A login: a customer's staff or a platform admin."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default=ROLE_CUSTOMER)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    locale: Mapped[str | None] = mapped_column(String(5))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime)
    # Part of every session's login id: raising it (logout, a new password) ends every
    # session issued before, on every device.
    session_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    customer: Mapped[Customer | None] = relationship(back_populates="users")

    def get_id(self) -> str:
        """Flask-Login's alternative id: "<id>:<session version>" (the user loader compares
        the version, so a session from before the last logout is refused)."""
        return f"{self.id}:{self.session_version or 0}"

    @property
    def is_admin(self) -> bool:
        return self.role == ROLE_ADMIN

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive users
        return self.active


class ApiKey(db.Model):
    """A bearer key: only its SHA-256 is stored; the key itself is shown once."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str | None] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)

    user: Mapped[User] = relationship()


class AuditEntry(db.Model):
    """Who did what in the admin area, and when (never personal data in `details`)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(50))
    target_type: Mapped[str | None] = mapped_column(String(50))
    target_id: Mapped[int | None] = mapped_column(Integer)
    details: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
