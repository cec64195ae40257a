"""Sign-up rules, tokens, the hub, unsubscribing and erasure (DSGVO), each through HTTP."""

from __future__ import annotations

import re
from email.header import decode_header, make_header
from email.utils import getaddresses, parseaddr

import pytest
import time_machine
from sqlalchemy import select

from referral_app.core.errors import NotFound
from referral_app.extensions import db
from referral_app.models import (
    AuditEntry,
    ConsentText,
    Customer,
    FraudLogEntry,
    OutgoingMail,
    Participant,
    ParticipantDevice,
    RewardGrant,
)
from referral_app.participants import erasure
from referral_app.participants import export as participant_export

from .support_mail import html_of, smtp_server, text_of  # noqa: F401
from .support_participants import (
    OWN_BROWSER,
    confirm_by_form,
    count,
    mail_app,  # noqa: F401
    mails,
    participant_row,
    rebuild_check,
    refer,
    setup_program,
    signup,
    token_from,
)

pytestmark = pytest.mark.both_backends  # participant storage: unique keys, upserts, raw SQL

START = "2026-03-02 09:00:00"


def visitor_error(response) -> str:
    body = response.get_json()
    assert body["ok"] is False and body["message"], body
    return body["error"]


# --- the program endpoint ------------------------------------------------------------------


def test_program_info_gives_the_consent_text_and_its_version(mail_app, customer):
    response = mail_app.test_client().get(f"/api/referral/program?ref={customer['ref_code']}")
    assert response.status_code == 200
    body = response.get_json()
    assert body["ok"] is True and body["active"] is True
    assert body["company_name"] == "Müller & Söhne GmbH"
    assert "Müller & Söhne GmbH" in body["consent_text"]
    assert body["consent_version"].startswith("de-")
    assert body["privacy_url"] == "https://mueller-soehne.example/datenschutz"
    assert body["imprint_url"] == f"http://localhost/p/{customer['ref_code']}/impressum"
    assert body["language"] == "de" and body["accent_color"] == "#0b5cad"
    assert body["logo_url"] is None  # none uploaded


def test_program_info_refuses_unknown_and_inactive_programs(mail_app, customer):
    client = mail_app.test_client()
    assert visitor_error(client.get("/api/referral/program?ref=NOPE123")) == "unknown_ref"
    assert client.get("/api/referral/program?ref=NOPE123").status_code == 404
    assert visitor_error(client.get("/api/referral/program?ref=<script>")) == "invalid_ref"
    with mail_app.app_context():
        db.session.get(Customer, customer["id"]).referral_enabled = False
        db.session.commit()
    response = client.get(f"/api/referral/program?ref={customer['ref_code']}")
    assert response.status_code == 403 and visitor_error(response) == "program_inactive"


# --- sign-up: bad input stores nothing -----------------------------------------------------


BAD_SIGNUPS = [
    ({"consent": None}, 400, "consent_required"),
    ({"consent": False}, 400, "consent_required"),
    ({"consent": "no"}, 400, "consent_required"),
    ({"consent": 1}, 400, "consent_required"),
    ({"email": "not-an-address"}, 400, "invalid_email"),
    ({"email": "a@b"}, 400, "invalid_email"),
    ({"email": "anna@@example.org"}, 400, "invalid_email"),
    ({"email": "x" * 290 + "@example.org"}, 400, "invalid_email"),
    ({"email": ""}, 400, "invalid_email"),
    ({"email": None}, 400, "invalid_email"),
    ({"email": 12345}, 400, "invalid_email"),
    ({"email": ["anna@example.org"]}, 400, "invalid_email"),
    ({"email": {"a": "anna@example.org"}}, 400, "invalid_email"),
    ({"ref": None}, 400, "invalid_ref"),
    ({"ref": 42}, 400, "invalid_ref"),
    ({"ref": "bad ref!"}, 400, "invalid_ref"),
    ({"ref": "R" * 65}, 400, "invalid_ref"),
    ({"ref": "UNKNOWN99"}, 404, "unknown_ref"),
    ({"name": 7}, 400, "validation_failed"),
    ({"name": "N" * 101}, 400, "validation_failed"),
    ({"page": ["https://x.example"]}, 400, "validation_failed"),
    ({"consent_version": {"v": 1}}, 400, "validation_failed"),
    ({"email": "wegwerf@mailinator.com"}, 400, "disposable_email"),
]


