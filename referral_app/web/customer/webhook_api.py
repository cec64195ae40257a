"""The customer API's webhook routes (API.md "Webhooks"): endpoints, secrets, test calls,
deliveries and replays. Every id is looked up together with the signed-in customer, so
another customer's ids are "not found" (404).
"""

from __future__ import annotations

from flask import jsonify, request
from flask_babel import gettext as _

from ...core.errors import ValidationFailed
from ...core.formats import iso
from ...webhooks import deliveries, endpoints
from .. import ratelimits
from ..access import current_customer_id
from ..downloads import no_store
from ..schemas.base import parse_body
from ..schemas.requests import WebhookChange, WebhookInput
from .api import bp as api_bp


def _limit() -> int:
    raw = request.args.get("limit", "")
    if raw == "":
        return deliveries.PAGE_SIZE
    if not raw.isdigit() or not 1 <= int(raw) <= deliveries.MAX_PAGE_SIZE:
        message = _("Between 1 and %(n)d.", n=deliveries.MAX_PAGE_SIZE)
        raise ValidationFailed(message, fields={"limit": message})
    return int(raw)


@api_bp.get("/webhooks")
def api_list_webhooks():
    items = [endpoints.endpoint_dict(e) for e in endpoints.list_endpoints(current_customer_id())]
    return jsonify({"ok": True, "items": items})


@api_bp.post("/webhooks")
def api_create_webhook():
    body = parse_body(WebhookInput)
    endpoint, secret = endpoints.create_endpoint(current_customer_id(), body.url, body.events)
    return no_store(jsonify({"ok": True, "id": endpoint.id, "secret": secret})), 201


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
    return no_store(
        jsonify({"ok": True, "secret": secret, "previous_secret_expires_at": iso(expires)})
    )


@api_bp.post("/webhooks/<int:endpoint_id>/test")
@ratelimits.webhook_tests
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
@ratelimits.webhook_replays
def api_replay_delivery(delivery_id: int):
    customer_id = current_customer_id()
    deliveries.replay(customer_id, delivery_id)
    delivery, _attempts = deliveries.get_delivery(customer_id, delivery_id)
    return jsonify({"ok": True, "delivery": deliveries.delivery_dict(delivery)}), 202
