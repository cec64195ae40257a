"""Jinja setup: helpers every template may use, and the HTMX fragment rendering."""

from __future__ import annotations

from datetime import datetime

from flask import Flask, render_template, request
from flask_babel import get_locale
from flask_login import current_user
from jinja2_fragments.flask import render_block
from markupsafe import Markup

from ..core import localtime
from ..extensions import htmx
from ..reporting import charts, fraud_labels


def render_page(template: str, block: str = "content", **context):
    """One template per page: the whole page, or only `block` for an HTMX request that
    targets it (the "template fragments" pattern)."""
    if htmx and not htmx.boosted:
        return render_block(template, block, **context)
    return render_template(template, **context)


def viewer_zone() -> str:
    """The time zone a page shows times in: the admin's (Europe/Berlin) on admin pages,
    else the signed-in customer's program zone."""
    if request.blueprint and request.blueprint.startswith("admin"):
        return localtime.ADMIN_ZONE
    customer = getattr(current_user, "customer", None) if current_user else None
    return localtime.zone_or_default(getattr(customer, "time_zone", None))


def local_time(value: datetime | str | None) -> Markup:
    """A stored or API time (UTC) as "06.12.2026 14:05" in the viewer's zone, in a
    `<time>` element that carries the exact UTC moment; "–" for none."""
    try:
        moment = localtime.parse_stored(value)
    except (TypeError, ValueError):
        return Markup.escape(value)
    if moment is None:
        return Markup("–")
    utc = moment.replace(tzinfo=None).isoformat(timespec="seconds") + "Z"
    zone = viewer_zone()
    return Markup('<time datetime="{}" title="{}">{}</time>').format(
        utc, zone, localtime.display(moment, zone)
    )


def register(app: Flask) -> None:
    app.jinja_env.globals["chart_geometry"] = charts.chart
    app.jinja_env.filters["local_time"] = local_time
    app.jinja_env.filters["admin_time"] = local_time
    app.jinja_env.globals["time_zone"] = viewer_zone
    app.jinja_env.globals["fraud_type_label"] = fraud_labels.type_label
    app.jinja_env.globals["fraud_event_label"] = fraud_labels.event_label
    app.jinja_env.globals["fraud_details"] = fraud_labels.details_in_words

    @app.context_processor
    def inject() -> dict:
        return {
            "current_locale": str(get_locale() or "de"),
            "current_user": current_user,
        }

    @app.after_request
    def vary_on_htmx(response):
        response.headers.add("Vary", "HX-Request")
        return response

    @app.after_request
    def security_headers(response):
        headers = response.headers
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        if app.config["PUBLIC_BASE_URL"].startswith("https://"):
            # Served over HTTPS: browsers keep to it for a year (no includeSubDomains: the
            # customer's other subdomains are not ours to decide).
            headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        if request.path.startswith("/api/referral/track"):
            return response
        if response.mimetype == "text/html":
            headers.setdefault(
                "Content-Security-Policy",
                "default-src 'self'; img-src 'self' data:; style-src 'self'; "
                "script-src 'self'; frame-ancestors 'none'; form-action 'self'; "
                "base-uri 'self'; object-src 'none'",
            )
            headers.setdefault("X-Frame-Options", "DENY")
        else:
            # JSON, CSV, SVG …: nothing in them may run or load, or be framed, even when a
            # browser is pointed at one directly (an SVG can carry script).
            headers.setdefault(
                "Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'"
            )
        return response
