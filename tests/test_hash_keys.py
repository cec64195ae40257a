"""HASH_KEY rotation and per-program hash keys (docs/deployment.md "Secrets and key rotation").

Rotation: a new key in front of HASH_KEYS, `flask keys rehash`, the old key dropped (and the
command run again). Links mailed under the old key work until then, a sign-up with a known
address is recognised throughout; afterwards the old links are dead and the new ones work.

Per program: the same address or visitor has other stored hashes in every program, while the
per-IP daily click limit (which spans programs) still counts them together."""

from __future__ import annotations

import json

import pytest
import time_machine
from sqlalchemy import select

from referral_app.core import crypto
from referral_app.extensions import db
from referral_app.models import Click, FraudLogEntry, Participant, RetiredLinkToken
from referral_app.participants import addresses

from .support_mail import smtp_server  # noqa: F401
from .support_participants import (
    confirm_by_form,
    count,
    setup_program,
    signup,
    token_from,
)
from .support_tracking import FIREFOX, add_customer, click

pytestmark = pytest.mark.both_backends

OLD, NEW = "o" * 40, "n" * 40


def rehash(app) -> dict:
    result = app.test_cli_runner().invoke(args=["keys", "rehash"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output.strip().splitlines()[-1])


def rows(app) -> list[Participant]:
    with app.app_context():
        found = db.session.scalars(select(Participant).order_by(Participant.id)).all()
        for row in found:
            db.session.expunge(row)
        return found


def test_links_mailed_before_a_rotation_keep_working_until_the_old_key_goes(
    make_app,
    smtp_server,  # noqa: F811
    customer,
):
    def app_with(*keys: str):
        return make_app(**smtp_server.config, HASH_KEYS=list(keys))

    before = app_with(OLD)
    setup_program(before, customer["id"])
    client = before.test_client()
    with time_machine.travel("2026-03-02 09:00:00", tick=True) as traveller:
        assert signup(client, customer["ref_code"], "anna@example.org").status_code == 202
        assert (
            confirm_by_form(client, token_from(smtp_server.to("anna@example.org")[0])).status_code
            == 303
        )
        welcome = smtp_server.to("anna@example.org")[-1]
        old_hub, old_unsub = token_from(welcome, "hub"), token_from(welcome, "unsubscribe")
        assert signup(client, customer["ref_code"], "ben@example.org").status_code == 202
        old_confirm = token_from(smtp_server.to("ben@example.org")[0])

        # The new key goes in front: every mailed link still opens, the address is known.
        rotating = app_with(NEW, OLD)
        client = rotating.test_client()
        assert client.get(f"/hub/{old_hub}").status_code == 200
        assert client.get(f"/unsubscribe/{old_unsub}").status_code == 200
        assert client.get(f"/api/referral/confirm-lead?token={old_confirm}").status_code == 200
        traveller.shift(11 * 60)  # past the sign-up mail interval
        assert signup(client, customer["ref_code"], "anna@example.org").status_code == 202
        assert count(rotating, Participant) == 2  # recognised: no second row
        assert token_from(smtp_server.to("anna@example.org")[-1], "hub") == old_hub

        # The command moves every row to the new key; old links still open, new mails
        # carry the new key's links.
        summary = rehash(rotating)
        assert summary["ok"] is True and summary["participants"] == 2
        # anna's hub and (still answering "already confirmed") confirmation link, ben's
        assert summary["emails"] == 2 and summary["links"] == 3
        assert count(rotating, RetiredLinkToken) == 3
        assert rehash(rotating)["emails"] == 0  # a second run changes nothing
        assert client.get(f"/hub/{old_hub}").status_code == 200
        assert client.get(f"/api/referral/confirm-lead?token={old_confirm}").status_code == 200
        traveller.shift(11 * 60)
        assert signup(client, customer["ref_code"], "anna@example.org").status_code == 202
        assert count(rotating, Participant) == 2
        latest = smtp_server.to("anna@example.org")[-1]
        new_hub, new_unsub = token_from(latest, "hub"), token_from(latest, "unsubscribe")
        assert (new_hub, new_unsub) != (old_hub, old_unsub)
        assert client.get(f"/hub/{new_hub}").status_code == 200

        # The old key is removed and the command run: the old links are dead (documented),
        # the new ones and every e-mail look-up work.
        after = app_with(NEW)
        summary = rehash(after)
        assert summary["retired_dropped"] == 3 and summary["emails"] == 0
        client = after.test_client()
        assert client.get(f"/hub/{old_hub}").status_code == 404
        assert client.get(f"/unsubscribe/{old_unsub}").status_code == 404
        assert client.get(f"/api/referral/confirm-lead?token={old_confirm}").status_code == 400
        assert client.get(f"/hub/{new_hub}").status_code == 200
        assert client.get(f"/unsubscribe/{new_unsub}").status_code == 200
        traveller.shift(11 * 60)
        assert signup(client, customer["ref_code"], "anna@example.org").status_code == 202
        assert signup(client, customer["ref_code"], "ben@example.org").status_code == 202
        assert count(after, Participant) == 2
        new_confirm = token_from(smtp_server.to("ben@example.org")[-1])
        assert confirm_by_form(client, new_confirm).status_code == 303
        assert client.post(f"/unsubscribe/{new_unsub}").status_code == 200
        assert [p.status for p in rows(after)] == ["unsubscribed", "confirmed"]


def test_rows_from_before_per_program_keys_are_found_and_rehashed(app, client, customer):
    """A row with the old global hash: recognised at sign-up, moved by the command."""
    setup_program(app, customer["id"], milestones=False)
    with app.app_context():
        db.session.add(
            Participant(
                customer_id=customer["id"],
                ref_code="LEGACY01",
                email_encrypted=crypto.encrypt("lea@example.org"),
                email_hash=crypto.keyed_hash("email", "lea@example.org"),
                alias_hash=crypto.keyed_hash("alias", "lea@example.org"),
                status="pending",
            )
        )
        db.session.commit()
    assert signup(client, customer["ref_code"], "lea@example.org").status_code == 202
    assert count(app, Participant) == 1
    assert rehash(app)["emails"] == 1
    [row] = rows(app)
    with app.app_context():
        assert row.email_hash == addresses.email_hash(customer["id"], "lea@example.org")
        assert row.email_hash != crypto.keyed_hash("email", "lea@example.org")


def test_two_programs_store_different_hashes_of_the_same_address_and_visitor(make_app, customer):
    app = make_app(FRAUD_IP_DAILY_CLICKS=100)
    other = add_customer(app, "zweite@example.com")
    for program in (customer, other):
        setup_program(app, program["id"], milestones=False)
    client = app.test_client()
    for program in (customer, other):
        assert signup(client, program["ref_code"], "anna@example.org").status_code == 202
        click(client, program["ref_code"], "203.0.113.7", FIREFOX)
    first, second = rows(app)
    assert (first.customer_id, second.customer_id) == (customer["id"], other["id"])
    assert first.email_hash != second.email_hash
    assert first.alias_hash != second.alias_hash
    assert first.consent_ip_hash != second.consent_ip_hash
    with app.app_context():
        clicks = db.session.execute(select(Click.fingerprint, Click.ip_hash)).all()
    assert len(clicks) == 2
    assert clicks[0].fingerprint != clicks[1].fingerprint
    assert clicks[0].ip_hash != clicks[1].ip_hash
    # Nothing stored in either program equals a global (program-free) hash.
    stored = {first.email_hash, second.email_hash, *(c.ip_hash for c in clicks)}
    with app.app_context():
        assert crypto.keyed_hash("email", "anna@example.org") not in stored


def test_the_daily_ip_limit_still_counts_one_ip_across_programs(make_app, customer):
    app = make_app(FRAUD_IP_DAILY_CLICKS=2)
    other = add_customer(app, "zweite@example.com")
    client = app.test_client()
    agents = [f"{FIREFOX} Tab/{n}" for n in range(3)]  # three visitors behind one IP
    answers = [
        click(client, customer["ref_code"], "203.0.113.9", agents[0]),
        click(client, other["ref_code"], "203.0.113.9", agents[1]),
        click(client, customer["ref_code"], "203.0.113.9", agents[2]),
    ]
    assert [a["status"] for a in answers] == ["tracked", "tracked", "blocked"]
    with app.app_context():
        fired = db.session.scalars(select(FraudLogEntry.type)).all()
    assert fired == ["ip_daily_limit"]
