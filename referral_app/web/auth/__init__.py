"""Login, logout and the language switch."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from ...accounts import users as accounts
from ...extensions import db, limiter
from ...models import utcnow
from ..templating import render_page

MAX_EMAIL = 254  # RFC 5321: no longer address exists

bp = Blueprint("auth", __name__)


def safe_next(target: str | None) -> str | None:
    """Only a local path: `//evil.example` or `https://…` would be an open redirect."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    # Browsers drop tabs and line breaks in URLs ("/\t/evil.example" is "//evil.example").
    if "\\" in target or any(ord(ch) < 32 or ord(ch) == 127 for ch in target):
        return None
    return target


def _login_limit() -> str:
    return current_app.config["RATELIMIT_LOGIN"]


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("main.index"))
    error = None
    email = ""
    if request.method == "POST":
        email = (request.form.get("email") or "").strip()
        password = request.form.get("password") or ""
        if len(email) > MAX_EMAIL:
            email = ""
            error = _("The e-mail address is too long (at most %(n)d characters).", n=MAX_EMAIL)
            return render_page("auth/login.html", error=error, email=email), 400
        user = accounts.authenticate(email, password)
        if user is None:
            error = _("E-mail address or password is wrong.")
        else:
            login_user(user, remember=bool(request.form.get("remember")))
            user.last_login_at = utcnow()
            db.session.commit()
            session.pop("lang", None)
            return redirect(safe_next(request.args.get("next")) or url_for("main.index"))
    status = 401 if error else 200
    return render_page("auth/login.html", error=error, email=email), status


@bp.errorhandler(429)
def login_throttled(_exc):
    """Too many attempts: the login form again, saying so (not a bare error page)."""
    message = _("Too many login attempts. Please wait a few minutes and try again.")
    email = (request.form.get("email") or "").strip()
    if len(email) > MAX_EMAIL:
        email = ""
    return render_page("auth/login.html", error=message, email=email), 429


@bp.post("/logout")
@login_required
def logout():
    logout_user()
    flash(_("You are logged out."), "info")
    return redirect(url_for("auth.login"))


@bp.post("/language")
def set_language():
    """Remember the language choice: on the user when logged in, in the session otherwise."""
    lang = request.form.get("lang", "")
    if lang in current_app.config["LANGUAGES"]:
        session["lang"] = lang
        if current_user.is_authenticated:
            current_user.locale = lang
            db.session.commit()
    return redirect(safe_next(request.form.get("next")) or url_for("main.index"))
