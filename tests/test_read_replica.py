"""Read-replica routing (services/readonly.py, `DATABASE_REPLICA_URL`), on both backends.

The "replica" is a second database made by the same migrations: a second SQLite file
(opened read-only, as a replica would be), or `<test db>_replica` on MariaDB. `replicate`
copies the primary into it, as replication would have by then; the tests then give the
replica different counters, so a page shows which database it read. Writes made afterwards
reach only the primary: that is replica lag.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterator

import pytest
from flask_migrate import upgrade
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import OperationalError

from referral_app import create_app
from referral_app.core import readonly
from referral_app.extensions import db
from referral_app.models import CustomerStats
from tests.conftest import TEST_DATABASE_URL, AuthActions, backend_config, sql
from tests.support_customer import (
    add_click,
    add_participant,
    csrf_from,
    login_customer,
    shown_numbers,
)

pytestmark = pytest.mark.both_backends  # a second database per engine

REPLICA_COUNTERS = {"clicks": 7777, "unique_clicks": 700, "conversions": 70, "leads": 7}


class Replica:
    """The second database, written only by the test (the app reads it read-only)."""

    def __init__(self, app_url: str, engine: Engine) -> None:
        self.app_url = app_url
        self.engine = engine

    def _foreign_keys(self, connection, on: bool) -> None:
        if self.engine.dialect.name == "sqlite":
            connection.exec_driver_sql(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")
        else:
            connection.exec_driver_sql(f"SET FOREIGN_KEY_CHECKS={int(on)}")

    def empty(self) -> None:
        with self.engine.begin() as connection:
            self._foreign_keys(connection, False)
            for table in reversed(db.metadata.sorted_tables):
                connection.execute(table.delete())
            self._foreign_keys(connection, True)

    def replicate(self, app) -> None:
        """The replica catches up: a copy of every row the primary has now."""
        self.empty()
        with app.app_context(), db.engine.connect() as source, self.engine.begin() as target:
            self._foreign_keys(target, False)
            for table in db.metadata.sorted_tables:
                rows = [dict(row._mapping) for row in source.execute(table.select())]
                if rows:
                    target.execute(table.insert(), rows)
            self._foreign_keys(target, True)

    def set_counters(self, customer_id: int, **values: int) -> None:
        """Counters only the replica has (totals and today's rollup row)."""
        assignments = ", ".join(f"{name} = :{name}" for name in values)
        with self.engine.begin() as connection:
            for table in ("referral_stats", "referral_daily_stats"):
                connection.execute(
                    text(f"UPDATE {table} SET {assignments} WHERE customer_id = :cid"),  # noqa: S608
                    {**values, "cid": customer_id},
                )

    def rows(self, statement: str, **params):
        with self.engine.connect() as connection:
            return connection.execute(text(statement), params).all()


@pytest.fixture(scope="module")
def replica_database(migrated) -> Iterator[Replica]:
    """The replica database at head, made the way conftest makes the primary; on MariaDB a
    database of its own, dropped afterwards."""
    name, root = migrated
    server: Engine | None = None
    if name == "sqlite":
        path = root / "replica.sqlite3"
        write_url = f"sqlite:///{path}"
        app_url = f"sqlite:///file:{path}?mode=ro&uri=true"
    else:
        assert TEST_DATABASE_URL
        url = make_url(TEST_DATABASE_URL)
        database = f"{url.database}_replica"
        server = create_engine(url.set(database=""))
        with server.begin() as connection:
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS `{database}`")
            connection.exec_driver_sql(
                f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
            )
        write_url = app_url = url.set(database=database).render_as_string(hide_password=False)
    migrator = create_app(backend_config(name, root, SQLALCHEMY_DATABASE_URI=write_url))
    with migrator.app_context():
        upgrade()
        db.engine.dispose()
    engine = create_engine(write_url)
    yield Replica(app_url, engine)
    engine.dispose()
    if server is not None:
        with server.begin() as connection:
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS `{make_url(write_url).database}`")
        server.dispose()


@pytest.fixture
def replica(replica_database) -> Iterator[Replica]:
    yield replica_database
    replica_database.empty()


@pytest.fixture
def routed_app(make_app):
    """An app whose dashboards read from `url` (the replica), everything else as usual."""
    made = []

    def factory(url: str, **overrides):
        app = make_app(SQLALCHEMY_BINDS={"replica": url}, **overrides)
        made.append(app)
        return app

    yield factory
    for app in made:
        with app.app_context():
            db.engines["replica"].dispose()


@pytest.fixture
def dead_replica_url(backend_name, tmp_path) -> str:
    if backend_name == "sqlite":
        return f"sqlite:///file:{tmp_path / 'no-such-replica.sqlite3'}?mode=ro&uri=true"
    return "mysql+pymysql://root@127.0.0.1:1/no_such_replica?charset=utf8mb4"


def _customer_client(app, customer):
    client = app.test_client()
    token = login_customer(client, AuthActions(client), customer)
    return client, token


def _admin_client(app, admin):
    client = app.test_client()
    assert AuthActions(client).login(admin["email"], admin["password"]).status_code == 302
    return client, AuthActions(client).csrf_token("/admin/export")


def _csv(response) -> list[dict[str, str]]:
    assert response.status_code == 200
    text_ = response.get_data().decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text_, newline="")))