@pytest.mark.parametrize(("change", "status", "code"), BAD_SIGNUPS)
def test_bad_sign_up_is_refused_and_nothing_is_stored(
    mail_app, smtp_server, customer, change, status, code
):
    body = {"ref": customer["ref_code"], "email": "anna@example.org", "consent": True}
    body.update(change)
    body = {key: value for key, value in body.items() if value is not None}
    response = mail_app.test_client().post("/api/referral/register-lead", json=body)
    assert response.status_code == status
    assert visitor_error(response) == code
    assert count(mail_app, Participant) == 0
    assert count(mail_app, OutgoingMail) == 0
    assert smtp_server.messages == []


def test_sign_up_for_an_inactive_program_is_refused(mail_app, smtp_server, customer):
    with mail_app.app_context():
        db.session.get(Customer, customer["id"]).referral_enabled = False
        db.session.commit()
    response = signup(mail_app.test_client(), customer["ref_code"], "anna@example.org")
    assert response.status_code == 403 and visitor_error(response) == "program_inactive"
    assert count(mail_app, Participant) == 0 and smtp_server.messages == []


@pytest.mark.parametrize("accepted", [True, "true", "on", "1", "TRUE"])
def test_consent_is_accepted_as_json_true_or_a_checked_form_box(
    mail_app, smtp_server, customer, accepted
):
    client = mail_app.test_client()
    if isinstance(accepted, bool):
        response = signup(client, customer["ref_code"], "anna@example.org", consent=accepted)
    else:
        response = client.post(
            "/api/referral/register-lead",
            data={"ref": customer["ref_code"], "email": "anna@example.org", "consent": accepted},
        )
    assert response.status_code == 202
    assert count(mail_app, Participant) == 1


def test_disposable_address_is_logged_without_the_address(mail_app, customer):
    response = signup(mail_app.test_client(), customer["ref_code"], "wegwerf@sub.mailinator.com")
    assert response.status_code == 400 and visitor_error(response) == "disposable_email"
    with mail_app.app_context():
        [entry] = db.session.scalars(select(FraudLogEntry)).all()
        assert entry.type == "disposable_email"
        assert entry.customer_id == customer["id"]
        assert "wegwerf" not in repr(entry.details)


# --- sign-up: the consent proof, no enumeration, resends -----------------------------------


def test_sign_up_stores_the_consent_proof(mail_app, smtp_server, customer):
    client = mail_app.test_client()
    version = client.get(f"/api/referral/program?ref={customer['ref_code']}").get_json()[
        "consent_version"
    ]
    response = signup(
        client,
        customer["ref_code"],
        "anna@example.org",
        page="https://mueller-soehne.example/danke?email=anna@example.org#top",
        consent_version=version,
    )
    assert response.status_code == 202
    row = participant_row(mail_app, "anna@example.org")
    assert row.status == "pending"
    assert row.consent_given_at is not None
    assert row.consent_page == "https://mueller-soehne.example/danke"  # no query
    assert row.consent_ip_hash and "127.0.0.1" not in row.consent_ip_hash
    assert row.confirm_token_hash and row.confirm_token_expires_at
    with mail_app.app_context():
        consent = db.session.get(ConsentText, row.consent_text_id)
        assert consent.version == version
        assert "Müller & Söhne GmbH" in consent.text
        export = participant_export.export_participant(customer["id"], row.id)
    assert export["consent"]["version"] == version
    assert export["consent"]["text"] == consent.text
    assert export["consent"]["page"] == "https://mueller-soehne.example/danke"
    assert export["consent"]["confirmed_at"] is None


