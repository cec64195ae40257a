"""Access guards, attached once per blueprint in `before_request` (never per view)."""

from __future__ import annotations

from flask import Blueprint, abort, g, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ..extensions import csrf
from ..models import ROLE_ADMIN, ROLE_CUSTOMER

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def _api_error(status: int, code: str, message: str):
    response = jsonify({"ok": False, "error": code, "message": message})
    response.status_code = status
    return response


def guard_api(bp: Blueprint, role: str) -> None:
    """JSON API: a session user (with CSRF on writes) or a Bearer key; 401 / 403 as JSON."""

    @bp.before_request
    def _check():
        bearer = request.headers.get("Authorization", "").startswith("Bearer ")
        if not current_user.is_authenticated or (bearer and not g.get("auth_via_api_key")):
            return _api_error(401, "unauthorized", _("Log in or send a valid API key."))
        if not _has_role(role):
            return _api_error(403, "forbidden", _("You are not allowed to do this."))
        if request.method not in SAFE_METHODS and not g.get("auth_via_api_key"):
            csrf.protect()
        return None


def guard_pages(bp: Blueprint, role: str, anonymous_status: int = 302) -> None:
    """HTML pages: the wrong role gets 403. Anonymous users are sent to the login page, or
    (`anonymous_status=401`, the admin area) answered 401 with the login form in place; an
    HTMX request (a poll after the session ended) gets 401 and `HX-Redirect` to the login."""

    @bp.before_request
    def _check():
        if not current_user.is_authenticated:
            target = request.full_path.rstrip("?")
            login_url = url_for("auth.login", next=target)
            if request.headers.get("HX-Request"):
                return "", 401, {"HX-Redirect": login_url}
            if anonymous_status == 401:
                page = render_template("auth/login.html", error=None, email="", login_next=target)
                return page, 401
            return redirect(login_url)
        if not _has_role(role):
            abort(403)
        return None


def _has_role(role: str) -> bool:
    if role == ROLE_ADMIN:
        return current_user.role == ROLE_ADMIN
    return current_user.role == ROLE_CUSTOMER and current_user.customer_id is not None


def current_customer_id() -> int:
    """The signed-in customer's id; the guards above guarantee there is one."""
    return int(current_user.customer_id)
