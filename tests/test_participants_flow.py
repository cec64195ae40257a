"""The participant's way through HTTP, with a real SMTP server: sign-up, the confirmation
mail, confirming by POST, the hub, referrals through the tracking API, the reward mail."""

from __future__ import annotations

import re

import pytest
import time_machine
from sqlalchemy import select, text

from referral_app.extensions import db
from referral_app.models import Participant, RewardGrant

from .support_mail import html_of, smtp_server, text_of  # noqa: F401
from .support_participants import (
    IMPRINT,
    confirm_by_form,
    count,
    mail_app,  # noqa: F401
    mails,
    rebuild_check,
    refer,
    signup,
    token_from,
)

pytestmark = pytest.mark.both_backends  # the whole flow on the real storage


def test_sign_up_confirm_refer_and_get_the_reward_mail_once(
    mail_app, smtp_server, customer, backend_name
):
    client = mail_app.test_client()
    runner = mail_app.test_cli_runner()
    with time_machine.travel("2026-03-02 09:00:00", tick=True) as traveller:
        response = signup(client, customer["ref_code"], "Anna.Berg@Example.org", name="Anna")
        assert response.status_code == 202
        assert response.get_json() == {"ok": True, "status": "confirmation_sent"}

        # The confirmation mail: in the customer's name, with the Impressum, no advertising.
        [message] = smtp_server.to("anna.berg@example.org")
        assert "Max von Müller & Söhne" in str(message["From"])
        assert "noreply@referral.test" in str(message["From"])
        assert str(message["Reply-To"]) == "hallo@mueller-soehne.example"
        assert message["List-Unsubscribe"].strip().startswith("<http://localhost/unsubscribe/")
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        body, html = text_of(message), html_of(message)
        for line in IMPRINT.splitlines():
            assert line in body
            assert line.replace("&", "&amp;") in html
        assert "/unsubscribe/" in body and "/unsubscribe/" in html
        # no referral link, no freebie, no advertising: of the program's pages only the Impressum
        assert "/p/" not in re.sub(r"/p/\w+/impressum", "", body) and "/hub/" not in body
        assert re.search(r"/p/\w+/impressum", body)
        assert 'lang="de"' in html
        token = token_from(message)

        # A scanner fetching the link confirms nothing.
        page = client.get(f"/api/referral/confirm-lead?token={token}")
        assert page.status_code == 200
        assert 'action="/api/referral/confirm-lead"' in page.get_data(as_text=True)
        assert "auto-submit" not in page.get_data(as_text=True)  # a person clicks
        with mail_app.app_context():
            anna = db.session.scalar(select(Participant))
            assert anna.status == "pending" and anna.confirmed_at is None
            ref_code = anna.ref_code

        # The form's POST confirms and leads to the hub.
        confirmed = confirm_by_form(client, token)
        assert confirmed.status_code == 303
        hub_path = confirmed.headers["Location"]
        assert hub_path.startswith("/hub/")
        welcome = smtp_server.to("anna.berg@example.org")[-1]
        assert token_from(welcome, "hub") == hub_path.removeprefix("/hub/")
        assert IMPRINT.splitlines()[0] in text_of(welcome)

        hub = client.get(hub_path)
        assert hub.status_code == 200
        page = hub.get_data(as_text=True)
        link = f"http://localhost/p/{customer['ref_code']}?ref={ref_code}"
        assert f'value="{link}"' in page
        assert "<svg" in page and 'class="segno"' in page
        assert "data-copy=" in page and "wa.me" in page and "mailto:" in page

        # Three referred visitors convert, each 10 s after their click.
        answers = refer(client, ref_code, 3, traveller)
        assert [a["status"] for a in answers] == ["tracked"] * 3
        assert not any(a["suspicious"] for a in answers)
        assert "Bronze" in client.get(hub_path).get_data(as_text=True)

        # The daily job sends the reward mail once; a second run sends nothing.
        before = len(smtp_server.messages)
        first = runner.invoke(args=["jobs", "run", "daily"])
        assert first.exit_code == 0, first.output
        assert '"reward_mails_queued": 1' in first.output.strip().splitlines()[-1]
        [reward] = smtp_server.messages[before:]
        assert "Gutscheincode BRONZE-2024" in text_of(reward)
        assert IMPRINT.splitlines()[0] in text_of(reward)
        assert "/unsubscribe/" in text_of(reward)
        second = runner.invoke(args=["jobs", "run", "daily"])
        assert second.exit_code == 0, second.output
        assert '"reward_mails_queued": 0' in second.output.strip().splitlines()[-1]
        assert len(smtp_server.messages) == before + 1
        with mail_app.app_context():
            grant = db.session.scalar(select(RewardGrant))
            assert grant.mail_sent_at is not None
    assert [kind for kind, _status, _n in mails(mail_app)] == ["confirmation", "welcome", "reward"]
    assert rebuild_check(mail_app)["differences"] == 0


def test_the_database_holds_no_plaintext_address_or_name(mail_app, smtp_server, customer):
    client = mail_app.test_client()
    with time_machine.travel("2026-03-02 09:00:00", tick=True) as traveller:
        signup(client, customer["ref_code"], "Klara.Klartext+promo@Example.org", name="Klara G")
        confirm_by_form(client, token_from(smtp_server.messages[-1]))
        traveller.shift(11 * 60)
        signup(client, customer["ref_code"], "klara.klartext+promo@example.org")  # already in
    assert len(smtp_server.messages) == 3

    needles = ["klara.klartext", "klartext+promo", "klara g"]
    with mail_app.app_context(), db.engine.connect() as connection:
        for table in db.metadata.sorted_tables:
            for row in connection.execute(text(f"SELECT * FROM {table.name}")):  # noqa: S608
                dump = repr(tuple(row)).lower()
                for needle in needles:
                    assert needle not in dump, f"{needle!r} in {table.name}"
    assert count(mail_app, Participant) == 1
