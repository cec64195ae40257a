"""Secrets that stand for a login: "remember me" tokens and password reset tokens. Only a
SHA-256 of each token is stored; the token itself lives in the browser or the mail."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .base import utcnow


class RememberToken(db.Model):
    """One browser that asked to stay logged in. Replaced by a new token on every use, so a
    copied cookie works at most once; all of a user's rows go on logout or a new password."""

    __tablename__ = "remember_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    # Set when a newer token took its place: still good for a few seconds (tabs that a
    # restarted browser reopens at once all send the old cookie), then refused.
    replaced_at: Mapped[datetime | None] = mapped_column(DateTime)


class PasswordResetToken(db.Model):
    """A link sent by mail to set a new password: single use, expires after
    PASSWORD_RESET_TOKEN_MINUTES."""

    __tablename__ = "password_reset_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    used_at: Mapped[datetime | None] = mapped_column(DateTime)