def test_known_and_new_addresses_get_the_same_answer(mail_app, smtp_server, customer):
    client = mail_app.test_client()
    first = signup(client, customer["ref_code"], "anna@example.org")
    again = signup(client, customer["ref_code"], "ANNA@example.org")
    other = signup(client, customer["ref_code"], "bert@example.org")
    assert first.status_code == again.status_code == other.status_code == 202
    assert first.get_json() == again.get_json() == other.get_json()
    assert count(mail_app, Participant) == 2


def test_a_pending_address_gets_the_mail_again_at_most_every_ten_minutes(
    mail_app, smtp_server, customer
):
    client = mail_app.test_client()
    with time_machine.travel(START, tick=True) as traveller:
        signup(client, customer["ref_code"], "anna@example.org")
        signup(client, customer["ref_code"], "anna@example.org")
        assert len(smtp_server.messages) == 1
        traveller.shift(11 * 60)
        signup(client, customer["ref_code"], "anna@example.org")
        assert len(smtp_server.messages) == 2
        first, second = smtp_server.messages
        assert token_from(first) == token_from(second)  # the first mail's link still works
        assert confirm_by_form(client, token_from(first)).status_code == 303


def test_a_confirmed_address_gets_its_link_again(mail_app, smtp_server, customer):
    client = mail_app.test_client()
    with time_machine.travel(START, tick=True) as traveller:
        signup(client, customer["ref_code"], "anna@example.org")
        hub = confirm_by_form(client, token_from(smtp_server.messages[-1])).headers["Location"]
        traveller.shift(11 * 60)
        assert signup(client, customer["ref_code"], "anna@example.org").status_code == 202
    already = smtp_server.messages[-1]
    assert token_from(already, "hub") == hub.removeprefix("/hub/")
    assert "/p/" in text_of(already)
    assert [kind for kind, _s, _n in mails(mail_app)] == ["confirmation", "welcome", "already_in"]


def test_gmail_dots_and_plus_tags_are_flagged_as_near_duplicates(mail_app, smtp_server, customer):
    client = mail_app.test_client()
    signup(client, customer["ref_code"], "anna.berg@gmail.com")
    signup(client, customer["ref_code"], "a.n.n.a.berg+referral@googlemail.com")
    assert count(mail_app, Participant) == 2
    twin = participant_row(mail_app, "a.n.n.a.berg+referral@googlemail.com")
    with mail_app.app_context():
        [entry] = db.session.scalars(
            select(FraudLogEntry).where(FraudLogEntry.type == "alias_email")
        ).all()
        assert entry.participant_id == twin.id
        assert "anna" not in repr(entry.details)


def test_referred_by_is_kept_and_a_sign_up_through_ones_own_link_is_self_referral(
    mail_app, smtp_server, customer
):
    client = mail_app.test_client()
    signup(client, customer["ref_code"], "anna@example.org")
    confirm_by_form(client, token_from(smtp_server.messages[-1]))
    anna = participant_row(mail_app, "anna@example.org")

    signup(client, anna.ref_code, "bert@example.org", ip="198.51.100.7")
    bert = participant_row(mail_app, "bert@example.org")
    assert bert.referred_by_id == anna.id

    signup(client, anna.ref_code, "anna+again@example.org")  # Anna's own device and address
    again = participant_row(mail_app, "anna+again@example.org")
    assert again.referred_by_id is None
    with mail_app.app_context():
        types = set(db.session.scalars(select(FraudLogEntry.type)))
    assert {"self_referral", "alias_email"} <= types


# --- confirmation tokens -------------------------------------------------------------------


