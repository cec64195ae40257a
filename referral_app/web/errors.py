"""Error handling, negotiated: JSON under /api/ (and for JSON clients), a page otherwise."""

from __future__ import annotations

import logging

from flask import Flask, jsonify, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from ..core.errors import DomainError
from ..extensions import htmx

log = logging.getLogger(__name__)

ERROR_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


def wants_json_response() -> bool:
    if request.path.startswith("/api/"):
        return True
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "application/json" and (
        request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]
    )


def _messages() -> dict[int, str]:
    return {
        400: _("The request could not be understood."),
        401: _("Please log in."),
        403: _("You are not allowed to see this page."),
        404: _("This page does not exist."),
        405: _("This method is not allowed here."),
        413: _("The request is too large."),
        415: _("Unsupported content type."),
        429: _("Too many requests. Please wait a moment and try again."),
        500: _("Something went wrong on our side. Please try again later."),
    }


def error_response(status: int, code: str, message: str, **extra):
    if wants_json_response():
        body = {"ok": False, "error": code, "message": message, **extra}
        response = jsonify(body)
        response.status_code = status
        return response
    if htmx and not htmx.boosted:
        # A fragment request (a panel, a search, a row's button): the message goes into the
        # page's flash area, not into the element that asked.
        html = render_template("errors/_message.html", status=status, message=message)
        return html, status, {"HX-Retarget": "#flash", "HX-Reswap": "innerHTML"}
    return render_template("errors/error.html", status=status, message=message), status


def register(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def handle_domain_error(exc: DomainError):
        extra = {**exc.extra, "fields": exc.fields} if exc.fields else exc.extra
        return error_response(exc.status, exc.code, exc.message, **extra)

    @app.errorhandler(CSRFError)
    def handle_csrf(exc: CSRFError):
        return error_response(
            400, "csrf_failed", _("The form expired or was sent from elsewhere. Please reload.")
        )

    @app.errorhandler(HTTPException)
    def handle_http(exc: HTTPException):
        status = exc.code or 500
        code = ERROR_CODES.get(status, "error")
        message = _messages().get(status, exc.description or "")
        return error_response(status, code, message)

    @app.errorhandler(Exception)
    def handle_unexpected(exc: Exception):
        # The endpoint name, not the path: paths can carry secret tokens.
        log.exception("unhandled error on %s %s", request.method, request.endpoint)
        return error_response(500, "internal_error", _messages()[500])
