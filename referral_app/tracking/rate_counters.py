"""Windowed counters for the fraud rules (clicks per IP per day, conversions per IP, a
participant code's conversions per hour), shared by every app server: one Redis round trip
(a Lua script) when `REDIS_URL` is set, otherwise a row in `rate_counters` upserted in the
event's own transaction — never a worker's memory.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from redis.exceptions import RedisError
from sqlalchemy import case, delete, func, select
from sqlalchemy.dialects import mysql, sqlite
from sqlalchemy.orm import Session

from ..core.redis_conn import get_redis
from ..models import RateCounter
from .fraud import _EPOCH

log = logging.getLogger(__name__)


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


def ip_day_key(ip_hash: str, now: datetime) -> tuple[str, int]:
    """Today's click counter of one IP (UTC day) across all programs, and the seconds until
    the day ends. `ip_hash` is the visitor's shared hash: this key (in Redis, or a counter
    row the daily job deletes after the day) is the only place it is kept."""
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
