"""Per-account login throttling: many wrong passwords for one address slow down logins to
that address, from whatever IP they come, without locking the owner out for long.

After LOGIN_FAILURES_ALLOWED wrong passwords within LOGIN_FAILURE_WINDOW seconds, the
account waits before the next attempt is even checked: 30 s, then twice as long after each
further failure (the level is kept for an hour, so waiting out a window does not start
again at 30 s), at most LOGIN_LOCK_MAX_SECONDS (15 min). A successful login or a password
reset clears it. The counts live in the rate limiter's storage (Redis when configured,
memory otherwise), under a keyed hash of the normalised address: no address in Redis.
Unknown addresses count the same way (the answer must not tell whether one exists).
Storage errors never block a login: the per-IP limit still applies then.
"""

from __future__ import annotations

import logging
import math
import time

from flask import current_app
from limits import parse

from ..core.crypto import keyed_hash
from ..extensions import limiter

log = logging.getLogger(__name__)

FIRST_LOCK_SECONDS = 30
LEVEL_SECONDS = 3600


def _settings() -> tuple[int, int, int]:
    config = current_app.config
    return (
        int(config.get("LOGIN_FAILURES_ALLOWED", 5)),
        int(config.get("LOGIN_FAILURE_WINDOW", 900)),
        int(config.get("LOGIN_LOCK_MAX_SECONDS", 900)),
    )


def _keys(email: str) -> tuple[str, str, str]:
    """The failures in the window, the current lock, and the lock level."""
    digest = keyed_hash("login-throttle", (email or "").strip().lower())
    return f"login-failures/{digest}", f"login-lock/{digest}", f"login-level/{digest}"


def _storage():
    if not limiter.enabled:
        return None
    return limiter.storage


def wait_seconds(email: str) -> int:
    """How long this account must still wait before a login is checked; 0: go ahead."""
    storage = _storage()
    if storage is None:
        return 0
    _failures, lock, _level = _keys(email)
    try:
        if storage.get(lock) <= 0:
            return 0
        return max(1, math.ceil(storage.get_expiry(lock) - time.time()))
    except Exception as exc:  # noqa: BLE001 - the storage being away never blocks a login
        log.warning("login throttle unavailable: %s", type(exc).__name__)
        return 0


def record_failure(email: str) -> int:
    """Count a wrong password; returns the wait it starts (0 while under the allowance)."""
    storage = _storage()
    if storage is None:
        return 0
    allowed, window, cap = _settings()
    failures, lock, level_key = _keys(email)
    try:
        if storage.incr(failures, window) < allowed:
            return 0
        level = storage.incr(level_key, LEVEL_SECONDS)
        delay = min(FIRST_LOCK_SECONDS * 2 ** min(level - 1, 20), cap)
        storage.clear(lock)
        storage.incr(lock, delay)
        return delay
    except Exception as exc:  # noqa: BLE001
        log.warning("login throttle unavailable: %s", type(exc).__name__)
        return 0


def clear(email: str) -> None:
    """The owner proved who they are (a login, a password reset): start afresh."""
    storage = _storage()
    if storage is None:
        return
    try:
        for key in _keys(email):
            storage.clear(key)
    except Exception as exc:  # noqa: BLE001
        log.warning("login throttle unavailable: %s", type(exc).__name__)


def reset_mail_allowed(email: str) -> bool:
    """Whether one more reset mail may go to this address now (PASSWORD_RESET_PER_ACCOUNT,
    e.g. "3/hour"): a mailbox is not to be flooded from many IPs."""
    if not limiter.enabled:
        return True
    digest = keyed_hash("password-reset", (email or "").strip().lower())
    try:
        item = parse(current_app.config.get("PASSWORD_RESET_PER_ACCOUNT") or "3/hour")
        return limiter.limiter.hit(item, "password-reset", digest)
    except Exception as exc:  # noqa: BLE001
        log.warning("reset mail throttle unavailable: %s", type(exc).__name__)
        return True
