"""Development: every mail the app would send is readable on /dev/mail (no SMTP needed),
kept in memory only; the page does not exist outside development. `flask serve` (what
`make run` starts) puts its own host and port into the links of mails."""

from __future__ import annotations

import re

from .support_participants import OWN_BROWSER, setup_program, signup


def dev_app(make_app):
    return make_app(ENV_NAME="development", MAIL_SUPPRESS_SEND=True)


def test_a_sign_up_mail_is_readable_in_the_dev_mailbox(make_app, customer):
    app = dev_app(make_app)
    setup_program(app, customer["id"])
    client = app.test_client()
    assert "Noch keine E-Mails" in client.get("/dev/mail").get_data(as_text=True)

    assert signup(client, customer["ref_code"], "lea@example.org").status_code == 202

    listing = client.get("/dev/mail").get_data(as_text=True)
    assert "lea@example.org" in listing and "bestätige" in listing
    page = client.get("/dev/mail/0").get_data(as_text=True)
    assert "/api/referral/confirm-lead?token=" in page  # the link to click, as text
    html = client.get("/dev/mail/0/html")
    assert html.status_code == 200
    assert "style-src 'unsafe-inline'" in html.headers["Content-Security-Policy"]
    assert "script-src" not in html.headers["Content-Security-Policy"]
    token = re.search(r"confirm-lead\?token=([\w-]+)", page).group(1)
    confirmed = client.post(
        "/api/referral/confirm-lead", json={"token": token}, headers={"User-Agent": OWN_BROWSER}
    )
    assert confirmed.get_json()["status"] == "confirmed"
    assert client.get("/dev/mail/7").status_code == 404


def test_there_is_no_mailbox_outside_development(app, client):
    assert client.get("/dev/mail").status_code == 404
    assert "dev_mailbox" not in app.extensions


def test_serve_puts_its_port_into_mail_links(make_app, monkeypatch):
    from jobs import worker
    from referral_app import cli

    app = make_app(ENV_NAME="development")
    served = {}
    monkeypatch.delenv("PUBLIC_BASE_URL", raising=False)
    monkeypatch.setattr(cli, "run_simple", lambda host, port, wsgi, **kw: served.update(port=port))
    monkeypatch.setattr(worker, "start_schedule", lambda a: served.update(schedule=True))
    result = app.test_cli_runner().invoke(args=["serve", "--port", "5151"])
    assert result.exit_code == 0, result.output
    assert served == {"port": 5151, "schedule": True}
    assert app.config["PUBLIC_BASE_URL"] == "http://127.0.0.1:5151"
