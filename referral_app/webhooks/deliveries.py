"""None"""

from __future__ import annotations

import json
import logging
import secrets
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_mail import Message
from sqlalchemy import or_, select, update

from ..core.errors import NotFound, ValidationFailed
from ..core.formats import iso
from ..core.queue import enqueue
from ..core.sqlutil import begin_write
from ..extensions import db, mail
from ..models import Customer, WebhookAttempt, WebhookDelivery, WebhookEndpoint, utcnow
from ..models.delivery import FAILED, PENDING, SENT
from .endpoints import (
    DISABLED_PERSISTENT_FAILURE,
    MAX_TIMEOUT_SECONDS,
    EndpointDisabled,
    forget_subscriptions,
    owned_endpoint,
    subscribed_events,
)
from .sending import USER_AGENT, SendResult, send
from .signing import signature_headers, signing_secrets

log = logging.getLogger(__name__)


TEST_EVENT = "webhook.test"
# How long a claimed attempt may run before the sweep may try again (worker died mid-send).
CLAIM_LEASE = timedelta(seconds=120)
PAGE_SIZE = 50
MAX_PAGE_SIZE = 200


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value)
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def build_payload(customer_id: int, event: str, data: dict[str, Any], ref_code: str | None) -> str:
    """The body as in the seed: event, customer_id, ref_code, timestamp (UTC), data."""
    body = {
        "event": event,
        "customer_id": customer_id,
        "ref_code": ref_code,
        "timestamp": iso(utcnow()),
        "data": data or {},
    }
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), default=_json_default)


def new_msg_id() -> str:
    return "msg_" + secrets.token_hex(16)


def _enqueue(delivery_id: int, delay: timedelta | None = None) -> None:
    enqueue("jobs.webhooks.deliver", delivery_id, delay=delay)


def queue_event(
    customer_id: int, event: str, data: dict[str, Any], ref_code: str | None
) -> list[int]:
    """One delivery row (and one job) per enabled endpoint subscribed to `event`.

    Called by `events.emit` after the caller's commit; commits its own rows. With no
    subscribed endpoint it costs a dictionary lookup (see `subscribed_events`)."""
    if event not in subscribed_events(customer_id):
        return []
    endpoints = db.session.scalars(
        select(WebhookEndpoint).where(
            WebhookEndpoint.customer_id == customer_id, WebhookEndpoint.enabled.is_(True)
        )
    ).all()
    targets = [e for e in endpoints if event in (e.events or [])]
    if not targets:
        return []
    payload = build_payload(customer_id, event, data, ref_code)
    now = utcnow()
    deliveries = [
        WebhookDelivery(
            endpoint_id=endpoint.id,
            msg_id=new_msg_id(),
            event=event,
            payload=payload,
            status=PENDING,
            attempts=0,
            next_retry_at=now,
        )
        for endpoint in targets
    ]
    db.session.add_all(deliveries)
    db.session.commit()
    ids = [d.id for d in deliveries]
    for delivery_id in ids:
        _enqueue(delivery_id)
    return ids


def send_test(customer_id: int, endpoint_id: int) -> int:
    """A `webhook.test` delivery to one endpoint (one attempt, no retries, and it never
    counts towards switching the endpoint off). Returns the delivery id.

    A write from its first read: on SQLite a read that turns into a write fails at once
    when a worker wrote in between (the worker is busy with this customer's deliveries)."""
    begin_write(db.session())
    endpoint = owned_endpoint(customer_id, endpoint_id)
    if not endpoint.enabled:
        raise EndpointDisabled(_("Switch the endpoint on first."))
    customer = db.session.get(Customer, customer_id)
    payload = build_payload(
        customer_id,
        TEST_EVENT,
        {"message": "This is a test event from your referral program."},
        customer.ref_code if customer else None,
    )
    delivery = WebhookDelivery(
        endpoint_id=endpoint.id,
        msg_id=new_msg_id(),
        event=TEST_EVENT,
        payload=payload,
        status=PENDING,
        attempts=0,
        next_retry_at=utcnow(),
    )
    db.session.add(delivery)
    db.session.commit()
    delivery_id = delivery.id
    _enqueue(delivery_id)
    return delivery_id


