"""The scheduled jobs (DESIGN.md "Jobs"). Plain functions: the worker runs them on its
schedule, `flask jobs run daily|monthly` runs them now, tests call them directly. Each is
idempotent: running it twice, or in two workers at once, has the effect of running it once.
"""

from __future__ import annotations

from typing import Any

from flask import current_app

from jobs import mail as mail_jobs
from jobs import signup as signup_jobs
from referral_app.extensions import db
from referral_app.models import utcnow
from referral_app.participants import erasure, intake
from referral_app.rewards import codes as reward_codes
from referral_app.rewards import fulfilment
from referral_app.rewards import ledger as rewards
from referral_app.tracking import rate_counters, retention
from referral_app.webhooks import deliveries


def daily() -> dict[str, Any]:
    """Reward grants, the release of those whose hold is over (with their codes) and their
    mails (each mail exactly once), low-stock notes for code banks, deletion of sign-ups never
    confirmed, salt rotation, and a sweep of mails whose retry is due."""
    now = utcnow()
    ledger = rewards.sync_ledger()
    released = fulfilment.release_due(now)
    queued = rewards.queue_reward_mails()
    low_stock = reward_codes.warn_low_stock(current_app.config["PUBLIC_BASE_URL"], now)
    unconfirmed = erasure.delete_unconfirmed(now)
    salts = retention.rotate_salts(now)
    counters = rate_counters.purge_expired_counters(db.session, now)
    intake_purged = intake.purge(now)
    db.session.commit()
    sweep = mail_jobs.sweep()
    webhook_retries = deliveries.retry_due()
    return {
        "ok": True,
        "job": "daily",
        "reward_grants": ledger,
        "rewards_released": released,
        "reward_mails_queued": queued,
        "low_stock_warnings": low_stock,
        "unconfirmed_deleted": unconfirmed,
        **salts,
        **sweep,
        "webhook_retries": webhook_retries,
        "expired_counters_deleted": counters,
        "signup_intake_deleted": intake_purged,
    }


def monthly() -> dict[str, Any]:
    """Raw events past retention are deleted; their counts stay in the aggregates."""
    return {"ok": True, "job": "monthly", **retention.delete_old_events(utcnow())}


def retry_mails() -> dict[str, Any]:
    """The every-minute sweep: sign-ups whose job was lost, mails and webhook deliveries
    whose next attempt is due get a job again (their state lives in the database, so nothing
    waits in memory)."""
    return {
        "ok": True,
        "job": "retry_mails",
        **signup_jobs.sweep(),
        **mail_jobs.sweep(),
        "webhook_retries": deliveries.retry_due(),
    }


JOBS = {"daily": daily, "monthly": monthly, "retry_mails": retry_mails}
