"""Webhook endpoints in the customer dashboard (HTMX pages): list, create, change, switch off,
rotate the secret, send a test, read and replay deliveries. Every id is looked up together
with the signed-in customer, so another customer's ids are "not found" (404).
"""

from __future__ import annotations

import time
from typing import Any

from flask import flash, make_response, redirect, request, url_for
from flask_babel import gettext as _

from ...core.errors import DomainError
from ...extensions import limiter
from ...webhooks import deliveries, endpoints
from ...webhooks.endpoints import EVENTS
from .. import ratelimits
from ..access import current_customer_id
from ..downloads import no_store
from ..errors import error_response
from ..schemas.base import read_body
from ..schemas.requests import WebhookInput
from ..templating import render_page
from .pages import bp as pages_bp


def _body() -> dict[str, Any]:
    """The dashboard's form (JSON too), as the webhook model reads it (`events` may repeat)."""
    return read_body(WebhookInput)


def _list_page(status: int = 200, errors: dict[str, str] | None = None, form=None):
    items = endpoints.list_endpoints(current_customer_id())
    return (
        render_page(
            "customer/webhooks.html",
            endpoints=items,
            events=EVENTS,
            errors=errors or {},
            form=form or {"url": "", "events": []},
            max_endpoints=endpoints.MAX_ENDPOINTS_PER_CUSTOMER,
        ),
        status,
    )


@pages_bp.get("/webhooks", endpoint="webhooks")
def webhooks_page():
    return _list_page()


@pages_bp.post("/webhooks")
def webhooks_create():
    body = _body()
    form = {"url": body.get("url") or "", "events": body.get("events") or []}
    try:
        endpoint, secret = endpoints.create_endpoint(
            current_customer_id(), body.get("url"), body.get("events")
        )
    except DomainError as exc:
        errors = dict(exc.fields or {})
        if not errors:
            errors["form"] = exc.message
        # 422: htmx swaps it in like a 200 (static/js/app.js), so boosted forms show errors.
        return _list_page(status=422, errors=errors, form=form)
    page = render_page("customer/webhooks_secret.html", endpoint=endpoint, secret=secret, new=True)
    return no_store(make_response(page))


def _detail_page(endpoint_id: int):
    """The endpoint with its delivery log; the log's polling asks for its block alone."""
    customer_id = current_customer_id()
    endpoint = endpoints.get_endpoint(customer_id, endpoint_id)
    cursor = deliveries.parse_cursor(request.args.get("cursor"))
    items, next_cursor = deliveries.list_deliveries(customer_id, endpoint_id, cursor=cursor)
    return render_page(
        "customer/webhooks_detail.html",
        block="delivery_log",
        endpoint=endpoint,
        events=EVENTS,
        deliveries=items,
        next_cursor=next_cursor,
        cursor=cursor,
        polling=cursor is None and deliveries.has_pending(customer_id, endpoint_id),
        rotating=endpoints.signing_secrets_overlap(endpoint),
        errors={},
    )


@pages_bp.get("/webhooks/<int:endpoint_id>")
def webhook_detail(endpoint_id: int):
    return _detail_page(endpoint_id)


@pages_bp.post("/webhooks/<int:endpoint_id>")
def webhook_update(endpoint_id: int):
    body = _body()
    try:
        endpoints.update_endpoint(
            current_customer_id(),
            endpoint_id,
            url=body.get("url"),
            events=body.get("events") or [],
        )
    except DomainError as exc:
        if exc.status == 404:
            raise
        flash(exc.message, "error")
    else:
        flash(_("The endpoint was saved."), "success")
    return redirect(url_for("customer.webhook_detail", endpoint_id=endpoint_id), code=303)


