"""Webhook endpoints and deliveries, signed as standardwebhooks.com specifies.

Why it is built this way:
- Every event for every subscribed endpoint is one `WebhookDelivery` row with a stable
  `msg_id` (the `webhook-id` header), and every try one `WebhookAttempt` row, so nothing is
  lost when a receiver is down and the customer can see (and replay) what happened.
- Retry state lives in the database (`next_retry_at`): a job claims an attempt with one
  conditional UPDATE, so a delivery is sent once even when an RQ job and the periodic sweep
  (`retry_due`) race, and a lost job is picked up again by the sweep.
- SSRF: a URL is resolved and every address checked when it is saved and again right before
  each send (DNS can change), and the connection goes to the address that was checked, so a
  name cannot resolve to a public address for the check and a private one for the connect.
- No redirects are followed (http.client never does): a 3xx is a failed attempt.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import http.client
import ipaddress
import json
import logging
import secrets
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_mail import Message
from sqlalchemy import or_, select, update
from standardwebhooks.webhooks import Webhook

from ..core import crypto
from ..core.errors import DomainError, NotFound, ValidationFailed
from ..core.queue import enqueue
from ..extensions import db, mail
from ..models import Customer, WebhookAttempt, WebhookDelivery, WebhookEndpoint, utcnow
from ..models.delivery import FAILED, PENDING, SENT
from .events import EVENTS

log = logging.getLogger(__name__)

SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix, not a secret
SECRET_BYTES = 32
TEST_EVENT = "webhook.test"
MAX_URL_LENGTH = 2000
MAX_ENDPOINTS_PER_CUSTOMER = 20
MAX_TIMEOUT_SECONDS = 10
ROTATION_OVERLAP = timedelta(hours=24)
# How long a claimed attempt may run before the sweep may try again (worker died mid-send).
CLAIM_LEASE = timedelta(seconds=120)
PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
USER_AGENT = "referral-webhooks/1.0 (+https://www.standardwebhooks.com/)"

DISABLED_PERSISTENT_FAILURE = "persistent_failure"
DISABLED_BY_CUSTOMER = "by_customer"

# Cloud metadata services: refused even when WEBHOOK_ALLOW_PRIVATE is on (that flag is for
# receivers on a developer's own machine, never for credentials of the host it runs on).
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
)
METADATA_HOSTS = frozenset({"metadata", "metadata.google.internal", "instance-data"})
NAT64_PREFIX = ipaddress.ip_network("64:ff9b::/96")


class InvalidWebhookUrl(DomainError):
    code = "invalid_webhook_url"


class EndpointDisabled(DomainError):
    status = 409
    code = "endpoint_disabled"


class TooManyEndpoints(DomainError):
    status = 409
    code = "too_many_webhooks"


# --- URL safety -------------------------------------------------------------------------


def address_allowed(address: str, *, allow_private: bool = False) -> bool:
    """True when a webhook may connect to `address` (an IPv4/IPv6 literal).

    Refused: private, loopback, link-local, multicast, reserved, unspecified and shared
    (CGNAT) ranges, and IPv4 hidden inside IPv6 (mapped, 6to4, Teredo, NAT64) that is one of
    those. Cloud metadata addresses are refused always."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    candidates = [ip]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped:
            candidates.append(ip.ipv4_mapped)
        if ip.sixtofour:
            candidates.append(ip.sixtofour)
        if ip.teredo:
            candidates.append(ip.teredo[1])
        if ip in NAT64_PREFIX:
            candidates.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    for candidate in candidates:
        if candidate in METADATA_ADDRESSES:
            return False
        if allow_private:
            continue
        if (
            not candidate.is_global
            or candidate.is_private
            or candidate.is_loopback
            or candidate.is_link_local
            or candidate.is_multicast
            or candidate.is_reserved
            or candidate.is_unspecified
        ):
            return False
    return True


class UnsafeUrl(Exception):
    """Why a URL may not receive webhooks, as a code: `check_url` turns it into a message
    for the customer, `send` into a log entry (a job has no request to pick a language)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _messages() -> dict[str, str]:
    return {
        "too_long": _("Enter a URL of at most %(n)d characters.", n=MAX_URL_LENGTH),
        "bad_characters": _("The URL must not contain spaces or control characters."),
        "malformed": _("This is not a valid URL."),
        "scheme": _("Only http:// and https:// URLs can receive webhooks."),
        "credentials": _("The URL must not contain a user name or password."),
        "no_host": _("The URL needs a host name."),
        "unresolvable": _("The host name could not be resolved."),
        "forbidden_address": _(
            "This URL points to a private or reserved network address; webhooks are refused."
        ),
    }


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One verifying TLS context per process: making one loads the CA bundle (~25 ms)."""
    return ssl.create_default_context()


