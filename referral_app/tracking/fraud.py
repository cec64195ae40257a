"""The anti-fraud rules (DESIGN.md "Anti-fraud") and the fraud log.

The decisions are plain functions over plain numbers, so they read like the rules and are
tested as such. The state they need (how many clicks an IP made today, how many conversions
a participant code had this hour) is a windowed counter shared by every app server: one Redis
round trip when `REDIS_URL` is set, otherwise a row in `rate_counters` upserted in the event's
own transaction — never a worker's memory.

Fraud log entries carry a type from API.md and a `details` dict of numbers and rule names
only: no IP, user agent, e-mail or other personal data, ever.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from flask import current_app
from redis.exceptions import RedisError
from sqlalchemy import and_, bindparam, case, delete, func, or_, select, true
from sqlalchemy.dialects import mysql, sqlite
from sqlalchemy.orm import Session

from ..models import FRAUD_TYPES, FraudLogEntry, ParticipantDevice, RateCounter
from .visitor import Visitor

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

# Count one event in KEYS[1]'s window (a hash: n = count, e = when the window ends, in the
# app's clock, so windows behave exactly as the database's) and add KEYS[2]'s count while its
# window lasts (the same IP under the previous salt): one round trip, atomic.
_HIT_SCRIPT = """
local now, ttl = tonumber(ARGV[1]), tonumber(ARGV[2])
local function live(key)
  local v = redis.call('HMGET', key, 'n', 'e')
  if v[1] and now < tonumber(v[2]) then return tonumber(v[1]) end
  return 0
end
local n
if live(KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'n', 1, 'e', now + ttl)
  redis.call('EXPIRE', KEYS[1], ttl + 3600)
  n = 1
else
  n = redis.call('HINCRBY', KEYS[1], 'n', 1)