def test_a_forged_token_is_refused(mail_app, smtp_server, customer):
    client = mail_app.test_client()
    signup(client, customer["ref_code"], "anna@example.org")
    forged = "A" * 32
    for token in (forged, "short", "x" * 300, "bad token!"):
        response = client.post("/api/referral/confirm-lead", json={"token": token})
        assert response.status_code == 400 and visitor_error(response) == "invalid_token"
    response = client.post("/api/referral/confirm-lead", json={"token": 12345})
    assert visitor_error(response) == "invalid_token"
    page = client.get(f"/api/referral/confirm-lead?token={forged}")
    assert page.status_code == 400
    assert 'data-state="invalid_token"' in page.get_data(as_text=True)
    form = confirm_by_form(client, forged)
    assert form.status_code == 400 and "invalid_token" in form.get_data(as_text=True)
    assert participant_row(mail_app, "anna@example.org").status == "pending"


def test_a_token_confirms_once_then_answers_already_confirmed(mail_app, smtp_server, customer):
    client = mail_app.test_client()
    signup(client, customer["ref_code"], "anna@example.org")
    token = token_from(smtp_server.messages[-1])
    first = client.post("/api/referral/confirm-lead", json={"token": token})
    second = client.post("/api/referral/confirm-lead", json={"token": token})
    assert first.get_json()["status"] == "confirmed"
    assert second.get_json()["status"] == "already_confirmed"
    assert first.get_json()["ref_code"] == second.get_json()["ref_code"]
    assert first.get_json()["referral_link"].startswith("http://localhost/p/")
    with mail_app.app_context():
        from referral_app.tracking import stats

        assert stats.totals(customer["id"])["confirmed_leads"] == 1
        assert stats.totals(customer["id"])["leads"] == 1
    assert [kind for kind, _s, _n in mails(mail_app)] == ["confirmation", "welcome"]
    page = client.get(f"/api/referral/confirm-lead?token={token}")
    assert 'data-state="already_confirmed"' in page.get_data(as_text=True)


def test_an_expired_token_explains_itself_and_offers_a_new_link(mail_app, smtp_server, customer):
    client = mail_app.test_client()
    with time_machine.travel(START, tick=True) as traveller:
        signup(client, customer["ref_code"], "anna@example.org")
        token = token_from(smtp_server.messages[-1])
        traveller.shift(49 * 3600)
        response = client.post("/api/referral/confirm-lead", json={"token": token})
        assert response.status_code == 400 and visitor_error(response) == "token_expired"
        page = client.get(f"/api/referral/confirm-lead?token={token}")
        assert page.status_code == 400
        html = page.get_data(as_text=True)
        assert 'data-state="token_expired"' in html
        assert 'action="/api/referral/resend-confirmation"' in html

        resent = client.post("/api/referral/resend-confirmation", data={"token": token})
        assert resent.status_code == 202
        new_token = token_from(smtp_server.messages[-1])
        assert new_token != token
        assert visitor_error(client.post("/api/referral/confirm-lead", json={"token": token})) in (
            "invalid_token",
            "token_expired",
        )
        confirmed = client.post("/api/referral/confirm-lead", json={"token": new_token})
        assert confirmed.get_json()["status"] == "confirmed"


def test_resend_with_a_forged_token_is_refused(mail_app, customer):
    response = mail_app.test_client().post(
        "/api/referral/resend-confirmation", json={"token": "B" * 32}
    )
    assert response.status_code == 400 and visitor_error(response) == "invalid_token"


# --- mails: language, escaping -------------------------------------------------------------


def test_mails_are_english_when_the_customer_chose_english(make_app, smtp_server, customer):
    app = make_app(**smtp_server.config)
    setup_program(app, customer["id"], language="en", milestones=False)
    signup(app.test_client(), customer["ref_code"], "anna@example.org")
    html = html_of(smtp_server.messages[-1])
    assert 'lang="en"' in html
    assert "Imprint" in text_of(smtp_server.messages[-1])


