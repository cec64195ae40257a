"""How Flask-Login finds the user: the session (while its session version is current), an
`Authorization: Bearer` API key, or the rotating remember-me cookie."""

from __future__ import annotations

from flask import g, request
from flask_babel import lazy_gettext as _l

from ..accounts import sessions
from ..accounts import users as accounts
from ..extensions import login_manager
from ..models import User
from .auth.login_session import user_from_remember_cookie

login_manager.login_view = "auth.login"
login_manager.login_message = _l("Please log in to see this page.")
login_manager.session_protection = "basic"


@login_manager.user_loader
def load_user(login_id: str) -> User | None:
    """The session's user, unless the session predates their last logout or password
    change (the version in the login id is then behind the user's)."""
    return sessions.user_for_session(login_id)


@login_manager.request_loader
def load_user_from_request(req) -> User | None:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        return user_from_remember_cookie()
    user = accounts.user_for_api_key(header[len("Bearer ") :].strip())
    if user is not None:
        g.auth_via_api_key = True
    return user
