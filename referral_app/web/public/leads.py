"""Public API for the sign-up flow (program info, register-lead, confirm-lead, resend): routes
on the public API blueprint, so CORS and rate limits apply to them as to tracking."""

from __future__ import annotations

from typing import Any

from flask import current_app, jsonify, make_response, redirect, render_template, request

from ...accounts import branding
from ...core import queue
from ...core.errors import DomainError
from ...extensions import client_ip, limiter
from ...participants import confirmation, signup
from ...participants import program as programs
from ..schemas.base import parse_body, read_body, validate
from ..schemas.requests import ConfirmToken, RegisterLead
from .api import bp
from .cookieless import speak


def token_limit() -> str:
    """Secret-link routes: a guesser gets few tries (RATELIMIT_TOKEN_ROUTES)."""
    return current_app.config.get("RATELIMIT_TOKEN_ROUTES", "30/minute")


def _is_form_post() -> bool:
    return request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data")


def secret_page(template: str, status: int = 200, **context: Any):
    """A page reached by a secret link: never cached, never sent on as a referrer, never
    indexed."""
    response = make_response(render_template(template, **context), status)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Robots-Tag"] = "noindex"
    return response


@bp.get("/program")
def program():
    return jsonify({"ok": True, **programs.program_info(request.args.get("ref"))})


@bp.post("/register-lead")
def register_lead():
    """The same answer for a new, a known and a confirmed address (no enumeration), in the
    same time: the request is checked and taken in (one row of the same shape for every
    address), the sign-up itself runs in a job after the answer is sent."""
    body = parse_body(RegisterLead, public=True)
    queue.run_inline_jobs_after_response()
    signup.submit(
        body.model_dump(exclude_none=True), client_ip(), request.headers.get("User-Agent", "")
    )
    return jsonify({"ok": True, "status": "confirmation_sent"}), 202


@bp.get("/confirm-lead")
@limiter.limit(token_limit)
def confirm_page():
    """The link in the mail: a page whose button confirms by POST. A person clicks it: a
    scanner that fetches the link, even one that runs JavaScript, confirms nothing."""
    token = request.args.get("token", "")
    state, language = confirmation.confirmation_state(token)
    speak(language)
    ok = state in ("pending", "already_confirmed")
    brand = branding.brand_of(confirmation.program_of_token(token))
    return secret_page(
        "public/confirm.html", 200 if ok else 400, token=token, state=state, brand=brand
    )


@bp.post("/confirm-lead")
@limiter.limit(token_limit)
def confirm_lead():
    """Confirms by POST only. No CSRF token (the blueprint is exempt, and the page sets no
    session to keep one in): the unguessable token from the mail is the proof that the
    person who got the mail is asking."""
    form_post = _is_form_post()
    data = read_body(public=True)
    try:
        token = validate(ConfirmToken, data).token
        result = confirmation.confirm(token, client_ip(), request.headers.get("User-Agent", ""))
    except DomainError as exc:
        if form_post and exc.code in ("invalid_token", "token_expired"):
            token = data.get("token") if isinstance(data.get("token"), str) else ""
            return secret_page("public/confirm.html", 400, token=token, state=exc.code)
        raise
    if form_post:
        return redirect(result.hub_path, code=303)
    return jsonify(
        {
            "ok": True,
            "status": result.status,
            "ref_code": result.ref_code,
            "referral_link": result.referral_link,
        }
    )


@bp.post("/resend-confirmation")
@limiter.limit(token_limit)
def resend_confirmation():
    """From the page of an expired link: a new confirmation mail for the same address."""
    form_post = _is_form_post()
    try:
        confirmation.resend_confirmation(parse_body(ConfirmToken, public=True).token)
    except DomainError as exc:
        if form_post and exc.code == "invalid_token":
            return secret_page("public/confirm.html", 400, token="", state=exc.code)
        raise
    if form_post:
        return secret_page("public/confirm.html", 202, token="", state="resent")
    return jsonify({"ok": True, "status": "confirmation_sent"}), 202