def _owned_delivery(customer_id: int, delivery_id: int) -> tuple[WebhookDelivery, WebhookEndpoint]:
    row = db.session.execute(
        select(WebhookDelivery, WebhookEndpoint)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(WebhookDelivery.id == delivery_id, WebhookEndpoint.customer_id == customer_id)
    ).first()
    if row is None:
        raise NotFound(_("No such webhook delivery."))
    return row[0], row[1]


def replay(customer_id: int, delivery_id: int) -> int:
    """Send a delivery again now, with the same `webhook-id` (receivers dedupe on it).

    A replay is one more attempt; if the delivery still has attempts left in its retry
    schedule (e.g. it had succeeded at once), a failure is retried as usual."""
    begin_write(db.session())  # as in send_test: a worker may be writing this delivery
    delivery, endpoint = _owned_delivery(customer_id, delivery_id)
    if not endpoint.enabled:
        raise EndpointDisabled(_("Switch the endpoint on first."))
    delivery.status = PENDING
    delivery.next_retry_at = utcnow()
    db.session.commit()
    _enqueue(delivery_id)
    return delivery_id


def delivery_dict(delivery: WebhookDelivery) -> dict[str, Any]:
    return {
        "id": delivery.id,
        "msg_id": delivery.msg_id,
        "event": delivery.event,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "last_status_code": delivery.last_status_code,
        "last_error": delivery.last_error,
        "next_retry_at": iso(delivery.next_retry_at) if delivery.status == PENDING else None,
        "created_at": iso(delivery.created_at),
        "delivered_at": iso(delivery.delivered_at),
    }


def attempt_dict(attempt: WebhookAttempt) -> dict[str, Any]:
    return {
        "attempt": attempt.attempt,
        "status_code": attempt.status_code,
        "error": attempt.error,
        "duration_ms": attempt.duration_ms,
        "created_at": iso(attempt.created_at),
    }


def parse_cursor(cursor: str | None) -> int | None:
    """Delivery log cursors are the last id seen; anything else is a 400, never a 500."""
    if cursor in (None, ""):
        return None
    if not cursor.isdigit() or len(cursor) > 18:
        raise ValidationFailed(_("Invalid cursor."), code="invalid_cursor")
    return int(cursor)


def list_deliveries(
    customer_id: int, endpoint_id: int, *, cursor: int | None = None, limit: int = PAGE_SIZE
) -> tuple[list[WebhookDelivery], int | None]:
    """Newest first, a page at a time. Returns (deliveries, next cursor or None)."""
    endpoint = owned_endpoint(customer_id, endpoint_id)
    limit = max(1, min(limit, MAX_PAGE_SIZE))
    query = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id)
    if cursor is not None:
        query = query.where(WebhookDelivery.id < cursor)
    rows = list(db.session.scalars(query.order_by(WebhookDelivery.id.desc()).limit(limit + 1)))
    next_cursor = rows[limit - 1].id if len(rows) > limit else None
    return rows[:limit], next_cursor


def get_delivery(
    customer_id: int, delivery_id: int
) -> tuple[WebhookDelivery, list[WebhookAttempt]]:
    delivery, _endpoint = _owned_delivery(customer_id, delivery_id)
    attempts = list(
        db.session.scalars(
            select(WebhookAttempt)
            .where(WebhookAttempt.delivery_id == delivery.id)
            .order_by(WebhookAttempt.attempt, WebhookAttempt.id)
        )
    )
    return delivery, attempts


