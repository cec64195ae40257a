"""Short-lived caches for reads that run on every request (the tracking hot path, a polling
panel): one kind, built on cachetools, bounded in size, each entry living the seconds its
setting gives at the time it is stored (a test or an operator can change them per app)."""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from cachetools import TLRUCache
from flask import current_app

T = TypeVar("T")


def _expires(_key: Hashable, entry: tuple[float, Any], now: float) -> float:
    return now + entry[0]


class ExpiringCache:
    """Entries expire `ttl` seconds after they are stored; a ttl of 0 stores nothing."""

    def __init__(self, maxsize: int) -> None:
        self._entries: TLRUCache = TLRUCache(maxsize=maxsize, ttu=_expires, timer=time.monotonic)

    def get(self, key: Hashable) -> Any | None:
        entry = self._entries.get(key)
        return None if entry is None else entry[1]

    def set(self, key: Hashable, value: Any, ttl: float) -> None:
        if ttl > 0:
            self._entries[key] = (ttl, value)

    def pop(self, key: Hashable) -> None:
        self._entries.pop(key, None)

    def clear(self) -> None:
        self._entries.clear()

    def get_or_compute(self, key: Hashable, ttl: float, compute: Callable[[], T]) -> T:
        entry = self._entries.get(key)
        if entry is not None:
            return entry[1]
        value = compute()
        self.set(key, value, ttl)
        return value


def app_cache(name: str, maxsize: int = 10_000) -> ExpiringCache:
    """The current app's cache called `name` (made on first use)."""
    caches = current_app.extensions.setdefault("expiring_caches", {})
    cache = caches.get(name)
    if cache is None:
        cache = caches[name] = ExpiringCache(maxsize)
    return cache


def ttl_setting(name: str, default: float) -> float:
    return float(current_app.config.get(name, default))
