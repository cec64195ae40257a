"""Fixtures: every test runs on SQLite; the tests of engine behaviour run again on MariaDB +
Redis when TEST_DATABASE_URL and TEST_REDIS_URL are set (the same tests, parametrised; not a
second suite).

- Which tests run on both: those of a module (or test) marked `both_backends`, and every test
  that asks for `backend_name` (it behaves by engine). The others: SQLite once.
- `backend`: "sqlite" or "mariadb"; the schema is made by the real migrations once per run
  (per xdist worker).
- `app`: an app on that backend; tables are emptied (and the test Redis db flushed) after
  every test. `make_app(**overrides)` builds another app on the same database.
- `client`, `runner`, `auth` as in flaskr's tests.
- Under pytest-xdist each worker gets a database of its own (`<TEST_DATABASE_URL's db>_gw<n>`,
  made here and dropped at the end) and the Redis db TEST_REDIS_URL's number + n; the db
  number + worker count is left to the benchmark smoke test (TEST_BENCH_REDIS_URL), so
  TEST_REDIS_URL's number + workers must be at most 15. The environment is rewritten
  before any test module reads it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import upgrade
from sqlalchemy import text
from sqlalchemy.engine import make_url

from referral_app import create_app
from referral_app.config import TestConfig
from referral_app.extensions import db

WORKER = os.environ.get("PYTEST_XDIST_WORKER")  # "gw0", "gw1", ... under xdist, else None
WORKER_COUNT = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT") or 1)


def _worker_database_url(url: str, worker: str) -> str:
    """A database of this worker's own on the same server, made empty now."""
    from sqlalchemy import create_engine

    parsed = make_url(url)
    own = parsed.set(database=f"{parsed.database}_{worker}")
    server = create_engine(parsed)
    with server.begin() as connection:
        connection.exec_driver_sql(f"DROP DATABASE IF EXISTS `{own.database}`")
        connection.exec_driver_sql(
            f"CREATE DATABASE `{own.database}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
        )
    server.dispose()
    return own.render_as_string(hide_password=False)


def _redis_db_url(url: str, offset: int) -> str:
    """The same Redis server, db number + `offset` (there are 16: 0-15)."""
    from redis.connection import parse_url

    number = int(parse_url(url).get("db", 0)) + offset
    if number > 15:
        raise pytest.UsageError(
            f"TEST_REDIS_URL {url}: {WORKER_COUNT} workers need Redis dbs up to {number}; "
            "choose a lower db number or fewer workers"
        )
    base = url.rsplit("/", 1)[0] if url.count("/") > 2 else url.rstrip("/")
    return f"{base}/{number}"


_WORKER_DATABASE: str | None = None
if WORKER and os.environ.get("REFERRAL_TEST_WORKER_ENV") != WORKER:
    # Once per worker process, before a test module reads the environment.
    os.environ["REFERRAL_TEST_WORKER_ENV"] = WORKER
    _index = int(WORKER.removeprefix("gw"))
    if _redis := os.environ.get("TEST_REDIS_URL"):
        # The benchmark run flushes its Redis db: one past every worker's.
        os.environ.setdefault("TEST_BENCH_REDIS_URL", _redis_db_url(_redis, WORKER_COUNT))
        os.environ["TEST_REDIS_URL"] = _redis_db_url(_redis, _index)
    if (_url := os.environ.get("TEST_DATABASE_URL")) and _url.startswith("mysql"):
        _WORKER_DATABASE = os.environ["TEST_DATABASE_URL"] = _worker_database_url(_url, WORKER)

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


def pytest_sessionfinish(session) -> None:
    """Drop this worker's own database."""
    if _WORKER_DATABASE:
        from sqlalchemy import create_engine

        parsed = make_url(_WORKER_DATABASE)
        server = create_engine(parsed.set(database=None))
        with server.begin() as connection:
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS `{parsed.database}`")
        server.dispose()


def pytest_generate_tests(metafunc) -> None:
    """`backend` is parametrised here, per test: SQLite, and MariaDB too for engine tests
    (marked both_backends, or asking for backend_name)."""
    if "backend" in metafunc.fixturenames:
        both = (
            metafunc.definition.get_closest_marker("both_backends") is not None
            or "backend_name" in metafunc.fixturenames
        )
        params = BACKENDS if both else BACKENDS[:1]
        metafunc.parametrize("backend", params, indirect=True, scope="session")


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


@pytest.fixture(scope="session")
def backend(request, tmp_path_factory) -> Iterator[tuple[str, Path]]:
    """pytest sets this session fixture up again each time the backend changes between two
    tests (SQLite → MariaDB → SQLite): the second SQLite must be the same file, the one
    `migrated` made, not a new empty one."""
    root = Path(_migrated[request.param]) if request.param in _migrated else None
    yield request.param, root or tmp_path_factory.mktemp(request.param)


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


class ClosingClient(FlaskClient):
    """A test client that closes each complete (not streamed) response as a real server
    does once it has sent it: what runs after the answer
    (`queue.run_inline_jobs_after_response`, e.g. a sign-up's mail) has run when the call
    returns. `keep_open=True` leaves it open; closing it runs that work (the timing test
    measures the answer alone this way)."""

    def open(self, *args, keep_open: bool = False, **kwargs):  # type: ignore[override]
        response = super().open(*args, **kwargs)
        complete = "Content-Length" in response.headers  # a streamed body has none
        if not keep_open and not kwargs.get("buffered") and complete:
            response.make_sequence()  # the body read first (a file is closed next)
            response.close()
        return response


@pytest.fixture
def make_app(migrated) -> Iterator:
    name, root = migrated
    made: list[Flask] = []

    def factory(**overrides) -> Flask:
        app = create_app(backend_config(name, root, **overrides))
        app.test_client_class = ClosingClient
        made.append(app)
        return app

    yield factory
    if made:
        cleaner = create_app(backend_config(name, root))
        with cleaner.app_context():
            _empty_all_tables()
            _flush_redis(cleaner)
            db.engine.dispose()
        # The process keeps each salt it read (keyed by database and period); the rows are
        # gone now, so must be the copies: else a later test on this worker that travels to
        # the same day gets a salt without a row (test order under xdist differs from -n0).
        from referral_app.tracking.visitor import forget_cached_salts

        forget_cached_salts()
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

    def login(self, email: str, password: str):
        token = self.csrf_token("/login")
        return self._client.post(
            "/login", data={"email": email, "password": password, "csrf_token": token}
        )

    def logout(self):
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


def sql(app, statement: str, **params):
    with app.app_context():
        return db.session.execute(text(statement), params).all()


@pytest.fixture(autouse=True)
def _push_request_context():
    """pytest-flask would keep one request context open for the whole test, so every
    request in a test would share one database session and `g`; real requests don't."""
    yield
