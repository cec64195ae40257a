"""Customer dashboard pages (HTMX): one template per page, fragments as blocks.

Every form is a real POST that works without JavaScript (POST-redirect-GET with a flash
message); with htmx the same URL answers only the fragment that changed. The views parse
input and call the same service functions as the JSON API."""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    redirect,
    request,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from jinja2_fragments.flask import render_block

from ...accounts import company
from ...core import readonly
from ...core.errors import DomainError
from ...extensions import htmx
from ...models import ROLE_CUSTOMER
from ...reporting import checklist, dashboard, why_not_counted
from ..access import current_customer_id, guard_pages
from ..templating import render_page

bp = Blueprint("customer", __name__, url_prefix="/dashboard")
guard_pages(bp, ROLE_CUSTOMER)
bp.after_request(readonly.remember_write)  # read-your-writes with a replica


@bp.context_processor
def nav_context() -> dict[str, Any]:
    """The nav links another area may add (webhooks) show up once their endpoint exists."""
    return {"url_map_endpoints": current_app.view_functions}


def fragment_request() -> bool:
    """An htmx request that swaps one fragment (not a boosted page navigation)."""
    return bool(htmx) and not htmx.boosted


def done(message: str, endpoint: str, **values: Any):
    """POST-redirect-GET: the message survives the redirect as a flash."""
    flash(message, "success")
    return redirect(url_for(endpoint, **values), code=303)


def form_data() -> dict[str, Any]:
    return request.form.to_dict()


def base_url() -> str:
    return str(current_app.config.get("PUBLIC_BASE_URL", request.host_url)).rstrip("/")


def _panel_context(customer_id: int) -> dict[str, Any]:
    panel = dashboard.live_panel(customer_id)
    return {"panel": panel}


def _status_context(customer_id: int) -> dict[str, Any]:
    customer = company.get_customer(customer_id)
    return {
        "customer": customer,
        "links": company.program_links(customer, base_url()),
        "support_email": current_app.config.get("SUPPORT_EMAIL") or "",
    }


@bp.get("/")
def overview():
    """A new program's overview leads with its launch checklist (until every step is
    done); the live panel shows numbers from the first click on."""
    customer_id = current_customer_id()
    status = _status_context(customer_id)
    panel = _panel_context(customer_id)
    totals = panel["panel"]["totals"]
    steps = checklist.launch_checklist(status["customer"], totals["clicks"])
    return render_page(
        "customer/overview.html",
        failed_mails=dashboard.failed_mail_count(customer_id),
        waiting_mails=dashboard.waiting_signup_mail_count(customer_id),
        waiting_mails_limit=current_app.config.get("SIGNUP_MAILS_PER_PROGRAM_HOUR", 200),
        steps=steps if not all(step.done for step in steps) else None,
        **status,
        **panel,
    )


@bp.get("/not-counted")
def not_counted():
    """ "Why wasn't this counted?": loaded into the overview by htmx, a page of its own
    without JavaScript."""
    return render_page(
        "customer/not_counted.html",
        block="not_counted_panel",
        not_counted=why_not_counted.not_counted(current_customer_id()),
        status_labels={key: str(label) for key, label in why_not_counted.STATUS_LABELS.items()},
    )


@bp.get("/stats")
def stats_panel():
    """The live panel alone, polled every 10 s: aggregates only, 304 when unchanged."""
    customer_id = current_customer_id()
    context = _panel_context(customer_id)
    etag = dashboard.panel_etag(context["panel"], str(get_locale() or "de"))
    if request.if_none_match.contains(etag):
        response = Response(status=304)
    else:
        response = Response(render_block("customer/overview.html", "stats_panel", **context))
    response.set_etag(etag)
    response.headers["Cache-Control"] = "private, no-cache"
    return response


@bp.post("/program/toggle")
def toggle():
    customer_id = current_customer_id()
    enabled = company.parse_bool(request.form.get("enabled"))
    try:
        active = company.set_enabled(customer_id, enabled)
        message = _("The program is on.") if active else _("The program is off.")
        error = None
    except DomainError as exc:
        message, error = None, exc.message
        missing = exc.extra.get("missing")
    else:
        missing = None
    if fragment_request():
        return render_page(
            "customer/overview.html",
            block="program_status",
            status_message=message,
            status_error=error,
            status_missing=missing,
            **_status_context(customer_id),
        )
    if error:
        flash(error, "error")
        return redirect(url_for("customer.overview"), code=303)
    return done(message or "", "customer.overview")
