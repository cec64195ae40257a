"""Changing a password, and resetting a forgotten one by a link sent by mail.

A reset link holds a random token of which only a SHA-256 is stored; it works once and for
PASSWORD_RESET_TOKEN_MINUTES (60 by default). A new password ends every other session of
the user (`sessions.end_all_sessions`) and clears the login throttle."""

from __future__ import annotations

from datetime import timedelta

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update
from werkzeug.security import check_password_hash

from ..core import crypto
from ..core.errors import ValidationFailed
from ..extensions import db
from ..models import PasswordResetToken, User, utcnow
from . import login_throttle, sessions
from . import users as accounts

MIN_NEW_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1000

VALID = "valid"
USED = "used"
EXPIRED = "expired"
UNKNOWN = "unknown"


def _invalid(field: str, message) -> ValidationFailed:
    return ValidationFailed(str(message), code="invalid_password", fields={field: str(message)})


def check_new_password(user: User, password: str, repeated: str) -> None:
    """The rules for a password a user chooses: at least 10 characters, not the e-mail
    address, typed the same twice. Raises ValidationFailed naming the field."""
    password = password or ""
    if len(password) < MIN_NEW_PASSWORD_LENGTH:
        raise _invalid(
            "new_password",
            _l("The new password must have at least %(n)d characters.", n=MIN_NEW_PASSWORD_LENGTH),
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise _invalid(
            "new_password",
            _l("The new password is too long (at most %(n)d characters).", n=MAX_PASSWORD_LENGTH),
        )
    if password.strip().lower() == (user.email or "").strip().lower():
        raise _invalid("new_password", _l("The new password must not be your e-mail address."))
    if password != (repeated or ""):
        raise _invalid("new_password_repeat", _l("The two new passwords are not the same."))


def change_password(user: User, current: str, new: str, repeated: str) -> None:
    """Set a new password after checking the current one. Ends the user's other sessions;
    the caller starts a new one for this browser. Commits."""
    if not check_password_hash(user.password_hash, current or ""):
        raise _invalid("current_password", _l("The current password is wrong."))
    check_new_password(user, new, repeated)
    _set(user, new)
    db.session.commit()


def _set(user: User, password: str) -> None:
    accounts.set_password(user, password)
    sessions.end_all_sessions(user)
    login_throttle.clear(user.email)


def token_minutes() -> int:
    return int(current_app.config.get("PASSWORD_RESET_TOKEN_MINUTES", 60))


def request_reset(email: str) -> tuple[int, str] | None:
    """A reset token for the active user with this login address: (row id, raw token), or
    None when there is no such user. The caller commits and sends the mail. A new token
    makes the user's earlier ones unusable (only the latest mail works)."""
    try:
        address = accounts.normalise_login_email(email or "")
    except ValidationFailed:
        address = (email or "").strip().lower()
    raw = crypto.new_token(32)
    digest = crypto.token_hash(raw)  # the same work whether or not the address is known
    user = db.session.scalar(select(User).where(User.email == address))
    if user is None or not user.active:
        return None
    now = utcnow()
    _retire_tokens(user.id, now)
    row = PasswordResetToken(
        user_id=user.id,
        token_hash=digest,
        created_at=now,
        expires_at=now + timedelta(minutes=token_minutes()),
    )
    db.session.add(row)
    db.session.flush()
    return row.id, raw


def _retire_tokens(user_id: int, now) -> None:
    db.session.execute(
        update(PasswordResetToken)
        .where(PasswordResetToken.user_id == user_id, PasswordResetToken.used_at.is_(None))
        .values(used_at=now)
    )


def _token_row(raw: str) -> PasswordResetToken | None:
    if not raw or len(raw) > 200:
        return None
    return db.session.scalar(
        select(PasswordResetToken).where(PasswordResetToken.token_hash == crypto.token_hash(raw))
    )


def token_state(raw: str) -> str:
    """`valid`, `used`, `expired` or `unknown`: what the reset page says."""
    row = _token_row(raw)
    if row is None:
        return UNKNOWN
    if row.used_at is not None:
        return USED
    if row.expires_at <= utcnow():
        return EXPIRED
    user = db.session.get(User, row.user_id)
    return VALID if user is not None and user.active else UNKNOWN


def reset_user(raw: str) -> User | None:
    """The user a valid token belongs to (the page checks the new password against it)."""
    if token_state(raw) != VALID:
        return None
    row = _token_row(raw)
    return db.session.get(User, row.user_id) if row else None


def complete_reset(raw: str, new: str, repeated: str) -> User:
    """Set the new password by a valid token, which is then used up (and so are the
    user's other open tokens). Ends every session of the user. Commits.
    Raises ValidationFailed (code `invalid_token`) when the token is no longer valid."""
    state = token_state(raw)
    if state != VALID:
        raise ValidationFailed("This link is no longer valid.", code=f"token_{state}")
    row = _token_row(raw)
    user = db.session.get(User, row.user_id)
    check_new_password(user, new, repeated)
    now = utcnow()
    claimed = db.session.execute(
        update(PasswordResetToken)
        .where(PasswordResetToken.id == row.id, PasswordResetToken.used_at.is_(None))
        .values(used_at=now)
    ).rowcount
    if not claimed:  # the same link sent twice at once: only one of them sets the password
        db.session.rollback()
        raise ValidationFailed("This link is no longer valid.", code=f"token_{USED}")
    _retire_tokens(user.id, now)
    _set(user, new)
    db.session.commit()
    return user


def pending_reset(token_id: int, raw: str) -> tuple[User, PasswordResetToken] | None:
    """For the mail job: the user and token row when `raw` is still the valid token of
    row `token_id`; None otherwise (used, expired, replaced: no mail any more)."""
    row = db.session.get(PasswordResetToken, token_id)
    if row is None or row.token_hash != crypto.token_hash(raw or ""):
        return None
    if row.used_at is not None or row.expires_at <= utcnow():
        return None
    user = db.session.get(User, row.user_id)
    if user is None or not user.active:
        return None
    return user, row
