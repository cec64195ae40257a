"""Changing the password (logged in), and resetting a forgotten one by a mailed link."""

from __future__ import annotations

from flask import abort, current_app, flash, g, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from ...accounts import login_throttle, passwords
from ...core.errors import ValidationFailed
from ...core.queue import enqueue
from ...extensions import db, limiter
from ..templating import render_page
from .blueprint import MAX_EMAIL, bp
from .login_session import renew_after_password_change


def _change_limit() -> str:
    return current_app.config["RATELIMIT_LOGIN"]


def _reset_limit() -> str:
    return current_app.config["RATELIMIT_PASSWORD_RESET"]


def _token_limit() -> str:
    return current_app.config["RATELIMIT_TOKEN_ROUTES"]


# Pages with a password form or a secret link: no copy in any cache.
NO_STORE = {"Cache-Control": "no-store"}


@bp.route("/account/password", methods=["GET", "POST"])
@limiter.limit(_change_limit, methods=["POST"])
@login_required
def change_password():
    """For customers and admins alike. A new password ends every other session of the
    user; this browser stays logged in (in a new session)."""
    if g.get("auth_via_api_key"):
        abort(403)
    errors: dict[str, str] = {}
    if request.method == "POST":
        user = current_user._get_current_object()
        try:
            passwords.change_password(
                user,
                request.form.get("current_password") or "",
                request.form.get("new_password") or "",
                request.form.get("new_password_repeat") or "",
            )
        except ValidationFailed as exc:
            errors = exc.fields or {"new_password": exc.message}
        else:
            renew_after_password_change(user)
            db.session.commit()
            flash(_("Your password has been changed. Other devices are logged out."), "success")
            return redirect(url_for("auth.change_password"))
    status = 400 if errors else 200
    return render_page("auth/password_change.html", errors=errors), status, NO_STORE


@bp.route("/password/forgot", methods=["GET", "POST"])
@limiter.limit(_reset_limit, methods=["POST"])
def forgot_password():
    """Always the same answer, whether or not the address has a login (no enumeration).
    Per address at most PASSWORD_RESET_PER_ACCOUNT mails; per IP RATELIMIT_PASSWORD_RESET."""
    if request.method == "GET":
        return render_page("auth/forgot.html", sent=False, error=None, email="")
    email = (request.form.get("email") or "").strip()
    if not email or len(email) > MAX_EMAIL or "@" not in email:
        error = _("Please enter the e-mail address you log in with.")
        return render_page("auth/forgot.html", sent=False, error=error, email=""), 400
    issued = passwords.request_reset(email) if login_throttle.reset_mail_allowed(email) else None
    db.session.commit()
    if issued is not None:
        enqueue("jobs.mail.send_password_reset", *issued)
    return render_page("auth/forgot.html", sent=True, error=None, email="")


def _invalid_link(state: str):
    page = render_page("auth/reset.html", state=state, errors={}, token="")
    return page, 400, NO_STORE


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
@limiter.limit(_token_limit)
@limiter.limit(_reset_limit, methods=["POST"])
def reset_password(token: str):
    """The page the mailed link opens: choose a new password. A used, expired or unknown
    link says so and offers a new one."""
    user = passwords.reset_user(token)
    if user is None:
        return _invalid_link(passwords.token_state(token))
    errors: dict[str, str] = {}
    if request.method == "POST":
        try:
            passwords.complete_reset(
                token,
                request.form.get("new_password") or "",
                request.form.get("new_password_repeat") or "",
            )
        except ValidationFailed as exc:
            if exc.code.startswith("token_"):
                return _invalid_link(exc.code.removeprefix("token_"))
            errors = exc.fields or {"new_password": exc.message}
        else:
            flash(_("Your new password is set. Please log in with it."), "success")
            return redirect(url_for("auth.login"))
    status = 400 if errors else 200
    page = render_page("auth/reset.html", state="valid", errors=errors, token=token)
    return page, status, NO_STORE