@pages_bp.post("/webhooks/<int:endpoint_id>/toggle")
def webhook_toggle(endpoint_id: int):
    enabled = request.form.get("enabled") == "1"
    try:
        endpoints.update_endpoint(current_customer_id(), endpoint_id, enabled=enabled)
    except DomainError as exc:
        if exc.status == 404:
            raise
        flash(exc.message, "error")
    else:
        flash(_("The endpoint is on.") if enabled else _("The endpoint is off."), "success")
    return redirect(url_for("customer.webhook_detail", endpoint_id=endpoint_id), code=303)


@pages_bp.post("/webhooks/<int:endpoint_id>/rotate")
def webhook_rotate(endpoint_id: int):
    customer_id = current_customer_id()
    secret, expires = endpoints.rotate_secret(customer_id, endpoint_id)
    endpoint = endpoints.get_endpoint(customer_id, endpoint_id)
    page = render_page(
        "customer/webhooks_secret.html",
        endpoint=endpoint,
        secret=secret,
        new=False,
        expires=expires,
    )
    return no_store(make_response(page))


@pages_bp.post("/webhooks/<int:endpoint_id>/test")
@ratelimits.webhook_tests
def webhook_test(endpoint_id: int):
    try:
        deliveries.send_test(current_customer_id(), endpoint_id)
    except DomainError as exc:
        if exc.status == 404:
            raise
        flash(exc.message, "error")
    else:
        flash(_("A test event was sent. Its result is in the delivery log."), "success")
    return redirect(url_for("customer.webhook_detail", endpoint_id=endpoint_id), code=303)


@pages_bp.get("/webhooks/<int:endpoint_id>/delete")
def webhook_delete_confirm(endpoint_id: int):
    endpoint = endpoints.get_endpoint(current_customer_id(), endpoint_id)
    return render_page("customer/webhooks_delete.html", endpoint=endpoint)


@pages_bp.post("/webhooks/<int:endpoint_id>/delete")
def webhook_delete(endpoint_id: int):
    endpoints.delete_endpoint(current_customer_id(), endpoint_id)
    flash(_("The endpoint was deleted."), "success")
    return redirect(url_for("customer.webhooks"), code=303)


@pages_bp.post("/webhook-deliveries/<int:delivery_id>/replay")
@ratelimits.webhook_replays
def webhook_replay(delivery_id: int):
    customer_id = current_customer_id()
    delivery, _attempts = deliveries.get_delivery(customer_id, delivery_id)
    try:
        deliveries.replay(customer_id, delivery_id)
    except DomainError as exc:
        if exc.status == 404:
            raise
        flash(exc.message, "error")
    else:
        flash(_("The delivery is being sent again."), "success")
    return redirect(url_for("customer.webhook_detail", endpoint_id=delivery.endpoint_id), code=303)


def _seconds_to_wait() -> int:
    current = limiter.current_limit
    return max(1, int(current.reset_at - time.time())) if current else 60


@pages_bp.errorhandler(429)
def rate_limited(exc: Exception):
    """A test event or replay over the limit (`ratelimits.webhook_tests`): back to the
    endpoint's page with the reason in its flash area, as for any other refusal there."""
    args = request.view_args or {}
    if request.endpoint == "customer.webhook_test":
        endpoint_id = args["endpoint_id"]
        message = _(
            "You have sent several test events in a short time. Please wait %(seconds)d s "
            "before sending the next one.",
            seconds=_seconds_to_wait(),
        )
    elif request.endpoint == "customer.webhook_replay":
        delivery, _attempts = deliveries.get_delivery(current_customer_id(), args["delivery_id"])
        endpoint_id = delivery.endpoint_id
        message = _(
            "You have replayed many deliveries in a short time. Please wait %(seconds)d s "
            "before replaying the next one.",
            seconds=_seconds_to_wait(),
        )
    else:
        return error_response(
            429, "rate_limited", _("Too many requests. Please wait a moment and try again.")
        )
    flash(message, "error")
    return redirect(url_for("customer.webhook_detail", endpoint_id=endpoint_id), code=303)
