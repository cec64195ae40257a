"""Domain events for webhooks (API.md "Webhooks"): `click`, `conversion`, `lead.registered`,
`lead.confirmed`, `reward.earned`.

Services call `emit` only after the commit of the change it reports, so a receiver never
hears of something that was rolled back. Each subscribed, enabled endpoint of the customer
gets one delivery row and one job (`jobs.webhooks.deliver`).
"""

from __future__ import annotations

from typing import Any

EVENTS = ("click", "conversion", "lead.registered", "lead.confirmed", "reward.earned")


def emit(customer_id: int, event: str, data: dict[str, Any], ref_code: str | None = None) -> None:
    """Queue `event` for the customer's endpoints. Cheap when there are none (hot path)."""
    from . import webhooks

    webhooks.queue_event(customer_id, event, data, ref_code)
