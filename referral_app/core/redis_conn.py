"""One Redis client per process, made on first use (no network work at start-up)."""

from __future__ import annotations

from flask import current_app
from redis import Redis

_clients: dict[str, Redis] = {}


def get_redis() -> Redis:
    url = current_app.config["REDIS_URL"]
    client = _clients.get(url)
    if client is None:
        client = Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        _clients[url] = client
    return client
