"""Starting and ending a login session, and the rotating remember-me cookie.

- A login starts a new session: everything in the old one goes, the CSRF secret included,
  so a token or cookie an attacker planted or read before the login is worth nothing after.
- The session's login id carries the user's session version (`User.get_id`); logging out
  raises it, which ends every session of the user on every device.
- "Stay logged in" sets our own cookie (REMEMBER_COOKIE_NAME, not Flask-Login's, which
  would carry the signed user id for a year) with a random token, stored as a hash and
  replaced on every use (`accounts.sessions`).
"""

from __future__ import annotations

from datetime import timedelta

from flask import current_app, g, request, session
from flask_login import login_user, logout_user

from ...accounts import sessions
from ...extensions import db
from ...models import User, utcnow
from ..public.cookieless import cookie_free_request
from .blueprint import bp

DEFAULT_COOKIE = "stay_logged_in"


def cookie_name() -> str:
    return current_app.config.get("REMEMBER_TOKEN_COOKIE_NAME") or DEFAULT_COOKIE


def _fresh_session() -> None:
    """A new session: nothing of the old one survives (the CSRF secret included; Flask-WTF
    also caches the signed token for this request in `g`)."""
    session.clear()
    g.pop("csrf_token", None)


def start_session(user: User, remember: bool) -> None:
    """Log `user` in on this browser in a brand-new session (the caller commits)."""
    old_token = request.cookies.get(cookie_name())
    _fresh_session()
    login_user(user, remember=False)
    user.last_login_at = utcnow()
    sessions.forget_remember_token(old_token)
    if remember:
        g.remember_token_set = sessions.issue_remember_token(user)
    elif old_token:
        g.remember_token_clear = True


def end_session(user: User | None) -> None:
    """Log out everywhere: the session version goes up (every copy of every session of the
    user stops working) and all remember-me tokens go. Commits."""
    if user is not None and getattr(user, "id", None):
        sessions.end_all_sessions(user)
        db.session.commit()
    logout_user()
    _fresh_session()
    g.remember_token_clear = True


def renew_after_password_change(user: User) -> None:
    """The password changed (every session ended): keep this browser logged in, in a new
    session, and with a new remember-me cookie when it had one. The caller commits."""
    had_cookie = bool(request.cookies.get(cookie_name()))
    _fresh_session()
    login_user(user, remember=False)
    if had_cookie:
        g.remember_token_set = sessions.issue_remember_token(user)


def can_set_cookies() -> bool:
    """Whether this answer may carry cookies (not on visitor pages, unmatched URLs or
    static files: the session interface strips them there, and a rotated token would be
    lost with them)."""
    return (
        not cookie_free_request()
        and request.url_rule is not None
        and (request.endpoint not in {"main.favicon", "main.api_docs", "static"})
    )


def user_from_remember_cookie() -> User | None:
    """Flask-Login's request loader, for a browser with no session: the user whose
    remember-me token the cookie holds, logged in with a new session and a new token."""
    raw = request.cookies.get(cookie_name())
    if not raw or not can_set_cookies():
        return None
    found = sessions.use_remember_token(raw)
    if found is None:
        g.remember_token_clear = True
        return None
    user, new_raw = found
    _fresh_session()
    login_user(user, remember=False, fresh=False)
    if new_raw:
        g.remember_token_set = new_raw
    return user


@bp.after_app_request
def write_remember_cookie(response):
    raw = g.pop("remember_token_set", None)
    config = current_app.config
    options = {
        "path": "/",
        "secure": bool(config.get("REMEMBER_COOKIE_SECURE")),
        "httponly": True,
        "samesite": config.get("REMEMBER_COOKIE_SAMESITE") or "Lax",
    }
    if raw:
        response.set_cookie(
            cookie_name(), raw, max_age=timedelta(days=sessions.remember_days()), **options
        )
    elif g.pop("remember_token_clear", False) and request.cookies.get(cookie_name()):
        response.delete_cookie(cookie_name(), **options)
    return response
