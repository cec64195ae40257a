"""Domain events for webhooks (API.md "Webhooks"; the list is `endpoints.EVENTS`).

Services call `emit` only after the commit of the change it reports, so a receiver never
hears of something that was rolled back. Each subscribed, enabled endpoint of the customer
gets one delivery row and one job (`jobs.webhooks.deliver`).
"""

from __future__ import annotations

import logging
from typing import Any

from ..extensions import db
from . import deliveries

log = logging.getLogger(__name__)


def emit(customer_id: int, event: str, data: dict[str, Any], ref_code: str | None = None) -> None:
    """Queue `event` for the customer's endpoints. Cheap when there are none (hot path: a
    per-process cache answers "no endpoint wants this"). Never raises: the change it reports
    is already committed, and a webhook problem must not fail the caller's request."""

    try:
        deliveries.queue_event(customer_id, event, data, ref_code)
    except Exception:  # noqa: BLE001 - see the docstring
        db.session.rollback()
        log.exception("could not queue webhook event %s for customer %s", event, customer_id)
