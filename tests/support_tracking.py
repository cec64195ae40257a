"""Helpers and fixtures for the tracking tests: visitors, participants, counters, servers."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from referral_app.extensions import db, limiter
from referral_app.models import Participant

ROOT = Path(__file__).resolve().parent.parent

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36"
)
SAFARI = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Safari/605.1.15"
)
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
ANDROID = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.6478.71 Mobile Safari/537.36"
)
EDGE = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36 Edg/126.0.2592.87"
)
BROWSERS = [FIREFOX, CHROME, SAFARI, IPHONE, ANDROID, EDGE]

BOTS = {
    "googlebot": "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "bingbot": "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "headless": (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "HeadlessChrome/126.0.0.0 Safari/537.36"
    ),
    "whatsapp-preview": "WhatsApp/2.23.20.0 A",
    "facebook-preview": (
        "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)"
    ),
    "slack-preview": "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    "curl": "curl/8.5.0",
    "python-requests": "python-requests/2.32.3",
    "no-user-agent": "",
}


def browser(n: int) -> str:
    """A distinct, ordinary browser user agent for visitor number n."""
    return f"{BROWSERS[n % len(BROWSERS)]} Visitor/{n}"


def post(client, endpoint: str, ip: str, ua: str = FIREFOX, **body: Any):
    return client.post(
        f"/api/referral/{endpoint}",
        json=body,
        headers={"User-Agent": ua},
        environ_base={"REMOTE_ADDR": ip},
    )


def click(client, ref: str, ip: str, ua: str = FIREFOX, **body: Any) -> dict:
    response = post(client, "track-click", ip, ua, ref=ref, **body)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def convert(client, ref: str, ip: str, ua: str = FIREFOX, **body: Any) -> dict:
    response = post(client, "track-conversion", ip, ua, ref=ref, **body)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def counters(app, customer_id: int) -> dict[str, int]:
    from referral_app.tracking import stats

    with app.app_context():
        return stats.totals(customer_id)


def participant_counters(app, participant_id: int) -> dict[str, int]:
    from referral_app.models import Participant

    with app.app_context():
        row = db.session.get(Participant, participant_id)
        return {
            "clicks": row.clicks,
            "unique_clicks": row.unique_clicks,
            "conversions": row.conversions,
            "suspicious_conversions": row.suspicious_conversions,
        }


def fraud_types(app) -> list[str]:
    from referral_app.models import FraudLogEntry

    with app.app_context():
        return list(db.session.scalars(select(FraudLogEntry.type).order_by(FraudLogEntry.id)))


def event_rows(app, model_name: str) -> list[dict[str, Any]]:
    from referral_app import models

    model = getattr(models, model_name)
    with app.app_context():
        rows = db.session.scalars(select(model).order_by(model.id)).all()
        return [
            {column.name: getattr(row, column.key) for column in model.__table__.columns}
            for row in rows
        ]


def add_participant(app, customer_id: int, email: str = "empfehlerin@example.org") -> dict:
    """A confirmed participant, made as the sign-up flow would store one (its lead counted)."""
    from referral_app.core import codes, crypto
    from referral_app.models import CONFIRMED_STATUS, Participant, utcnow
    from referral_app.tracking import stats

    with app.app_context():
        now = utcnow()
        participant = Participant(
            customer_id=customer_id,
            ref_code=codes.participant_code(),
            email_encrypted=crypto.encrypt(email),
            email_hash=crypto.keyed_hash("email", email),
            alias_hash=crypto.keyed_hash("alias", email),
            status=CONFIRMED_STATUS,
            consent_given_at=now,
            confirmed_at=now,
            created_at=now,
        )
        db.session.add(participant)
        db.session.flush()
        stats.record(db.session, customer_id, now.date(), leads=1, confirmed_leads=1)
        db.session.commit()
        return {"id": participant.id, "ref_code": participant.ref_code, "email": email}


def add_customer(app, email: str, active: bool = True) -> dict:
    from referral_app.accounts import users as accounts

    with app.app_context():
        customer, user = accounts.create_customer(email, "kunden-passwort", "Zweite GmbH")
        customer.referral_enabled = active
        db.session.commit()
        return {"id": customer.id, "user_id": user.id, "ref_code": customer.ref_code}


def remember_device(app, participant_id: int, ip: str, ua: str) -> None:
    """What the sign-up / hub pages do for the participant's own device."""
    from referral_app.tracking import visitor

    with app.app_context():
        customer_id = db.session.get(Participant, participant_id).customer_id
        db.session.rollback()  # end the read: the salt may be written on its own connection
        seen = visitor.identify(ip, ua, customer_id=customer_id)
        visitor.remember_participant_device(participant_id, seen)
        db.session.commit()


