"""Webhook endpoints in the customer dashboard and the customer API.

Thin views: parse input, call `referral_app.webhooks`, render JSON or a page. Every id is looked
up together with the signed-in customer, so another customer's ids are "not found" (404).
"""

from __future__ import annotations

from typing import Any

from flask import Response, flash, jsonify, make_response, redirect, request, url_for
from flask_babel import gettext as _

from ...core.errors import DomainError, ValidationFailed
from ...core.formats import iso
from ...webhooks import deliveries, endpoints
from ...webhooks.endpoints import EVENTS
from ..access import current_customer_id
from ..schemas.base import parse_body, read_body
from ..schemas.requests import WebhookChange, WebhookInput
from ..templating import render_page
from .api import bp as api_bp
from .pages import bp as pages_bp


def _body() -> dict[str, Any]:
    """The dashboard's form (JSON too), as the webhook model reads it (`events` may repeat)."""
    return read_body(WebhookInput)


def _no_store(response: Response) -> Response:
    """Answers that carry a secret are kept by no cache (browser history, proxies)."""
    response.headers["Cache-Control"] = "no-store"
    return response


def _limit() -> int:
    raw = request.args.get("limit", "")
    if raw == "":
        return deliveries.PAGE_SIZE
    if not raw.isdigit() or not 1 <= int(raw) <= deliveries.MAX_PAGE_SIZE:
        message = _("Between 1 and %(n)d.", n=deliveries.MAX_PAGE_SIZE)
        raise ValidationFailed(message, fields={"limit": message})
    return int(raw)


# --- Customer API (API.md "Customer API" and "Webhooks") ---------------------------------


@api_bp.get("/webhooks")
def api_list_webhooks():
    items = [endpoints.endpoint_dict(e) for e in endpoints.list_endpoints(current_customer_id())]
    return jsonify({"ok": True, "items": items})


@api_bp.post("/webhooks")
def api_create_webhook():
    body = parse_body(WebhookInput)
    endpoint, secret = endpoints.create_endpoint(current_customer_id(), body.url, body.events)
    return _no_store(jsonify({"ok": True, "id": endpoint.id, "secret": secret})), 201


@api_bp.patch("/webhooks/<int:endpoint_id>")
def api_update_webhook(endpoint_id: int):
    body = parse_body(WebhookChange)
    endpoint = endpoints.update_endpoint(
        current_customer_id(), endpoint_id, url=body.url, events=body.events, enabled=body.enabled
    )
    return jsonify({"ok": True, "webhook": endpoints.endpoint_dict(endpoint)})


@api_bp.delete("/webhooks/<int:endpoint_id>")
def api_delete_webhook(endpoint_id: int):
    endpoints.delete_endpoint(current_customer_id(), endpoint_id)
    return jsonify({"ok": True})


@api_bp.post("/webhooks/<int:endpoint_id>/rotate-secret")
def api_rotate_secret(endpoint_id: int):
    secret, expires = endpoints.rotate_secret(current_customer_id(), endpoint_id)
    return _no_store(
        jsonify({"ok": True, "secret": secret, "previous_secret_expires_at": iso(expires)})
    )


@api_bp.post("/webhooks/<int:endpoint_id>/test")
def api_send_test(endpoint_id: int):
    customer_id = current_customer_id()
    delivery_id = deliveries.send_test(customer_id, endpoint_id)
    delivery, _attempts = deliveries.get_delivery(customer_id, delivery_id)
    return jsonify({"ok": True, "delivery": deliveries.delivery_dict(delivery)}), 202


@api_bp.get("/webhooks/<int:endpoint_id>/deliveries")
def api_list_deliveries(endpoint_id: int):
    cursor = deliveries.parse_cursor(request.args.get("cursor"))
    items, next_cursor = deliveries.list_deliveries(
        current_customer_id(), endpoint_id, cursor=cursor, limit=_limit()
    )
    return jsonify(
        {
            "ok": True,
            "items": [deliveries.delivery_dict(d) for d in items],
            "next_cursor": str(next_cursor) if next_cursor is not None else None,
        }
    )


@api_bp.get("/webhook-deliveries/<int:delivery_id>")
def api_get_delivery(delivery_id: int):
    delivery, attempts = deliveries.get_delivery(current_customer_id(), delivery_id)
    return jsonify(
        {
            "ok": True,
            "delivery": deliveries.delivery_dict(delivery),
            "attempts": [deliveries.attempt_dict(a) for a in attempts],
        }
    )


@api_bp.post("/webhook-deliveries/<int:delivery_id>/replay")
def api_replay_delivery(delivery_id: int):
    customer_id = current_customer_id()
    deliveries.replay(customer_id, delivery_id)
    delivery, _attempts = deliveries.get_delivery(customer_id, delivery_id)
    return jsonify({"ok": True, "delivery": deliveries.delivery_dict(delivery)}), 202


# --- Dashboard pages ---------------------------------------------------------------------


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
    return _no_store(make_response(page))


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
    return _no_store(make_response(page))


@pages_bp.post("/webhooks/<int:endpoint_id>/test")
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
