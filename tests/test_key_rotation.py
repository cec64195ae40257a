"""DATA_KEY rotation (docs/deployment.md "Secrets and key rotation"): a new key in front of
DATA_KEYS, `flask keys reencrypt`, the old key dropped — every address, name and webhook
secret still reads; a webhook whose secret no key reads is never sent unsigned."""

from __future__ import annotations

import json

from referral_app.core import crypto
from referral_app.extensions import db
from referral_app.models import Participant, WebhookDelivery

from .conftest import api_key_for
from .support_http import http_receiver, smtp_sink  # noqa: F401
from .support_participants import signup
from .test_webhooks import add_endpoint, emit

OLD, NEW = "o" * 40, "n" * 40


def stored(app) -> list[tuple[str | None, str | None]]:
    with app.app_context():
        rows = db.session.scalars(db.select(Participant).order_by(Participant.id)).all()
        return [(crypto.decrypt(p.email_encrypted), crypto.decrypt(p.name_encrypted)) for p in rows]


def test_reencrypt_moves_every_value_to_the_new_key(make_app, customer, http_receiver):  # noqa: F811
    before = make_app(DATA_KEYS=[OLD], WEBHOOK_ALLOW_PRIVATE=True)
    client = before.test_client()
    for n in range(3):
        assert (
            signup(client, customer["ref_code"], f"p{n}@example.org", name=f"Jö {n}").status_code
            == 202
        )
    endpoint = add_endpoint(before, api_key_for(before, customer["user_id"]), http_receiver.url)
    assert stored(before)[0] == ("p0@example.org", "Jö 0")

    rotating = make_app(DATA_KEYS=[NEW, OLD], WEBHOOK_ALLOW_PRIVATE=True)
    result = rotating.test_cli_runner().invoke(args=["keys", "reencrypt"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert summary == {"ok": True, "participants": 3, "webhook_secrets": 1, "unreadable": 0}

    after = make_app(DATA_KEYS=[NEW], WEBHOOK_ALLOW_PRIVATE=True)  # the old key is gone
    assert stored(after) == [(f"p{n}@example.org", f"Jö {n}") for n in range(3)]
    emit(after, customer)
    [request] = http_receiver.requests
    assert request.headers["webhook-signature"].startswith("v1,")
    assert endpoint["secret"].startswith("whsec_")


def test_a_secret_no_key_reads_fails_the_delivery_instead_of_sending_unsigned(
    make_app,
    customer,
    http_receiver,  # noqa: F811
):
    before = make_app(DATA_KEYS=[OLD], WEBHOOK_ALLOW_PRIVATE=True)
    add_endpoint(before, api_key_for(before, customer["user_id"]), http_receiver.url)
    wrong = make_app(DATA_KEYS=[NEW], WEBHOOK_ALLOW_PRIVATE=True)
    emit(wrong, customer)
    assert http_receiver.requests == []
    with wrong.app_context():
        delivery = db.session.scalars(db.select(WebhookDelivery)).one()
        assert delivery.last_error == "signing secret unreadable"
    result = wrong.test_cli_runner().invoke(args=["keys", "reencrypt"])
    assert result.exit_code == 1
    assert json.loads(result.output.strip().splitlines()[-1])["unreadable"] == 1
