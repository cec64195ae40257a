"""Webhook endpoints and deliveries (Standard Webhooks). Filled in by the webhooks issue."""

from __future__ import annotations

from typing import Any


def queue_event(customer_id: int, event: str, data: dict[str, Any], ref_code: str | None) -> None:
    """No endpoints can exist before the webhooks issue: nothing to deliver."""
    return None