def _program_state(html: str) -> str:
    import re

    match = re.search(r'data-program-state="([a-z]+)"', html)
    assert match, "no program state on the page"
    return match.group(1)


# --- no replica: everything as before -------------------------------------------------------


def test_without_a_replica_every_read_uses_the_primary(app, client):
    with app.app_context():
        assert not readonly.configured()
        assert readonly.session() is db.session
    body = client.get("/healthz").get_json()
    assert "replica" not in body["checks"] and body["degraded"] is False


# --- the customer dashboard ------------------------------------------------------------------


def test_customer_dashboard_and_stats_api_read_the_replicas_counters(
    app, customer, replica, routed_app
):
    add_click(app, customer["id"], customer["ref_code"])
    replica.replicate(app)
    replica.set_counters(customer["id"], **REPLICA_COUNTERS)
    client, _ = _customer_client(routed_app(replica.app_url), customer)

    for path in ("/dashboard/", "/dashboard/stats"):
        numbers = shown_numbers(client.get(path).get_data(as_text=True))
        assert numbers["clicks"] == "7777" and numbers["totals.clicks"] == "7777", path
        assert numbers["conversions"] == "70" and numbers["leads"] == "7", path
    stats = client.get("/api/referral/get-stats").get_json()
    assert stats["totals"]["clicks"] == 7777 and stats["last_30_days"]["clicks"] == 7777
    assert stats["totals"]["conversion_rate"] == 10.0
    days = client.get("/api/referral/daily-stats").get_json()["days"]
    assert days[-1]["clicks"] == 7777

    # The same customer on an app without a replica sees the primary's one click.
    plain, _ = _customer_client(app, customer)
    assert shown_numbers(plain.get("/dashboard/stats").get_data(as_text=True))["clicks"] == "1"
    assert plain.get("/api/referral/get-stats").get_json()["totals"]["clicks"] == 1


def test_participant_list_and_csv_show_the_replicas_rows(app, customer, replica, routed_app):
    add_participant(app, customer["id"], "anna@example.org")
    replica.replicate(app)
    add_participant(app, customer["id"], "ben@example.org")  # not replicated yet
    client, _ = _customer_client(routed_app(replica.app_url), customer)

    page = client.get("/dashboard/participants").get_data(as_text=True)
    assert "anna@example.org" in page and "ben@example.org" not in page
    listed = client.get("/api/referral/participants").get_json()["items"]
    assert [item["email"] for item in listed] == ["anna@example.org"]
    exported = client.get("/dashboard/participants.csv?format=plain").get_data(True)
    rows = list(csv.reader(io.StringIO(exported)))
    assert [row[1] for row in rows[1:]] == ["anna@example.org"]


def test_toggling_the_program_writes_the_primary_and_shows_at_once(
    app, customer, replica, routed_app
):
    """The program's state is always read from the primary: switched off, the page right
    after says "off" though the lagging replica still has it on (no stickiness needed)."""
    add_click(app, customer["id"], customer["ref_code"])
    replica.replicate(app)
    replica.set_counters(customer["id"], **REPLICA_COUNTERS)
    routed = routed_app(replica.app_url, DATABASE_REPLICA_STICKY_SECONDS=0)
    client, token = _customer_client(routed, customer)
    assert _program_state(client.get("/dashboard/").get_data(as_text=True)) == "on"

    response = client.post(
        "/dashboard/program/toggle", data={"enabled": "false", "csrf_token": token}
    )
    assert response.status_code == 303
    state = "SELECT referral_enabled FROM customers WHERE id=:i"
    assert sql(app, state, i=customer["id"]) == [(False,)]  # the primary: off
    assert replica.rows(state, i=customer["id"]) == [(True,)]  # the lagging replica: still on

    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert _program_state(page) == "off"
    assert shown_numbers(page)["clicks"] == "7777"  # the numbers may lag; the state may not
    stats = client.get("/api/referral/get-stats").get_json()
    assert stats["enabled"] is False and stats["totals"]["clicks"] == 7777


def test_after_their_own_write_a_user_reads_the_primary_for_a_while(
    app, customer, replica, routed_app
):
    add_click(app, customer["id"], customer["ref_code"])
    replica.replicate(app)
    replica.set_counters(customer["id"], **REPLICA_COUNTERS)
    client, token = _customer_client(routed_app(replica.app_url), customer)
    assert shown_numbers(client.get("/dashboard/stats").get_data(True))["clicks"] == "7777"

    reward = {"threshold": "3", "tier": "Bronze", "title": "Checkliste", "csrf_token": token}
    response = client.post("/dashboard/rewards", data=reward)
    assert response.status_code == 303
    assert sql(app, "SELECT tier FROM referral_rewards WHERE customer_id=:i", i=customer["id"])
    assert not replica.rows("SELECT tier FROM referral_rewards")
    assert "Checkliste" in client.get(response.headers["Location"]).get_data(as_text=True)
    # Sticky: the next pages read the primary (its one click) ...
    assert shown_numbers(client.get("/dashboard/stats").get_data(True))["clicks"] == "1"
    # ... until the window has passed.
    with client.session_transaction() as session:
        session[readonly.STICKY_KEY] = 0
    assert shown_numbers(client.get("/dashboard/stats").get_data(True))["clicks"] == "7777"