def _split_url(url: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, path+query) of an acceptable URL; raises UnsafeUrl."""
    if not url or len(url) > MAX_URL_LENGTH:
        raise UnsafeUrl("too_long")
    if any(ord(ch) < 33 or ord(ch) == 127 for ch in url):
        raise UnsafeUrl("bad_characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise UnsafeUrl("malformed") from None
    if parts.scheme not in ("http", "https"):
        raise UnsafeUrl("scheme")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise UnsafeUrl("credentials")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise UnsafeUrl("no_host")
    if port is None:
        port = 443 if parts.scheme == "https" else 80
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return parts.scheme, host, port, path


def resolve(host: str, port: int, *, allow_private: bool) -> list[str]:
    """Every address `host` resolves to, all of them checked; raises UnsafeUrl when one is
    not allowed (a name with one private address among public ones is refused)."""
    if host.lower() in METADATA_HOSTS:
        raise UnsafeUrl("forbidden_address")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise UnsafeUrl("unresolvable") from None
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise UnsafeUrl("unresolvable")
    if not all(address_allowed(a, allow_private=allow_private) for a in addresses):
        raise UnsafeUrl("forbidden_address")
    return addresses


def check_url(url: str, *, allow_private: bool | None = None) -> str:
    """The URL, stripped, when a webhook may be sent there; raises InvalidWebhookUrl.

    Only http/https, no credentials, at most 2000 characters, and every address the host
    resolves to must be public (unless WEBHOOK_ALLOW_PRIVATE)."""
    url = (url or "").strip()
    if allow_private is None:
        allow_private = _allow_private()
    try:
        _, host, port, _path = _split_url(url)
        resolve(host, port, allow_private=allow_private)
    except UnsafeUrl as exc:
        raise _refused(_messages()[exc.reason]) from None
    return url


def _refused(message: str) -> InvalidWebhookUrl:
    return InvalidWebhookUrl(message, fields={"url": message})


def _allow_private() -> bool:
    return bool(current_app.config.get("WEBHOOK_ALLOW_PRIVATE", False))


# --- Sending ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SendResult:
    """What one HTTP attempt got: a status code, or an error text (never both empty)."""

    status_code: int | None
    error: str | None
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def _pinned_connector(
    addresses: list[str], port: int, deadline: float
) -> Callable[..., socket.socket]:
    """http.client's `_create_connection`, connecting only to the checked addresses, one
    after the other, within the attempt's time."""

    def connect(_address, timeout, source_address=None):
        last_error: OSError | None = None
        for address in addresses:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no time left to connect")
            try:
                return socket.create_connection(
                    (address, port), min(timeout, remaining), source_address
                )
            except OSError as exc:
                last_error = exc
        raise last_error or OSError("no address to connect to")

    return connect


def send(url: str, body: bytes, headers: dict[str, str], *, timeout: float) -> SendResult:
    """POST `body` to `url`: addresses re-checked now, no redirects, at most `timeout`
    seconds in all (a watchdog cuts a receiver that drips its answer)."""
    started = time.monotonic()

    def result(status: int | None, error: str | None) -> SendResult:
        return SendResult(status, error, int((time.monotonic() - started) * 1000))

    try:
        scheme, host, port, path = _split_url(url)
        addresses = resolve(host, port, allow_private=_allow_private())
    except UnsafeUrl as exc:
        return result(None, "refused: " + exc.reason)
    if scheme == "https":
        connection: http.client.HTTPConnection = http.client.HTTPSConnection(
            host, port, timeout=timeout, context=_tls_context()
        )
    else:
        connection = http.client.HTTPConnection(host, port, timeout=timeout)
    connection._create_connection = _pinned_connector(addresses, port, started + timeout)
    watchdog = threading.Timer(timeout, _cut, args=(connection,))
    watchdog.daemon = True
    watchdog.start()
    try:
        connection.request("POST", path, body=body, headers=headers)
        status = connection.getresponse().status  # the body is not needed: closed unread
    except (OSError, http.client.HTTPException, ValueError) as exc:
        timed_out = isinstance(exc, TimeoutError) or time.monotonic() - started >= timeout
        return result(None, "timeout" if timed_out else _describe(exc))
    finally:
        watchdog.cancel()
        connection.close()
    if 300 <= status < 400:
        return result(status, "redirect not followed")
    if not 200 <= status < 300:
        return result(status, f"HTTP {status}")
    return result(status, None)


def _cut(connection: http.client.HTTPConnection) -> None:
    """Wake a blocked read when the whole attempt ran out of time."""
    sock = connection.sock
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def _describe(exc: BaseException) -> str:
    """A short error text without addresses (the log must not carry receivers' IPs)."""
    if isinstance(exc, ssl.SSLError):
        return "TLS error"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ConnectionResetError):
        return "connection reset"
    if isinstance(exc, http.client.HTTPException):
        return "invalid HTTP response"
    return type(exc).__name__


# --- Secrets and signatures -------------------------------------------------------------


