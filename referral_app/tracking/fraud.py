"""The anti-fraud rules (DESIGN.md "Anti-fraud") and the fraud log.

The decisions are plain functions over plain numbers, so they read like the rules and are
tested as such; the state they need comes from `rate_counters` and `rule_lookups`.

Fraud log entries carry a type from API.md and a `details` dict of numbers and rule names
only: no IP, user agent, e-mail or other personal data, ever.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from ..models import FRAUD_TYPES, FraudLogEntry

log = logging.getLogger(__name__)


_EPOCH = datetime(1970, 1, 1)

BOT_USER_AGENT = "bot_user_agent"
SELF_REFERRAL = "self_referral"
CLICK_RATE_LIMIT = "click_rate_limit"
IP_DAILY_LIMIT = "ip_daily_limit"
CONVERSION_RATE_LIMIT = "conversion_rate_limit"
DUPLICATE_FINGERPRINT = "duplicate_fingerprint"
FAST_CONVERSION = "fast_conversion"
NO_PRIOR_CLICK = "no_prior_click"
VELOCITY = "velocity"
FOREIGN_SITE = "foreign_site"


@dataclass(frozen=True)
class Thresholds:
    """The rules' numbers, from the app config (FRAUD_* keys)."""

    window: timedelta
    ip_daily_clicks: int
    conversions_per_ip: int
    fast_conversion_seconds: float
    participant_hourly_conversions: int

    @classmethod
    def from_config(cls, config: Any) -> Thresholds:
        return cls(
            window=timedelta(hours=int(config.get("FRAUD_CLICK_WINDOW_HOURS", 24))),
            ip_daily_clicks=int(config.get("FRAUD_IP_DAILY_CLICKS", 10)),
            conversions_per_ip=int(config.get("FRAUD_CONVERSIONS_PER_IP", 5)),
            fast_conversion_seconds=float(config.get("FRAUD_FAST_CONVERSION_SECONDS", 5)),
            participant_hourly_conversions=int(
                config.get("FRAUD_PARTICIPANT_HOURLY_CONVERSIONS", 20)
            ),
        )


def over_limit(count: int, limit: int) -> bool:
    """`count` includes the event being decided: the limit-th one still passes."""
    return count > limit


def seconds_between(click_at: datetime, now: datetime) -> float:
    return round((now - click_at).total_seconds(), 3)


def is_fast_conversion(seconds: float, threshold: float) -> bool:
    """Freebie to thank-you page faster than a person reads: suspicious (the seed's 5 s).
    A negative gap (clock skew between servers) is as suspicious as a tiny one."""
    return seconds < threshold


@dataclass(frozen=True)
class Finding:
    """One fired rule: its API.md type and what made it fire (numbers and names only)."""

    type: str
    details: dict[str, Any]


def write_log(
    session: Session,
    findings: list[Finding],
    *,
    event: str,
    customer_id: int,
    participant_id: int | None,
    ref_code: str,
    ip_hash: str,
    now: datetime,
    click_id: int | None = None,
    conversion_id: int | None = None,
) -> None:
    """One fraud-log row per finding, in the caller's transaction."""
    if not findings:
        return
    rows = []
    for finding in findings:
        if finding.type not in FRAUD_TYPES:
            raise ValueError(f"unknown fraud type {finding.type!r}")
        rows.append(
            {
                "customer_id": customer_id,
                "participant_id": participant_id,
                "ref_code": ref_code,
                "type": finding.type,
                "event": event,
                "click_id": click_id,
                "conversion_id": conversion_id,
                "ip_hash": ip_hash,
                "details": finding.details,
                "created_at": now,
            }
        )
    session.execute(FraudLogEntry.__table__.insert(), rows)