# --- the admin dashboard ---------------------------------------------------------------------


def test_admin_overview_customer_list_and_exports_read_the_replica(
    app, customer, admin, replica, routed_app
):
    add_click(app, customer["id"], customer["ref_code"])
    replica.replicate(app)
    replica.set_counters(customer["id"], **REPLICA_COUNTERS)
    client, token = _admin_client(routed_app(replica.app_url), admin)

    assert client.get("/api/referral/get-overview").get_json()["clicks"] == 7777
    assert client.get("/admin/").status_code == 200
    listed = client.get("/api/referral/get-customers").get_json()["items"]
    assert [item["clicks"] for item in listed] == [7777]
    assert "7.777" in client.get("/admin/customers").get_data(as_text=True)
    details = client.get(f"/api/referral/get-customer-details?customer_id={customer['id']}")
    assert details.get_json()["totals"]["clicks"] == 7777
    exported = _csv(client.get("/api/referral/export-stats"))
    assert [row["clicks"] for row in exported] == ["7777"]
    # The page's export is a POST that writes its audit entry to the primary, then streams
    # the file from the replica.
    exported = _csv(
        client.post("/admin/export/stats.csv", data={"csrf_token": token, "format": "plain"})
    )
    assert [row["clicks"] for row in exported] == ["7777"]
    assert sql(app, "SELECT COUNT(*) FROM audit_log WHERE action='export.stats'")[0][0]


def test_an_admin_action_writes_the_primary_and_the_next_page_shows_it(
    app, customer, admin, replica, routed_app
):
    replica.replicate(app)
    routed = routed_app(replica.app_url, DATABASE_REPLICA_STICKY_SECONDS=0)
    client, token = _admin_client(routed, admin)
    response = client.post(
        f"/admin/customers/{customer['id']}/program",
        data={"csrf_token": token, "action": "suspend", "reason": "Klickbetrug"},
    )
    assert response.status_code == 302
    assert sql(app, "SELECT suspended_reason FROM customers WHERE id=:i", i=customer["id"]) == [
        ("Klickbetrug",)
    ]
    assert replica.rows("SELECT suspended_at FROM customers") == [(None,)]
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Klickbetrug" in page
    details = client.get(f"/api/referral/get-customer-details?customer_id={customer['id']}")
    assert details.get_json()["customer"]["suspended_reason"] == "Klickbetrug"


# --- fallback and health ---------------------------------------------------------------------


def test_an_unreachable_replica_falls_back_to_the_primary(
    app, customer, admin, dead_replica_url, routed_app, caplog, monkeypatch, tmp_path
):
    add_click(app, customer["id"], customer["ref_code"])
    routed = routed_app(dead_replica_url)
    caplog.set_level(logging.WARNING, logger="referral_app.replica")
    # migrations/env.py's fileConfig() disables the loggers that exist when a migration runs
    # in this process (the test session migrates; a real deployment does it in its own).
    monkeypatch.setattr(readonly.log, "disabled", False)
    client, _ = _customer_client(routed, customer)

    for path in ("/dashboard/", "/dashboard/stats", "/dashboard/participants"):
        response = client.get(path)
        assert response.status_code == 200, path
    assert shown_numbers(client.get("/dashboard/stats").get_data(True))["clicks"] == "1"
    assert client.get("/api/referral/get-stats").get_json()["totals"]["clicks"] == 1
    admin_client, _ = _admin_client(routed, admin)
    assert admin_client.get("/api/referral/get-overview").get_json()["clicks"] == 1
    assert admin_client.get("/admin/customers").status_code == 200

    warnings = [r for r in caplog.records if "replica unreachable" in r.getMessage()]
    assert len(warnings) == 1  # tried once, then left alone for the retry period
    assert not (tmp_path / "no-such-replica.sqlite3").exists()

    health = routed.test_client().get("/healthz")
    assert health.status_code == 200
    body = health.get_json()
    assert body["ok"] is True and body["degraded"] is True
    assert body["checks"]["replica"] == "unreachable" and body["checks"]["database"] == "ok"


def test_healthz_reports_a_working_replica(replica, routed_app):
    body = routed_app(replica.app_url).test_client().get("/healthz").get_json()
    assert body["ok"] is True and body["degraded"] is False
    assert body["checks"]["replica"] == "ok"


def test_the_replica_session_refuses_writes(app, customer, replica, routed_app):
    replica.replicate(app)
    routed = routed_app(replica.app_url)
    with routed.app_context():
        reader = readonly.session()
        assert isinstance(reader, readonly.ReplicaSession)
        reader.add(CustomerStats(customer_id=customer["id"] + 1000))
        with pytest.raises(RuntimeError, match="read-only"):
            reader.flush()
        reader.rollback()
        with pytest.raises(OperationalError):
            reader.execute(text("UPDATE customers SET company_name = 'x'"))
