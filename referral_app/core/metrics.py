"""Prometheus metrics at `/metrics`: request latency per endpoint, tracking events counted
and refused by reason, queue depth, failed e-mails and webhook deliveries.

With several gunicorn workers set PROMETHEUS_MULTIPROC_DIR (an empty directory) so the
workers' counters are added up at scrape time. Access: `Authorization: Bearer $METRICS_TOKEN`,
or, with no token configured, only from the machine itself (an internal bind)."""

from __future__ import annotations

import hmac
import ipaddress
import os

from flask import Blueprint, Response, abort, current_app, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import func, select

from ..extensions import db
from ..models import OutgoingMail, WebhookDelivery
from .queue import QUEUES, get_queue

bp = Blueprint("metrics", __name__)

REQUEST_SECONDS = Histogram(
    "referral_request_seconds",
    "Time spent answering a request, by endpoint.",
    ["endpoint", "method", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
EVENTS = Counter(
    "referral_events_total",
    "Tracking events by outcome: counted (tracked), duplicate or blocked, with the reason.",
    ["event", "status", "reason"],
)


def observe_request(endpoint: str | None, method: str, status: int, seconds: float) -> None:
    REQUEST_SECONDS.labels(endpoint or "unmatched", method, str(status)).observe(seconds)


def count_event(event: str, status: str, reason: str | None = None) -> None:
    """Called by the tracking engine once per answered event."""
    EVENTS.labels(event, status, reason or "").inc()


class _StateCollector:
    """Gauges read at scrape time from the database and Redis (cheap, indexed counts)."""

    def collect(self):

        mails = GaugeMetricFamily(
            "referral_mails", "E-mails in the outbox by status.", labels=["status"]
        )
        for status, count in db.session.execute(
            select(OutgoingMail.status, func.count()).group_by(OutgoingMail.status)
        ):
            mails.add_metric([status], count)
        yield mails
        hooks = GaugeMetricFamily(
            "referral_webhook_deliveries", "Webhook deliveries by status.", labels=["status"]
        )
        for status, count in db.session.execute(
            select(WebhookDelivery.status, func.count()).group_by(WebhookDelivery.status)
        ):
            hooks.add_metric([status], count)
        yield hooks
        if current_app.config.get("REDIS_URL"):
            depth = GaugeMetricFamily(
                "referral_queue_depth", "Jobs waiting in each RQ queue.", labels=["queue"]
            )
            try:
                for name in QUEUES:
                    depth.add_metric([name], len(get_queue(name)))
            except Exception:  # noqa: BLE001 - Redis down: report nothing rather than fail
                return
            yield depth


def _allowed() -> bool:
    token = current_app.config.get("METRICS_TOKEN")
    if token:
        given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        return hmac.compare_digest(given.encode(), token.encode())
    try:
        return ipaddress.ip_address(request.remote_addr or "").is_loopback
    except ValueError:
        return False


@bp.get("/metrics")
def metrics() -> Response:
    if not _allowed():
        abort(403)
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(REQUEST_SECONDS)
        registry.register(EVENTS)
    registry.register(_StateCollector())
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
