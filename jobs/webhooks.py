"""Webhook delivery job: one job per delivery (and per retry)."""

from __future__ import annotations

from referral_app.webhooks import deliveries


def deliver(delivery_id: int) -> str | None:
    """One attempt at delivery `delivery_id`; safe to run twice (the claim in the database
    lets only one run send a given attempt). Returns the delivery's new status, or None
    when it was not due (already sent, being sent, or its retry time not reached)."""
    return deliveries.attempt_delivery(delivery_id)