def test_customer_data_in_mails_is_escaped(mail_app, smtp_server, customer):
    with mail_app.app_context():
        row = db.session.get(Customer, customer["id"])
        row.company_name = 'Evil <script>alert(1)</script> & "Co"'
        row.imprint = "<img src=x onerror=alert(1)>\nStraße 1"
        row.sender_name = "Evil\r\nBcc: victim@example.org"
        db.session.commit()
    signup(mail_app.test_client(), customer["ref_code"], "anna@example.org", name="<b>Anna</b>")
    [message] = smtp_server.messages
    html = html_of(message)
    assert "<script>" not in html and "<img" not in html and "<b>Anna" not in html
    assert "&lt;script&gt;" in html and "&lt;img src=x" in html
    assert message["Bcc"] is None
    assert smtp_server.envelopes[0][1] == ["anna@example.org"]


# --- the hub -------------------------------------------------------------------------------


def test_the_hub_shows_progress_to_the_next_milestone(mail_app, smtp_server, customer):
    client = mail_app.test_client()
    with time_machine.travel(START, tick=True) as traveller:
        signup(client, customer["ref_code"], "anna@example.org")
        hub = confirm_by_form(client, token_from(smtp_server.messages[-1])).headers["Location"]
        anna = participant_row(mail_app, "anna@example.org")
        refer(client, anna.ref_code, 4, traveller)
    page = client.get(hub).get_data(as_text=True)
    assert re.search(r'id="referral-count">\s*4\s*<', page)
    assert '<progress class="progress-bar" value="4" max="5">' in page
    assert "Silber" in page and "Workbook" in page
    assert page.count('data-milestone-state="earned"') == 1  # Bronze, granted at once
    assert page.count('data-milestone-state="open"') == 2
    assert "Gutscheincode BRONZE-2024" in page  # the reward itself, shown once granted
    assert "https://mueller-soehne.example/workbook" not in page  # Silber: not yet


def test_unknown_hub_tokens_are_404(mail_app):
    client = mail_app.test_client()
    assert client.get("/hub/" + "C" * 32).status_code == 404
    assert client.get("/hub/short").status_code == 404


def test_token_routes_are_rate_limited(make_app, smtp_server, customer):
    app = make_app(**smtp_server.config, RATELIMIT_ENABLED=True, RATELIMIT_TOKEN_ROUTES="5/minute")
    client = app.test_client()
    statuses = [client.get("/hub/" + "D" * 32).status_code for _ in range(7)]
    assert statuses[:5] == [404] * 5 and statuses[-1] == 429
    limited = client.post("/api/referral/confirm-lead", json={"token": "E" * 32})
    for _ in range(6):
        limited = client.post("/api/referral/confirm-lead", json={"token": "E" * 32})
    assert limited.status_code == 429 and visitor_error(limited) == "rate_limited"


# --- unsubscribing and erasure -------------------------------------------------------------