def has_pending(customer_id: int, endpoint_id: int) -> bool:
    """Whether the delivery log is still moving (the page polls only then)."""
    return (
        db.session.scalar(
            select(WebhookDelivery.id)
            .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
            .where(
                WebhookDelivery.endpoint_id == endpoint_id,
                WebhookEndpoint.customer_id == customer_id,
                WebhookDelivery.status == PENDING,
            )
            .limit(1)
        )
        is not None
    )


def _retry_delays() -> list[int]:
    delays = current_app.config.get("WEBHOOK_RETRY_DELAYS") or []
    return [max(0, int(d)) for d in delays]


def max_attempts() -> int:
    """The first try plus one retry per WEBHOOK_RETRY_DELAYS entry."""
    return 1 + len(_retry_delays())


def _claim(delivery_id: int, now: datetime) -> bool:
    """Take the next attempt of a due, pending delivery; False when another run has it."""
    claimed = db.session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.id == delivery_id,
            WebhookDelivery.status == PENDING,
            or_(WebhookDelivery.next_retry_at.is_(None), WebhookDelivery.next_retry_at <= now),
        )
        .values(attempts=WebhookDelivery.attempts + 1, next_retry_at=now + CLAIM_LEASE)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    return bool(claimed)


def attempt_delivery(delivery_id: int) -> str | None:
    """One attempt at a delivery (the job's body). Idempotent: a delivery that is not due,
    already sent or being sent elsewhere is left alone. Returns the new status, or None
    when nothing was attempted."""
    now = utcnow()
    if not _claim(delivery_id, now):
        return None
    delivery = db.session.get(WebhookDelivery, delivery_id)
    endpoint = db.session.get(WebhookEndpoint, delivery.endpoint_id) if delivery else None
    if delivery is None or endpoint is None:
        return None
    if not endpoint.enabled:
        delivery.attempts -= 1  # nothing was sent
        delivery.status = FAILED
        delivery.last_error = "endpoint disabled"
        delivery.next_retry_at = None
        db.session.commit()
        return FAILED

    url, payload = endpoint.url, delivery.payload
    secrets_ = signing_secrets(endpoint, now)
    if not secrets_:
        # The secret does not decrypt (DATA_KEY changed without the old one in DATA_KEYS):
        # an unsigned message would teach receivers to accept anything. Fail, loudly.
        log.error("webhook endpoint %s: signing secret unreadable, not sent", endpoint.id)
        return _record(delivery, endpoint, SendResult(None, "signing secret unreadable", 0))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        **signature_headers(delivery.msg_id, payload, secrets_),
    }
    db.session.commit()  # no transaction stays open while the receiver takes its time
    timeout = min(float(current_app.config.get("WEBHOOK_TIMEOUT", 10)), MAX_TIMEOUT_SECONDS)
    result = send(url, payload.encode("utf-8"), headers, timeout=timeout)
    return _record(delivery, endpoint, result)


def _record(delivery: WebhookDelivery, endpoint: WebhookEndpoint, result: SendResult) -> str:
    """Log the attempt, then: sent, a retry later, or failed (and maybe the endpoint off)."""
    now = utcnow()
    is_test = delivery.event == TEST_EVENT
    db.session.add(
        WebhookAttempt(
            delivery_id=delivery.id,
            attempt=delivery.attempts,
            status_code=result.status_code,
            error=result.error[:500] if result.error else None,
            duration_ms=result.duration_ms,
            created_at=now,
        )
    )
    delivery.last_status_code = result.status_code
    delivery.last_error = result.error[:500] if result.error else None
    retry_in: int | None = None
    switched_off = False
    if result.ok:
        delivery.status = SENT
        delivery.delivered_at = now
        delivery.next_retry_at = None
        if not is_test:
            _set_failures(endpoint.id, 0)
    else:
        delays = _retry_delays()
        if not is_test:
            _set_failures(endpoint.id, None)
        if not is_test and delivery.attempts <= len(delays):
            retry_in = delays[delivery.attempts - 1]
            delivery.next_retry_at = now + timedelta(seconds=retry_in)
        else:
            delivery.status = FAILED
            delivery.next_retry_at = None
            if not is_test:
                switched_off = _switch_off_if_failing(endpoint.id)
    db.session.commit()
    if switched_off:
        forget_subscriptions(endpoint.customer_id)
        notify_disabled(endpoint.id)
    if retry_in is not None:
        _enqueue(delivery.id, delay=timedelta(seconds=retry_in))
    return delivery.status


