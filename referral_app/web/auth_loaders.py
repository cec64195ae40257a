"""How Flask-Login finds the user: the session, or an `Authorization: Bearer` API key."""

from __future__ import annotations

from flask import g, request
from flask_babel import lazy_gettext as _l

from ..accounts import users as accounts
from ..extensions import db, login_manager
from ..models import User

login_manager.login_view = "auth.login"
login_manager.login_message = _l("Please log in to see this page.")
login_manager.session_protection = "basic"


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    try:
        return db.session.get(User, int(user_id))
    except (TypeError, ValueError):
        return None


@login_manager.request_loader
def load_user_from_request(req) -> User | None:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        return None
    user = accounts.user_for_api_key(header[len("Bearer ") :].strip())
    if user is not None:
        g.auth_via_api_key = True
    return user
