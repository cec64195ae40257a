"""The public API (API.md "Public API"): called from any page by referral-tracking.js.

No login, CORS open to every origin (without credentials), CSRF-exempt, rate limited per
client IP as a whole (`RATELIMIT_PUBLIC_API`). The client IP is `request.remote_addr`, which
ProxyFix sets from X-Forwarded-For only for `TRUSTED_PROXY_COUNT` proxies. Nothing here logs
the IP, the user agent or a request body.
"""

from __future__ import annotations

import base64
import logging

from flask import Blueprint, Response, current_app, jsonify, request
from flask_babel import gettext as _

from ...core.errors import DomainError
from ...extensions import client_ip, client_key, csrf, db, limiter
from ...tracking import engine
from ..errors import error_response
from ..schemas.base import parse_body
from ..schemas.requests import TrackClick, TrackConversion
from .page_source import page_source

log = logging.getLogger(__name__)

bp = Blueprint("public_api", __name__, url_prefix="/api/referral")
csrf.exempt(bp)

PIXEL_GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


def _public_limit() -> str:
    return current_app.config.get("RATELIMIT_PUBLIC_API", "10/second;100/minute;1000/hour")


# One bucket per client IP for the whole public API (tracking and sign-up alike); CORS
# preflights are free, as browsers send them on their own.
limiter.shared_limit(
    _public_limit,
    scope="public_api",
    key_func=client_key,
    exempt_when=lambda: request.method == "OPTIONS",
)(bp)


@bp.after_request
def cors(response: Response) -> Response:
    """Open to every origin, no credentials: the script runs on customers' own sites."""
    headers = response.headers
    headers["Access-Control-Allow-Origin"] = "*"
    headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
    headers["Access-Control-Allow-Headers"] = "Content-Type"
    headers["Access-Control-Expose-Headers"] = "Retry-After"
    headers["Access-Control-Max-Age"] = "86400"
    headers["Cache-Control"] = "no-store"
    return response


@bp.errorhandler(429)
def rate_limited(exc: Exception):
    """The pixel answers a GIF even when limited (nothing is tracked); the rest JSON."""
    if request.endpoint == "public_api.pixel":
        return _gif()
    return error_response(
        429, "rate_limited", _("Too many requests. Please wait a moment and try again.")
    )


def _user_agent() -> str:
    return request.headers.get("User-Agent", "")


@bp.post("/track-click")
def track_click():
    """A visitor arrived through a referral link (the freebie page)."""
    body = parse_body(TrackClick, public=True)
    outcome = engine.track_click(
        ref=body.ref, page=body.page, ip=client_ip(), user_agent=_user_agent()
    )
    return jsonify({"ok": True, "status": outcome.status, "click_id": outcome.event_id})


@bp.post("/track-conversion")
def track_conversion():
    """A visitor reached the thank-you page. With allowed domains set it counts only from
    their pages (Origin, else Referer), or from a server sending the customer's API key."""
    body = parse_body(TrackConversion, public=True)
    outcome = engine.track_conversion(
        ref=body.ref,
        page=body.page,
        click_id=body.click_id,
        ip=client_ip(),
        user_agent=_user_agent(),
        source=page_source(),
    )
    return jsonify({"ok": True, "status": outcome.status, "suspicious": outcome.suspicious})


@bp.get("/track")
def pixel():
    """The tracking pixel for pages that cannot run the script (e-mails, AMP): always a 1×1
    GIF, whatever happened, so it never shows as a broken image. Events as in the POSTs;
    an `<img>` sends no Origin, so a conversion's page is its Referer."""
    args = request.args
    try:
        if args.get("e", "click") == "conversion":
            engine.track_conversion(
                ref=args.get("ref"),
                page=request.referrer,
                click_id=args.get("click_id"),
                ip=client_ip(),
                user_agent=_user_agent(),
                source=page_source(lenient_key=True),
            )
        elif args.get("e", "click") == "click":
            engine.track_click(
                ref=args.get("ref"), page=request.referrer, ip=client_ip(), user_agent=_user_agent()
            )
    except DomainError:
        pass  # bad or unknown code, inactive program: nothing tracked, still a GIF
    except Exception:  # noqa: BLE001 - the pixel must never fail; logged without request data
        db.session.rollback()
        log.exception("pixel: tracking failed")
    return _gif()


def _gif() -> Response:
    response = Response(PIXEL_GIF, mimetype="image/gif")
    response.headers["Cache-Control"] = "no-store"
    return response