def _set_failures(endpoint_id: int, value: int | None) -> None:
    """Reset to `value`, or count one more failed attempt when None (atomic in SQL)."""
    new = WebhookEndpoint.consecutive_failures + 1 if value is None else value
    db.session.execute(
        update(WebhookEndpoint)
        .where(WebhookEndpoint.id == endpoint_id)
        .values(consecutive_failures=new)
        .execution_options(synchronize_session=False)
    )


def _switch_off_if_failing(endpoint_id: int) -> bool:
    """A delivery used up all its attempts: when nothing at all reached the endpoint over
    that time (as many failed attempts in a row as one delivery has), it is switched off.
    True only for the run that switched it off, so the customer is told once."""
    return bool(
        db.session.execute(
            update(WebhookEndpoint)
            .where(
                WebhookEndpoint.id == endpoint_id,
                WebhookEndpoint.enabled.is_(True),
                WebhookEndpoint.consecutive_failures >= max_attempts(),
            )
            .values(enabled=False, disabled_reason=DISABLED_PERSISTENT_FAILURE)
            .execution_options(synchronize_session=False)
        ).rowcount
    )


def retry_due(limit: int = 500) -> int:
    """Run (or enqueue) every pending delivery whose time has come: retries, and
    deliveries whose job was lost. The periodic sweep calls this every minute or so;
    a delivery already being sent is skipped by the claim. Returns how many were started."""
    ids = list(
        db.session.scalars(
            select(WebhookDelivery.id)
            .where(WebhookDelivery.status == PENDING, WebhookDelivery.next_retry_at <= utcnow())
            .order_by(WebhookDelivery.next_retry_at)
            .limit(limit)
        )
    )
    db.session.commit()
    for delivery_id in ids:
        _enqueue(delivery_id)
    return len(ids)


def notify_disabled(endpoint_id: int) -> bool:
    """Tell the customer by e-mail that an endpoint was switched off (the dashboard shows it
    too). No participant data in it. A mail failure is logged, never raised."""
    endpoint = db.session.get(WebhookEndpoint, endpoint_id)
    customer = db.session.get(Customer, endpoint.customer_id) if endpoint else None
    if endpoint is None or customer is None or not customer.contact_email:
        return False
    parts = urlsplit(endpoint.url)
    shown_url = f"{parts.scheme}://{parts.netloc}{parts.path}"
    link = current_app.config.get("PUBLIC_BASE_URL", "").rstrip("/") + "/dashboard/webhooks"
    with force_locale(customer.language or "de"):
        subject = _("Your webhook endpoint was switched off")
        body = "\n\n".join(
            [
                _("Hello,"),
                _(
                    "we could not deliver webhooks to %(url)s for about a day, despite "
                    "several retries. We have therefore switched this endpoint off.",
                    url=shown_url,
                ),
                _(
                    "Please check your receiver, then switch the endpoint on again in your "
                    "dashboard. Failed deliveries can be sent again from the delivery log "
                    "there: %(link)s",
                    link=link,
                ),
                _("Your referral program"),
            ]
        )
    message = Message(subject=subject, recipients=[customer.contact_email], body=body)
    try:
        mail.send(message)
    except Exception:  # noqa: BLE001 - the dashboard notice stays; the sweep must go on
        log.warning("could not send the webhook-disabled notice for endpoint %s", endpoint_id)
        return False
    return True