end
if KEYS[2] then n = n + live(KEYS[2]) end
return n
"""
_scripts: dict[int, Any] = {}


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


# --- the decisions ---------------------------------------------------------------------------


def over_limit(count: int, limit: int) -> bool:
    """`count` includes the event being decided: the limit-th one still passes."""
    return count > limit


def seconds_between(click_at: datetime, now: datetime) -> float:
    return round((now - click_at).total_seconds(), 3)


def is_fast_conversion(seconds: float, threshold: float) -> bool:
    """Freebie to thank-you page faster than a person reads: suspicious (the seed's 5 s).
    A negative gap (clock skew between servers) is as suspicious as a tiny one."""
    return seconds < threshold


# --- the counters ------------------------------------------------------------------------------


def ip_day_key(ip_hash: str, now: datetime) -> tuple[str, int]:
    """Today's click counter of one IP (UTC day), and the seconds until the day ends."""
    day_end = datetime.combine(now.date() + timedelta(days=1), datetime.min.time())
    return f"ipday:{now:%Y%m%d}:{ip_hash}", max(1, int((day_end - now).total_seconds()) + 60)


def conversion_ip_key(customer_id: int, ip_hash: str) -> str:
    """Conversions of one IP in one program; the window runs from its first conversion."""
    return f"convip:{customer_id}:{ip_hash}"


def velocity_key(participant_id: int, now: datetime) -> tuple[str, int]:
    """Conversions on one participant code within an hour of the window's first one (like
    every other counter here: a burst is not cut in two by the turn of a clock hour)."""
    return f"vel:{participant_id}", 3600


def hit(
    session: Session, key: str, ttl_seconds: int, now: datetime, also: str | None = None
) -> int:
    """Count one event at `key` (the window starts with its first event and lasts
    `ttl_seconds`) and return the count, plus `also`'s count when given.

    Redis when configured (one atomic script call); the database otherwise, in the caller's
    transaction. A Redis outage falls back to the database rather than failing the request.
    """
    if current_app.config.get("REDIS_URL"):
        try:
            return _redis_hit(key, ttl_seconds, now, also)
        except RedisError:
            log.warning("fraud counters: Redis unavailable, counting in the database")
    return _db_hit(session, key, ttl_seconds, now, also)


def _redis_hit(key: str, ttl_seconds: int, now: datetime, also: str | None) -> int:
    from ..core.redis_conn import get_redis

    client = get_redis()
    script = _scripts.get(id(client))
    if script is None:
        script = _scripts[id(client)] = client.register_script(_HIT_SCRIPT)
    keys = ["fraud:" + key] + (["fraud:" + also] if also else [])
    epoch = int((now - _EPOCH).total_seconds())
    return int(script(keys=keys, args=[epoch, ttl_seconds]))


def _db_hit(session: Session, key: str, ttl_seconds: int, now: datetime, also: str | None) -> int:
    table = RateCounter.__table__
    expires = now + timedelta(seconds=ttl_seconds)
    expired = table.c.expires_at <= now
    new_count = case((expired, 1), else_=table.c.count + 1)
    new_expiry = case((expired, expires), else_=table.c.expires_at)
    values = {"key": key, "count": 1, "expires_at": expires}
    if session.get_bind().dialect.name == "sqlite":
        stmt = sqlite.insert(table).values(values)
        stmt = stmt.on_conflict_do_update(
            index_elements=["key"], set_={"count": new_count, "expires_at": new_expiry}
        )
    else:
        # MySQL applies the assignments left to right: `count` must see the old expiry.
        stmt = mysql.insert(table).values(values)
        stmt = stmt.on_duplicate_key_update([("count", new_count), ("expires_at", new_expiry)])
    session.execute(stmt)
    keys = [key, also] if also else [key]
    return int(
        session.scalar(
            select(func.coalesce(func.sum(table.c.count), 0)).where(
                table.c.key.in_(keys), table.c.expires_at > now
            )
        )
    )


def purge_expired_counters(session: Session, now: datetime) -> int:
    """Delete database counters whose window has passed (for the daily job). No commit."""
    table = RateCounter.__table__
    return session.execute(delete(table).where(table.c.expires_at <= now)).rowcount


# --- lookups of the rules --------------------------------------------------------------------

# Built once with bind parameters (hot path). A visitor without a previous salt passes
# salt id -1, which matches nothing.
_device = ParticipantDevice.__table__
_OWN_DEVICE = (
    select(_device.c.participant_id)
    .where(
        _device.c.participant_id == bindparam("participant_id"),
        or_(
            and_(_device.c.salt_id == bindparam("salt"), _device.c.fingerprint == bindparam("fp")),
            and_(
                _device.c.salt_id == bindparam("previous_salt"),
                _device.c.fingerprint == bindparam("previous_fp"),
            ),
        ),
    )
    .limit(1)
)


def _visitor_params(visitor: Visitor) -> dict[str, Any]:
    return {
        "salt": visitor.salt_id,
        "fp": visitor.fingerprint,
        "previous_salt": visitor.previous_salt_id if visitor.previous_salt_id else -1,
        "previous_fp": visitor.previous_fingerprint or "",
    }


def own_device(session: Session, participant_id: int, visitor: Visitor) -> bool:
    """Is this visitor one of the participant's own devices (seen at sign-up, confirmation or
    on their hub) under the current or the previous salt?"""
    params = {"participant_id": participant_id, **_visitor_params(visitor)}
    return session.execute(_OWN_DEVICE, params).first() is not None


@lru_cache(maxsize=4)
def _counted_before_statement(table: Any) -> Any:
    return (
        select(table.c.id)
        .where(
            table.c.ref_code == bindparam("code"),
            table.c.first_in_period == true(),
            or_(
                and_(table.c.salt_id == bindparam("salt"), table.c.fingerprint == bindparam("fp")),
                and_(
                    table.c.salt_id == bindparam("previous_salt"),
                    table.c.fingerprint == bindparam("previous_fp"),
                    table.c.created_at >= bindparam("since"),
                ),
            ),
        )
        .limit(1)
    )


def counted_before(
    session: Session, table: Any, ref_code: str, visitor: Visitor, since: datetime
) -> bool:
    """Was this visitor already counted on this code within the window? The current salt's
    period lies inside the window; the previous salt's rows are checked by their time."""
    params = {"code": ref_code, "since": since, **_visitor_params(visitor)}
    return session.execute(_counted_before_statement(table), params).first() is not None


@lru_cache(maxsize=2)
def _latest_click_statement(table: Any) -> Any:
    return (
        select(table.c.id, table.c.created_at)
        .where(
            table.c.ref_code == bindparam("code"),
            table.c.first_in_period == true(),
            or_(
                and_(table.c.salt_id == bindparam("salt"), table.c.fingerprint == bindparam("fp")),
                and_(
                    table.c.salt_id == bindparam("previous_salt"),
                    table.c.fingerprint == bindparam("previous_fp"),
                ),
            ),
        )
        .order_by(table.c.created_at.desc())
        .limit(1)
    )


@lru_cache(maxsize=2)
def _click_by_id_statement(table: Any) -> Any:
    return select(table.c.id, table.c.created_at).where(
        table.c.id == bindparam("click_id"), table.c.ref_code == bindparam("code")
    )


def prior_click(
    session: Session, clicks: Any, ref_code: str, visitor: Visitor, click_id: int | None
) -> tuple[int, datetime] | None:
    """The click a conversion follows: the one named by `click_id` if it is on this code,
    else this visitor's latest counted click on the code (current or previous salt)."""
    if click_id is not None:
        row = session.execute(
            _click_by_id_statement(clicks), {"click_id": click_id, "code": ref_code}
        ).first()
        if row is not None:
            return row[0], row[1]
    params = {"code": ref_code, **_visitor_params(visitor)}
    row = session.execute(_latest_click_statement(clicks), params).first()
    return (row[0], row[1]) if row is not None else None


# --- the log ----------------------------------------------------------------------------------


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