def stats_check(app) -> int:
    """`flask stats rebuild --check`'s exit code."""
    result = app.test_cli_runner().invoke(args=["stats", "rebuild", "--check"])
    assert "Traceback" not in result.output
    return result.exit_code


@pytest.fixture(autouse=True)
def fresh_salts() -> Iterator[None]:
    """Each test empties the tables, salts included: forget the ones this process cached."""
    from referral_app.tracking.visitor import forget_cached_salts

    forget_cached_salts()
    yield
    forget_cached_salts()


@pytest.fixture
def limited_app(make_app):
    """An app with the public API limited to 3 requests per hour and client (no flakiness at
    a second's edge); the limiter object is global, so its storage is reset around the test."""
    app = make_app(RATELIMIT_ENABLED=True, RATELIMIT_PUBLIC_API="3/hour")
    with app.app_context():
        limiter.reset()
    yield app
    with app.app_context():
        limiter.reset()


# --- real servers ---------------------------------------------------------------------------


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def wait_for(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310
                if response.status == 200:
                    return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def server_env(app, **extra: str) -> dict[str, str]:
    """Environment for a gunicorn process on the test's own database (and Redis)."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "APP_ENV": "development",
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "SECRET_KEY": app.config["SECRET_KEY"],
        "HASH_KEY": app.config["HASH_KEY"],
        "RATELIMIT_ENABLED": "false",
        "MAIL_SUPPRESS_SEND": "true",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    if app.config.get("REDIS_URL"):
        env["REDIS_URL"] = app.config["REDIS_URL"]
    env.update(extra)
    return env


@pytest.fixture
def gunicorn(app, tmp_path) -> Iterator[Any]:
    """Start `gunicorn -w 4 wsgi:app` on a free loopback port; yields a starter function.
    Its output goes to a file in the test's tmp_path (a pipe nobody reads would block the
    workers once full)."""
    started: list[subprocess.Popen] = []
    error_log = tmp_path / "gunicorn.log"

    def start(workers: int = 4, **env: str) -> str:
        port = free_port()
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "-w",
                str(workers),
                "-b",
                f"127.0.0.1:{port}",
                "--timeout",
                "60",
                "wsgi:app",
            ],
            cwd=ROOT,
            env=server_env(app, **env),
            stdout=error_log.open("ab"),
            stderr=subprocess.STDOUT,
        )
        started.append(process)
        base = f"http://127.0.0.1:{port}"
        wait_for(base + "/healthz")
        return base

    yield start
    for process in started:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class ThreadedServer:
    """werkzeug's WSGI server in a thread, for the browser test (one process, our app)."""

    def __init__(self, app, host: str = "127.0.0.1") -> None:
        from werkzeug.serving import WSGIRequestHandler, make_server

        class QuietHandler(WSGIRequestHandler):
            def log_request(self, *args: object, **kwargs: object) -> None:
                """No access log: it would hold client IPs."""

        self.server = make_server(
            host, free_port(host), app, threaded=True, request_handler=QuietHandler
        )
        self.url = f"http://{host}:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> ThreadedServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.thread.join(timeout=10)
