"""Fixtures: every test runs on SQLite, and again on MariaDB + Redis when TEST_DATABASE_URL
and TEST_REDIS_URL are set (the same tests, parametrised; not a second suite).

- `backend`: "sqlite" or "mariadb"; the schema is made by the real migrations once per run.
- `app`: an app on that backend; tables are emptied (and the test Redis db flushed) after
  every test. `make_app(**overrides)` builds another app on the same database.
- `client`, `runner`, `auth` as in flaskr's tests.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import text

from referral_app import create_app
from referral_app.config import TestConfig
from referral_app.extensions import db

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL")
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL")

BACKENDS = [
    "sqlite",
    pytest.param(
        "mariadb",
        marks=pytest.mark.skipif(
            not TEST_DATABASE_URL,
            reason="TEST_DATABASE_URL not set: MariaDB + Redis runs skipped (.ci/run sets it)",
        ),
    ),
]

_migrated: dict[str, str] = {}


def _database_url(backend: str, tmp_root: Path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_root / 'test.sqlite3'}"
    assert TEST_DATABASE_URL
    return TEST_DATABASE_URL


def backend_config(backend: str, tmp_root: Path, **overrides) -> dict:
    config = {key: getattr(TestConfig, key) for key in dir(TestConfig) if key.isupper()}
    config["SQLALCHEMY_DATABASE_URI"] = _database_url(backend, tmp_root)
    config["SQLALCHEMY_ENGINE_OPTIONS"] = {"pool_pre_ping": True, "pool_reset_on_return": None}
    if backend == "mariadb" and TEST_REDIS_URL:
        config["REDIS_URL"] = TEST_REDIS_URL
    config.update(overrides)
    return config


def _empty_all_tables() -> None:
    engine = db.engine
    with engine.begin() as connection:
        if engine.dialect.name == "sqlite":
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        else:
            connection.exec_driver_sql("SET FOREIGN_KEY_CHECKS=0")
        for table in reversed(db.metadata.sorted_tables):
            connection.execute(table.delete())
        if engine.dialect.name == "sqlite":
            connection.exec_driver_sql("PRAGMA foreign_keys=ON")
        else:
            connection.exec_driver_sql("SET FOREIGN_KEY_CHECKS=1")


def _flush_redis(app: Flask) -> None:
    if app.config.get("REDIS_URL"):
        from referral_app.core.redis_conn import get_redis

        get_redis().flushdb()


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request, tmp_path_factory) -> Iterator[tuple[str, Path]]:
    root = tmp_path_factory.mktemp(request.param)
    yield request.param, root


@pytest.fixture(scope="session")
def migrated(backend) -> tuple[str, Path]:
    """The database at head, made by the real migrations (once per backend and run)."""
    name, root = backend
    if name not in _migrated:
        app = create_app(backend_config(name, root))
        with app.app_context():
            if name == "mariadb":
                with db.engine.begin() as connection:
                    for table in ("alembic_version", *[t.name for t in db.metadata.sorted_tables]):
                        connection.exec_driver_sql("SET FOREIGN_KEY_CHECKS=0")
                        connection.exec_driver_sql(f"DROP TABLE IF EXISTS `{table}`")
            upgrade()
            db.engine.dispose()
        _migrated[name] = str(root)
    return backend


@pytest.fixture
def make_app(migrated) -> Iterator:
    name, root = migrated
    made: list[Flask] = []

    def factory(**overrides) -> Flask:
        app = create_app(backend_config(name, root, **overrides))
        made.append(app)
        return app

    yield factory
    if made:
        cleaner = create_app(backend_config(name, root))
        with cleaner.app_context():
            _empty_all_tables()
            _flush_redis(cleaner)
            db.engine.dispose()
        for app in made:
            with app.app_context():
                db.session.remove()
                db.engine.dispose()


@pytest.fixture
def app(make_app) -> Flask:
    return make_app()


@pytest.fixture
def backend_name(migrated) -> str:
    return migrated[0]


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def app_ctx(app) -> Iterator[Flask]:
    with app.app_context():
        yield app


class AuthActions:
    """Log in through the real login form (CSRF token included)."""

    def __init__(self, client) -> None:
        self._client = client

    def csrf_token(self, path: str = "/login") -> str:
        import re

        page = self._client.get(path, follow_redirects=True).get_data(as_text=True)
        match = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert match, "no CSRF token on " + path
        return match.group(1)

    def login(self, email: str, password: str):  # type: ignore[no-untyped-def]
        token = self.csrf_token("/login")
        return self._client.post(
            "/login", data={"email": email, "password": password, "csrf_token": token}
        )

    def logout(self):  # type: ignore[no-untyped-def]
        token = self.csrf_token("/login")
        return self._client.post("/logout", data={"csrf_token": token})


@pytest.fixture
def auth(client) -> AuthActions:
    return AuthActions(client)


@pytest.fixture
def customer(app):
    """A customer with an active program and its login (password: 'kunden-passwort'). A
    live program has what going live requires: an Impressum and a privacy notice."""
    from referral_app.accounts import users as accounts

    with app.app_context():
        customer, user = accounts.create_customer(
            "kunde@example.com", "kunden-passwort", "Müller & Söhne GmbH"
        )
        customer.imprint = "Müller & Söhne GmbH\nHauptstraße 5\n80331 München"
        customer.privacy_url = "https://mueller-soehne.example/datenschutz"
        customer.freebie_title = "Checkliste: 10 Fragen vor dem Coaching"
        customer.freebie_url = "https://mueller-soehne.example/checkliste"
        customer.referral_enabled = True
        db.session.commit()
        return {
            "id": customer.id,
            "user_id": user.id,
            "ref_code": customer.ref_code,
            "email": "kunde@example.com",
            "password": "kunden-passwort",
        }


@pytest.fixture
def admin(app):
    from referral_app.accounts import users as accounts

    with app.app_context():
        user = accounts.create_admin("chefin@example.com", "admin-passwort")
        return {"id": user.id, "email": "chefin@example.com", "password": "admin-passwort"}


def api_key_for(app, user_id: int) -> str:
    from referral_app.accounts import users as accounts
    from referral_app.models import User

    with app.app_context():
        user = db.session.get(User, user_id)
        _, raw = accounts.create_api_key(user, "test")
        return raw


def sql(app, statement: str, **params):  # type: ignore[no-untyped-def]
    with app.app_context():
        return db.session.execute(text(statement), params).all()


@pytest.fixture(autouse=True)
def _push_request_context():
    """pytest-flask would keep one request context open for the whole test, so every
    request in a test would share one database session and `g`; real requests don't."""
    yield
