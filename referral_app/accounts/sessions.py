"""What keeps a login alive, and what ends it: the per-user session version and the
rotating "remember me" tokens.

A session carries the user's `session_version` in its login id (`User.get_id`); raising
the version ends every session issued before it, on every device. A remember-me cookie
carries a random token of which only a SHA-256 is stored; each use replaces it, so a copied
cookie works at most once, and logging out or a new password deletes them all.
"""

from __future__ import annotations

from datetime import timedelta

from flask import current_app
from sqlalchemy import delete, select

from ..core import crypto
from ..extensions import db
from ..models import RememberToken, User, utcnow

# Tabs a restarted browser reopens at once all send the same cookie: the first rotates it,
# the others may still use it this long (they get no new token, and it cannot be renewed).
REPLACED_GRACE = timedelta(seconds=30)


def user_for_session(login_id: str) -> User | None:
    """The active user a session's login id ("<id>:<version>") names, if that version is
    still current; None for anything else (an id from before the last logout, a forgery)."""
    user_id, sep, version = (login_id or "").partition(":")
    if not sep or not user_id.isdigit() or not version.isdigit():
        return None
    user = db.session.get(User, int(user_id))
    if user is None or not user.active or (user.session_version or 0) != int(version):
        return None
    return user


def remember_days() -> int:
    return int(current_app.config.get("REMEMBER_COOKIE_DAYS", 30))


def issue_remember_token(user: User) -> str:
    """A new remember-me token for one browser (the caller commits). Returns the raw
    token for the cookie; the user's expired rows are cleared on the way."""
    now = utcnow()
    db.session.execute(
        delete(RememberToken).where(
            RememberToken.user_id == user.id, RememberToken.expires_at < now
        )
    )
    raw = crypto.new_token(32)
    db.session.add(
        RememberToken(
            user_id=user.id,
            token_hash=crypto.token_hash(raw),
            created_at=now,
            expires_at=now + timedelta(days=remember_days()),
        )
    )
    return raw


def use_remember_token(raw: str) -> tuple[User, str | None] | None:
    """Log in by a remember-me cookie. Returns the user and the token that replaces the
    used one (None within the grace of a just-replaced token), or None when the token is
    unknown, expired, replaced too long ago or its user is inactive. Commits."""
    if not raw or len(raw) > 200:
        return None
    now = utcnow()
    row = db.session.scalar(
        select(RememberToken).where(RememberToken.token_hash == crypto.token_hash(raw))
    )
    if row is None or row.expires_at <= now:
        return None
    user = db.session.get(User, row.user_id)
    if user is None or not user.active:
        return None
    if row.replaced_at is not None:
        return (user, None) if now - row.replaced_at <= REPLACED_GRACE else None
    row.replaced_at = now
    row.expires_at = min(row.expires_at, now + REPLACED_GRACE)
    new_raw = issue_remember_token(user)
    db.session.commit()
    return user, new_raw


def forget_remember_token(raw: str | None) -> None:
    """This browser's token goes (the caller commits)."""
    if raw and len(raw) <= 200:
        db.session.execute(
            delete(RememberToken).where(RememberToken.token_hash == crypto.token_hash(raw))
        )


def end_all_sessions(user: User) -> None:
    """Every session and remember-me cookie of `user` stops working, on every device (the
    caller commits; a view that keeps the current browser logged in starts a new session)."""
    user.session_version = (user.session_version or 0) + 1
    db.session.execute(delete(RememberToken).where(RememberToken.user_id == user.id))
