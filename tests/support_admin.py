"""Test data and fixtures for the admin dashboard tests.

Events are written straight into the raw tables (as the tracking engine would store them)
and the aggregates are made consistent with `recount.rebuild()`, so these tests do not depend
on the tracking engine. `live_server` runs the app in a real server thread for the browser.
"""

from __future__ import annotations

import itertools
import re
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from werkzeug.serving import make_server

from referral_app.accounts import users as accounts
from referral_app.core import codes, crypto
from referral_app.extensions import db
from referral_app.models import (
    STATUS_TRACKED,
    Click,
    Conversion,
    Customer,
    FraudLogEntry,
    Participant,
    utcnow,
)
from referral_app.tracking import recount

_serial = itertools.count(1)


class World:
    """Builds customers, events and fraud-log entries inside an app context."""

    def __init__(self, app) -> None:
        self.app = app

    def customer(self, company: str, enabled: bool = True, suspended: bool = False) -> int:
        with self.app.app_context():
            n = next(_serial)
            customer, _user = accounts.create_customer(
                f"kunde{n}@example.com", "kunden-passwort", company
            )
            customer.referral_enabled = enabled
            if suspended:
                customer.suspended_at = utcnow()
                customer.suspended_reason = "Test"
            db.session.commit()
            return customer.id

    def code(self, customer_id: int) -> str:
        with self.app.app_context():
            return db.session.get(Customer, customer_id).ref_code

    def participant(self, customer_id: int, confirmed: bool = True) -> dict[str, Any]:
        with self.app.app_context():
            email = f"teilnehmer{next(_serial)}@example.org"
            person = Participant(
                customer_id=customer_id,
                ref_code=codes.participant_code(),
                email_encrypted=crypto.encrypt(email),
                email_hash=crypto.keyed_hash("email", email),
                alias_hash=crypto.keyed_hash("alias", email),
                status="confirmed" if confirmed else "pending",
                confirmed_at=utcnow() if confirmed else None,
            )
            db.session.add(person)
            db.session.commit()
            return {"id": person.id, "ref_code": person.ref_code}

    def clicks(
        self,
        customer_id: int,
        n: int,
        *,
        status: str = STATUS_TRACKED,
        ip_hash: str | None = None,
        fingerprint: str | None = None,
        at: datetime | None = None,
        spacing: timedelta = timedelta(seconds=1),
        reason: str | None = None,
    ) -> list[int]:
        """`n` clicks; each its own visitor unless `fingerprint` is given. A click not
        counted gets `reason` (default: the IP limit held it back)."""
        with self.app.app_context():
            code = db.session.get(Customer, customer_id).ref_code
            start = at or utcnow() - timedelta(hours=1)
            rows = []
            for index in range(n):
                serial = next(_serial)
                rows.append(
                    Click(
                        customer_id=customer_id,
                        ref_code=code,
                        salt_id=1,
                        fingerprint=fingerprint or f"fp-{serial}",
                        ip_hash=ip_hash or f"ip-{serial}",
                        status=status,
                        reason=None if status == STATUS_TRACKED else reason or "ip_daily_limit",
                        first_in_period=True if status == STATUS_TRACKED else None,
                        created_at=start + index * spacing,
                    )
                )
            db.session.add_all(rows)
            db.session.commit()
            return [row.id for row in rows]

    def conversions(
        self,
        customer_id: int,
        n: int,
        *,
        seconds: float | None = 60.0,
        suspicious: bool = False,
        status: str = STATUS_TRACKED,
        ip_hash: str | None = None,
        at: datetime | None = None,
        reasons: list[str] | None = None,
    ) -> list[int]:
        with self.app.app_context():
            code = db.session.get(Customer, customer_id).ref_code
            start = at or utcnow() - timedelta(minutes=30)
            if reasons is None:
                reasons = ["fast_conversion"] if suspicious else []
            rows = []
            for index in range(n):
                serial = next(_serial)
                rows.append(
                    Conversion(
                        customer_id=customer_id,
                        ref_code=code,
                        salt_id=1,
                        fingerprint=f"cfp-{serial}",
                        ip_hash=ip_hash or f"cip-{serial}",
                        status=status,
                        suspicious=suspicious,
                        reasons=reasons,
                        seconds_since_click=seconds,
                        first_in_period=True if status == STATUS_TRACKED else None,
                        created_at=start + timedelta(seconds=index),
                    )
                )
            db.session.add_all(rows)
            db.session.commit()
            return [row.id for row in rows]

    def fraud(
        self,
        customer_id: int | None,
        fraud_type: str,
        *,
        at: datetime | None = None,
        details: dict[str, Any] | None = None,
        ip_hash: str | None = None,
        n: int = 1,
    ) -> list[int]:
        with self.app.app_context():
            code = db.session.get(Customer, customer_id).ref_code if customer_id else None
            rows = [
                FraudLogEntry(
                    customer_id=customer_id,
                    ref_code=code,
                    type=fraud_type,
                    event="click",
                    ip_hash=ip_hash,
                    details=details if details is not None else {"rule": fraud_type},
                    created_at=(at or utcnow()) - timedelta(seconds=index),
                )
                for index in range(n)
            ]
            db.session.add_all(rows)
            db.session.commit()
            return [row.id for row in rows]

    def rebuild(self) -> None:
        with self.app.app_context():
            recount.rebuild()


@pytest.fixture
def world(app) -> World:
    return World(app)


@pytest.fixture
def admin_client(client, auth, admin):
    """A test client with the admin logged in; `.csrf` holds a valid form token."""
    response = auth.login(admin["email"], admin["password"])
    assert response.status_code == 302
    client.csrf = csrf_token(client, "/admin/export")
    return client


def csrf_token(client, path: str) -> str:
    page = client.get(path, follow_redirects=True).get_data(as_text=True)
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "no CSRF token on " + path
    return match.group(1)


def run_in_chromium(scenario: Callable[[Any], None], executable: str, args: list[str]) -> None:
    """Run `scenario(browser)` with its own Playwright in a fresh thread: another module's
    Playwright still alive in the main thread (an asyncio loop) cannot get in its way.
    Whatever the scenario raises is raised here."""
    from playwright.sync_api import sync_playwright

    failure: list[BaseException] = []

    def target() -> None:
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=executable, args=args)
                try:
                    scenario(browser)
                finally:
                    browser.close()
        except BaseException as exc:  # noqa: BLE001 - handed to the test's thread
            failure.append(exc)

    thread = threading.Thread(target=target, name="admin-browser", daemon=True)
    thread.start()
    thread.join(timeout=600)
    assert not thread.is_alive(), "the browser scenario did not finish"
    if failure:
        raise failure[0]


@pytest.fixture
def live_server(app) -> Iterator[str]:
    """The app behind a real HTTP server on 127.0.0.1 (a thread), for the browser test."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