def new_secret() -> str:
    """`whsec_` + base64 of 32 random bytes (the spec asks for 24 to 64)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def _seal(secret: str) -> str:
    return crypto.encrypt(secret).decode("ascii")


def _unseal(sealed: str | None) -> str | None:
    return crypto.decrypt(sealed.encode("ascii")) if sealed else None


def signing_secrets(endpoint: WebhookEndpoint, now: datetime | None = None) -> list[str]:
    """The current secret, plus the previous one while its rotation overlap lasts."""
    now = now or utcnow()
    found = [_unseal(endpoint.secret_encrypted)]
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret_encrypted and expires is not None and expires > now:
        found.append(_unseal(endpoint.previous_secret_encrypted))
    return [s for s in found if s]


def signature_headers(
    msg_id: str, body: str, secrets_: list[str], at: datetime | None = None
) -> dict[str, str]:
    """The three Standard Webhooks headers; one `v1,…` signature per secret."""
    at = at or datetime.now(UTC)
    signature = " ".join(Webhook(s).sign(msg_id, at, body) for s in secrets_)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
    }


# --- Endpoints --------------------------------------------------------------------------


def _subscription_cache() -> dict[int, tuple[float, frozenset[str]]]:
    return current_app.extensions.setdefault("webhook_subscriptions", {})


def _forget_subscriptions(customer_id: int) -> None:
    _subscription_cache().pop(customer_id, None)


def subscribed_events(customer_id: int) -> frozenset[str]:
    """The events the customer's enabled endpoints want, cached per process for a few
    seconds (WEBHOOK_SUBSCRIPTION_CACHE_SECONDS, default 10): `emit` runs on the tracking hot
    path and most customers have no endpoint. Changes made here clear the entry at once;
    other processes see them within the TTL (the send re-checks the endpoint anyway)."""
    cache = _subscription_cache()
    now = time.monotonic()
    hit = cache.get(customer_id)
    if hit is not None and hit[0] > now:
        return hit[1]
    rows = db.session.scalars(
        select(WebhookEndpoint.events).where(
            WebhookEndpoint.customer_id == customer_id, WebhookEndpoint.enabled.is_(True)
        )
    ).all()
    events = frozenset(e for row in rows for e in (row or []))
    if len(cache) > 50_000:
        cache.clear()
    ttl = float(current_app.config.get("WEBHOOK_SUBSCRIPTION_CACHE_SECONDS", 10))
    cache[customer_id] = (now + ttl, events)
    return events


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


def _owned_endpoint(customer_id: int, endpoint_id: int) -> WebhookEndpoint:
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
    return _owned_endpoint(customer_id, endpoint_id)


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
        raise _refused(_("Enter the URL that should receive the webhooks."))
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
        secret_encrypted=_seal(secret),
        enabled=True,
        consecutive_failures=0,
    )
    db.session.add(endpoint)
    db.session.commit()
    _forget_subscriptions(customer_id)
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
    endpoint = _owned_endpoint(customer_id, endpoint_id)
    if url is not None:
        if not isinstance(url, str):
            raise _refused(_("Enter the URL that should receive the webhooks."))
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
    _forget_subscriptions(customer_id)
    return endpoint


def delete_endpoint(customer_id: int, endpoint_id: int) -> None:
    """Deletes the endpoint with its deliveries and attempts. Commits."""
    endpoint = _owned_endpoint(customer_id, endpoint_id)
    delivery_ids = select(WebhookDelivery.id).where(WebhookDelivery.endpoint_id == endpoint.id)
    db.session.execute(
        WebhookAttempt.__table__.delete().where(WebhookAttempt.delivery_id.in_(delivery_ids))
    )
    db.session.execute(
        WebhookDelivery.__table__.delete().where(WebhookDelivery.endpoint_id == endpoint.id)
    )
    db.session.delete(endpoint)
    db.session.commit()
    _forget_subscriptions(customer_id)


def rotate_secret(customer_id: int, endpoint_id: int) -> tuple[str, datetime]:
    """A new secret; the old one keeps signing too for 24 hours, so the receiver can switch
    without losing a message. Returns (new secret, when the old one stops). Commits."""
    endpoint = _owned_endpoint(customer_id, endpoint_id)
    secret = new_secret()
    expires = utcnow() + ROTATION_OVERLAP
    endpoint.previous_secret_encrypted = endpoint.secret_encrypted
    endpoint.previous_secret_expires_at = expires
    endpoint.secret_encrypted = _seal(secret)
    db.session.commit()
    return secret, expires


# --- Deliveries -------------------------------------------------------------------------


def iso(value: datetime | None) -> str | None:
    """ISO-8601 UTC with a `Z`, as the payload's `timestamp`."""
    if value is None:
        return None
    return value.replace(microsecond=0).isoformat() + "Z"


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
    counts towards switching the endpoint off). Returns the delivery id."""
    endpoint = _owned_endpoint(customer_id, endpoint_id)
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
    endpoint = _owned_endpoint(customer_id, endpoint_id)
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
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        **signature_headers(delivery.msg_id, payload, signing_secrets(endpoint, now)),
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
        _forget_subscriptions(endpoint.customer_id)
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
