"""A customer's webhook endpoints: create, change, delete, rotate the secret, and the
per-process cache of who subscribes to what (the tracking hot path asks it).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select

from ..core.cache import ExpiringCache, app_cache, ttl_setting
from ..core.errors import DomainError, NotFound, ValidationFailed
from ..core.formats import iso
from ..extensions import db
from ..models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, utcnow
from .signing import ROTATION_OVERLAP, new_secret, seal
from .urls import check_url, refused

# What an endpoint may subscribe to (API.md "Webhooks").
EVENTS = ("click", "conversion", "lead.registered", "lead.confirmed", "reward.earned")
# A reward's life after it was earned: on hold, delivered, taken back (rewards.grant_events).
EVENTS += ("reward.pending", "reward.delivered", "reward.revoked")
MAX_ENDPOINTS_PER_CUSTOMER = 20
MAX_TIMEOUT_SECONDS = 10
DISABLED_PERSISTENT_FAILURE = "persistent_failure"
DISABLED_BY_CUSTOMER = "by_customer"


class EndpointDisabled(DomainError):
    status = 409
    code = "endpoint_disabled"


class TooManyEndpoints(DomainError):
    status = 409
    code = "too_many_webhooks"


def _subscription_cache() -> ExpiringCache:
    return app_cache("webhook_subscriptions", maxsize=50_000)


def forget_subscriptions(customer_id: int) -> None:
    _subscription_cache().pop(customer_id)


def subscribed_events(customer_id: int) -> frozenset[str]:
    """The events the customer's enabled endpoints want, cached per process for a few
    seconds (WEBHOOK_SUBSCRIPTION_CACHE_SECONDS, default 10): `emit` runs on the tracking hot
    path and most customers have no endpoint. Changes made here clear the entry at once;
    other processes see them within the TTL (the send re-checks the endpoint anyway)."""

    def load() -> frozenset[str]:
        rows = db.session.scalars(
            select(WebhookEndpoint.events).where(
                WebhookEndpoint.customer_id == customer_id, WebhookEndpoint.enabled.is_(True)
            )
        ).all()
        return frozenset(e for row in rows for e in (row or []))

    ttl = ttl_setting("WEBHOOK_SUBSCRIPTION_CACHE_SECONDS", 10)
    return _subscription_cache().get_or_compute(customer_id, ttl, load)


def _clean_events(events: Any) -> list[str]:
    if isinstance(events, str):
        events = [part.strip() for part in events.split(",") if part.strip()]
    if not isinstance(events, list | tuple) or not events:
        raise ValidationFailed(
            _("Choose at least one event."), fields={"events": _("Choose at least one event.")}
        )
    unknown = [e for e in events if not isinstance(e, str) or e not in EVENTS]
    if unknown:
        message = _("Unknown event. Known events: %(events)s", events=", ".join(EVENTS))
        raise ValidationFailed(message, fields={"events": message})
    return [e for e in EVENTS if e in events]


def owned_endpoint(customer_id: int, endpoint_id: int) -> WebhookEndpoint:
    endpoint = db.session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None or endpoint.customer_id != customer_id:
        raise NotFound(_("No such webhook endpoint."))
    return endpoint


def list_endpoints(customer_id: int) -> list[WebhookEndpoint]:
    return list(
        db.session.scalars(
            select(WebhookEndpoint)
            .where(WebhookEndpoint.customer_id == customer_id)
            .order_by(WebhookEndpoint.id)
        )
    )


def get_endpoint(customer_id: int, endpoint_id: int) -> WebhookEndpoint:
    """The customer's own endpoint; another customer's id is "not found" (404)."""
    return owned_endpoint(customer_id, endpoint_id)


def endpoint_dict(endpoint: WebhookEndpoint) -> dict[str, Any]:
    """The API form (API.md: id, url, events, enabled; the rest added)."""
    return {
        "id": endpoint.id,
        "url": endpoint.url,
        "events": list(endpoint.events or []),
        "enabled": bool(endpoint.enabled),
        "disabled_reason": endpoint.disabled_reason,
        "consecutive_failures": endpoint.consecutive_failures or 0,
        "previous_secret_expires_at": iso(endpoint.previous_secret_expires_at)
        if signing_secrets_overlap(endpoint)
        else None,
        "created_at": iso(endpoint.created_at),
    }


def signing_secrets_overlap(endpoint: WebhookEndpoint) -> bool:
    """True while the previous secret still signs (after a rotation)."""
    expires = endpoint.previous_secret_expires_at
    return bool(endpoint.previous_secret_encrypted and expires and expires > utcnow())


def create_endpoint(customer_id: int, url: Any, events: Any) -> tuple[WebhookEndpoint, str]:
    """A new endpoint and its secret (returned once; stored only encrypted). Commits."""
    if not isinstance(url, str):
        raise refused(_("Enter the URL that should receive the webhooks."))
    clean_events = _clean_events(events)
    clean_url = check_url(url)
    count = len(list_endpoints(customer_id))
    if count >= MAX_ENDPOINTS_PER_CUSTOMER:
        raise TooManyEndpoints(
            _("At most %(n)d webhook endpoints per program.", n=MAX_ENDPOINTS_PER_CUSTOMER)
        )
    secret = new_secret()
    endpoint = WebhookEndpoint(
        customer_id=customer_id,
        url=clean_url,
        events=clean_events,
        secret_encrypted=seal(secret),
        enabled=True,
        consecutive_failures=0,
    )
    db.session.add(endpoint)
    db.session.commit()
    forget_subscriptions(customer_id)
    return endpoint, secret


def update_endpoint(
    customer_id: int,
    endpoint_id: int,
    *,
    url: Any = None,
    events: Any = None,
    enabled: bool | None = None,
) -> WebhookEndpoint:
    """Change URL, events or the on/off switch. Switching on clears the failure state
    (the URL is checked again then: DNS may have changed while it was off). Commits."""
    endpoint = owned_endpoint(customer_id, endpoint_id)
    if url is not None:
        if not isinstance(url, str):
            raise refused(_("Enter the URL that should receive the webhooks."))
        endpoint.url = check_url(url)
    if events is not None:
        endpoint.events = _clean_events(events)
    if enabled is True and not endpoint.enabled:
        check_url(endpoint.url)
        endpoint.enabled = True
        endpoint.disabled_reason = None
        endpoint.consecutive_failures = 0
    elif enabled is False and endpoint.enabled:
        endpoint.enabled = False
        endpoint.disabled_reason = DISABLED_BY_CUSTOMER
    db.session.commit()
    forget_subscriptions(customer_id)
    return endpoint


def delete_endpoint(customer_id: int, endpoint_id: int) -> None:
    """Deletes the endpoint with its deliveries and attempts. Commits."""
    endpoint = owned_endpoint(customer_id, endpoint_id)
    delivery_ids = select(WebhookDelivery.id).where(WebhookDelivery.endpoint_id == endpoint.id)
    db.session.execute(
        WebhookAttempt.__table__.delete().where(WebhookAttempt.delivery_id.in_(delivery_ids))
    )
    db.session.execute(
        WebhookDelivery.__table__.delete().where(WebhookDelivery.endpoint_id == endpoint.id)
    )
    db.session.delete(endpoint)
    db.session.commit()
    forget_subscriptions(customer_id)


def rotate_secret(customer_id: int, endpoint_id: int) -> tuple[str, datetime]:
    """A new secret; the old one keeps signing too for 24 hours, so the receiver can switch
    without losing a message. Returns (new secret, when the old one stops). Commits."""
    endpoint = owned_endpoint(customer_id, endpoint_id)
    secret = new_secret()
    expires = utcnow() + ROTATION_OVERLAP
    endpoint.previous_secret_encrypted = endpoint.secret_encrypted
    endpoint.previous_secret_expires_at = expires
    endpoint.secret_encrypted = seal(secret)
    db.session.commit()
    return secret, expires
