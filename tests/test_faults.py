"""Fault tests with real services: the database connection dropped, Redis gone."""

from __future__ import annotations

import pytest

from .support_services import kill_database_connections, private_redis  # noqa: F401

pytestmark = pytest.mark.both_backends  # connection drops and Redis fallbacks


def test_pool_recovers_after_the_database_dropped_its_connections(
    app, client, backend_name, customer, auth
):
    if backend_name != "mariadb":
        pytest.skip("connection drops are a MariaDB matter (SQLite has no server)")
    auth.login(customer["email"], customer["password"])
    assert client.get("/dashboard/").status_code == 200
    assert kill_database_connections(app) >= 1
    statuses = [client.get("/dashboard/").status_code for _ in range(5)]
    statuses += [client.get("/healthz").status_code for _ in range(5)]
    assert statuses == [200] * 10


def test_login_rate_limit_falls_back_when_redis_goes_away(make_app, private_redis, customer):
    app = make_app(
        RATELIMIT_ENABLED=True,
        RATELIMIT_STORAGE_URI=private_redis.url,
        RATELIMIT_LOGIN="100/minute",
    )
    client = app.test_client()
    assert client.get("/login").status_code == 200
    private_redis.stop()
    response = client.post("/login", data={"email": customer["email"], "password": "x"})
    assert response.status_code in (400, 401)  # an answer, not a 5xx
    assert client.get("/login").status_code == 200
    private_redis.start()
    assert client.get("/login").status_code == 200
