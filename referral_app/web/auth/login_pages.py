"""Login, logout and the language switch."""

from __future__ import annotations

import math

from flask import current_app, flash, redirect, request, session, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user, login_required

from ...accounts import login_throttle
from ...accounts import users as accounts
from ...extensions import db, limiter
from ..templating import render_page
from .blueprint import MAX_EMAIL, bp, safe_next
from .login_session import end_session, start_session


def _login_limit() -> str:
    return current_app.config["RATELIMIT_LOGIN"]


def _account_wait_message(seconds: int) -> str:
    minutes = max(1, math.ceil(seconds / 60))
    return ngettext(
        "Too many failed logins for this account. Please wait %(num)d minute and try "
        "again, or reset your password.",
        "Too many failed logins for this account. Please wait %(num)d minutes and try "
        "again, or reset your password.",
        minutes,
    )


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
        if wait := login_throttle.wait_seconds(email):
            return render_page(
                "auth/login.html", error=_account_wait_message(wait), email=email
            ), 429
        user = accounts.authenticate(email, password)
        if user is None:
            if wait := login_throttle.record_failure(email):
                error = _account_wait_message(wait)
            else:
                error = _("E-mail address or password is wrong.")
        else:
            login_throttle.clear(email)
            start_session(user, remember=bool(request.form.get("remember")))
            db.session.commit()
            return redirect(safe_next(request.args.get("next")) or url_for("main.index"))
    status = 401 if error else 200
    return render_page("auth/login.html", error=error, email=email), status


@bp.errorhandler(429)
def throttled(_exc):
    """Too many attempts from this address: the form again, saying so (not a bare error
    page)."""
    if request.endpoint in ("auth.forgot_password", "auth.reset_password"):
        message = _("Too many attempts. Please wait a few minutes and try again.")
        if request.endpoint == "auth.forgot_password":
            return render_page("auth/forgot.html", sent=False, error=message, email=""), 429
        token = (request.view_args or {}).get("token", "")
        page = render_page("auth/reset.html", state="valid", errors={}, token=token, error=message)
        return page, 429
    if request.endpoint == "auth.change_password":
        message = _("Too many attempts. Please wait a few minutes and try again.")
        return render_page("auth/password_change.html", errors={}, error=message), 429
    message = _("Too many login attempts. Please wait a few minutes and try again.")
    email = (request.form.get("email") or "").strip()
    if len(email) > MAX_EMAIL:
        email = ""
    return render_page("auth/login.html", error=message, email=email), 429


@bp.post("/logout")
@login_required
def logout():
    end_session(current_user._get_current_object())
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