def test_one_click_unsubscribe_stops_all_mails(mail_app, smtp_server, customer):
    client = mail_app.test_client()
    signup(client, customer["ref_code"], "anna@example.org")
    confirm_by_form(client, token_from(smtp_server.messages[-1]))
    header = smtp_server.messages[-1]["List-Unsubscribe"].strip()
    url = header.strip("<>").removeprefix("http://localhost")
    page = client.get(url)
    assert page.status_code == 200
    assert 'name="action" value="unsubscribe"' in page.get_data(as_text=True)
    assert participant_row(mail_app, "anna@example.org").status == "confirmed"  # GET: nothing

    response = client.post(url, data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    anna = participant_row(mail_app, "anna@example.org")
    assert anna.status == "unsubscribed" and anna.unsubscribed_at is not None

    # A reward earned afterwards is not mailed; the hub still works.
    with time_machine.travel(START, tick=True) as traveller:
        refer(client, anna.ref_code, 3, traveller)
    before = len(smtp_server.messages)
    mail_app.test_cli_runner().invoke(args=["jobs", "run", "daily"])
    assert len(smtp_server.messages) == before
    assert client.get("/hub/" + token_from(smtp_server.messages[1], "hub")).status_code == 200
    bad = client.post(url[:-3] + "zzz", data={"List-Unsubscribe": "One-Click"})
    assert bad.status_code == 404


def test_delete_my_data_from_the_hub_asks_first_then_erases(mail_app, smtp_server, customer):
    client = mail_app.test_client()
    with time_machine.travel(START, tick=True) as traveller:
        signup(client, customer["ref_code"], "anna@example.org")
        hub = confirm_by_form(client, token_from(smtp_server.messages[-1])).headers["Location"]
        anna = participant_row(mail_app, "anna@example.org")
        refer(client, anna.ref_code, 3, traveller)
    mail_app.test_cli_runner().invoke(args=["jobs", "run", "daily"])

    ask = client.get(hub + "/delete")
    assert ask.status_code == 200
    # No session cookie, so no CSRF token (tests/test_public_cookies.py): the secret link is
    # the key, and a post from another site is refused.
    assert 'name="csrf_token"' not in ask.get_data(as_text=True)
    refused = client.post(hub + "/delete", headers={"Origin": "https://evil.example"})
    assert refused.status_code == 400 and count(mail_app, Participant) == 1
    done = client.post(hub + "/delete", headers={"Origin": "http://localhost"})
    assert done.status_code == 200
    assert count(mail_app, Participant) == 0
    assert count(mail_app, RewardGrant) == 0
    assert count(mail_app, ParticipantDevice) == 0
    assert client.get(hub).status_code == 404
    with mail_app.app_context():
        [audit] = db.session.scalars(select(AuditEntry)).all()
        assert audit.action == "participant.erased" and "participant" in audit.details
        from referral_app.tracking import stats

        totals = stats.totals(customer["id"])
    assert totals["leads"] == 1 and totals["confirmed_leads"] == 1 and totals["conversions"] == 3
    assert rebuild_check(mail_app)["differences"] == 0
    result = mail_app.test_cli_runner().invoke(args=["stats", "rebuild", "--check"])
    assert result.exit_code == 0, result.output


def test_delete_from_the_mail_link(mail_app, smtp_server, customer):
    client = mail_app.test_client()
    signup(client, customer["ref_code"], "anna@example.org")
    url = "/unsubscribe/" + token_from(smtp_server.messages[-1], "unsubscribe")
    assert client.post(url, data={"action": "delete"}).status_code == 200
    assert count(mail_app, Participant) == 0
    assert rebuild_check(mail_app)["differences"] == 0
    assert client.get(url).status_code == 404


def test_export_and_erase_for_customers(mail_app, smtp_server, customer):
    client = mail_app.test_client()
    with time_machine.travel(START, tick=True) as traveller:
        signup(client, customer["ref_code"], "anna@example.org", name="Anna")
        confirm_by_form(client, token_from(smtp_server.messages[-1]))
        anna = participant_row(mail_app, "anna@example.org")
        refer(client, anna.ref_code, 3, traveller)
    mail_app.test_cli_runner().invoke(args=["jobs", "run", "daily"])
    with mail_app.test_request_context():  # the customer's API calls these in a request
        export = participant_export.export_participant(customer["id"], anna.id)
        summary = participant_export.participant_summary(db.session.get(Participant, anna.id))
        with pytest.raises(NotFound):
            participant_export.export_participant(customer["id"] + 1, anna.id)
        with pytest.raises(NotFound):
            erasure.erase_participant(customer["id"] + 1, anna.id, "user:1")
    assert set(export) >= {"participant", "consent", "referrals", "rewards"}
    assert export["participant"]["email"] == "anna@example.org"
    assert export["participant"]["name"] == "Anna"
    assert set(export["consent"]) >= {"text", "version", "given_at", "page", "confirmed_at"}
    assert export["consent"]["confirmed_at"].endswith("Z")
    assert len(export["referrals"]) == 3
    assert [r["tier"] for r in export["rewards"]] == ["Bronze"]
    assert set(summary) == {
        "id",
        "email",
        "name",
        "ref_code",
        "status",
        "referrals",
        "rewards",
        "created_at",
        "confirmed_at",
    }
    assert summary["referrals"] == 3 and summary["rewards"][0]["tier"] == "Bronze"

    with mail_app.app_context():
        erasure.erase_participant(customer["id"], anna.id, f"user:{customer['user_id']}")
        [audit] = db.session.scalars(select(AuditEntry)).all()
        assert audit.user_id == customer["user_id"]
    assert count(mail_app, Participant) == 0
    assert rebuild_check(mail_app)["differences"] == 0


def test_a_pending_confirmation_mail_is_never_sent_after_erasure(make_app, smtp_server, customer):
    app = make_app(**smtp_server.config)
    setup_program(app, customer["id"], milestones=False)
    smtp_server.stop()  # the first attempt fails: the mail waits for its retry
    with time_machine.travel(START, tick=True) as traveller:
        signup(app.test_client(), customer["ref_code"], "anna@example.org")
        assert mails(app) == [("confirmation", "pending", 1)]
        anna = participant_row(app, "anna@example.org")
        with app.app_context():
            erasure.erase_participant(customer["id"], anna.id, "participant")
        smtp_server.start()
        traveller.shift(60)
        with app.app_context():
            from jobs import mail as mail_jobs

            assert mail_jobs.sweep() == {"mails_due": 1}
    assert smtp_server.messages == []
    assert mails(app) == [("confirmation", "cancelled", 2)]


def test_unconfirmed_sign_ups_cannot_use_the_hub(mail_app, smtp_server, customer):
    client = mail_app.test_client()
    signup(client, customer["ref_code"], "anna@example.org")
    anna = participant_row(mail_app, "anna@example.org")
    assert anna.hub_token_hash is None
    assert OWN_BROWSER  # the sign-up's device is remembered for the self-referral rule
    with mail_app.app_context():
        assert db.session.scalar(
            select(ParticipantDevice).where(ParticipantDevice.participant_id == anna.id)
        )


@pytest.mark.parametrize(
    ("company", "sender"),
    [
        ("PayPal <service@paypal.example>", None),
        ("Shop", '"PayPal" <service@paypal.example>'),
        ("Müller & Söhne GmbH", None),
    ],
)
def test_no_company_name_can_pass_for_another_address(
    mail_app, smtp_server, customer, company, sender
):
    """From-header spoofing: with an empty sender name, a company called `PayPal
    <service@paypal.example>` made mails read as from that address."""
    with mail_app.app_context():
        row = db.session.get(Customer, customer["id"])
        row.company_name, row.sender_name = company, sender
        db.session.commit()
    signup(mail_app.test_client(), customer["ref_code"], "anna@example.org")
    [message] = smtp_server.messages
    name, address = parseaddr(str(message["From"]))
    assert address == "noreply@referral.test"
    assert [a for _, a in getaddresses([str(message["From"])])] == [address]
    shown = str(make_header(decode_header(name)))
    assert "@" not in shown and "<" not in shown and shown  # a name, never an address


def test_an_address_with_umlauts_before_the_at_is_refused_clearly(mail_app, smtp_server, customer):
    response = signup(mail_app.test_client(), customer["ref_code"], "jörg@example.org")
    assert response.status_code == 400
    body = response.get_json()
    assert body["error"] == "invalid_email" and "@" in body["message"]
    assert smtp_server.messages == []


def test_an_internationalised_domain_gets_its_mail(mail_app, smtp_server, customer):
    assert signup(mail_app.test_client(), customer["ref_code"], "max@münchen.de").status_code == 202
    assert smtp_server.envelopes[-1][1] == ["max@xn--mnchen-3ya.de"]
