"""The dashboard's side of reward fulfilment: the code bank (paste, CSV, low stock), the
download reward's file behind the participant's own link, and the approval queue page."""

from __future__ import annotations

import io
import re

import pytest
import time_machine
from sqlalchemy import select, update

from jobs import worker
from referral_app.extensions import db
from referral_app.models import Customer, Participant, RewardGrant, RewardMilestone
from referral_app.rewards import codes, milestones, reward_view
from referral_app.rewards import ledger as rewards

from .support_customer import add_participant, login_customer, other_customer  # noqa: F401
from .support_mail import smtp_server  # noqa: F401
from .support_participants import setup_program

PDF = b"%PDF-1.4\n% a reward\n"


@pytest.fixture
def logged_in(client, auth, customer) -> str:
    return login_customer(client, auth, customer)


def _milestone(app, customer_id: int, **values) -> int:
    data = {"threshold": 1, "tier": "Bronze", "title": "Preis", "hold_days": 0, **values}
    with app.app_context():
        return milestones.create_milestone(customer_id, data).id


def _earn(app, customer_id: int, emails: list[str]) -> list[int]:
    """Participants with one referral each, and the ledger run (grants as the daily job)."""
    for email in emails:
        add_participant(app, customer_id, email)
    with app.app_context():
        db.session.execute(update(Participant).values(conversions=1))
        db.session.commit()
        rewards.sync_ledger()
        return list(db.session.scalars(select(RewardGrant.id).order_by(RewardGrant.id)))


def test_the_code_bank_takes_pasted_codes_and_a_csv_file(app, client, customer, logged_in):
    reward_id = _milestone(app, customer["id"], kind="code")
    page = client.get("/dashboard/rewards").get_data(as_text=True)
    assert f'data-code-bank="{reward_id}"' in page and "data-low-stock" not in page
    csv_file = (io.BytesIO(b"code;note\nCSV-1;a\nCSV-2;b\nPASTE-1;c\n"), "codes.csv")
    response = client.post(
        f"/dashboard/rewards/{reward_id}/codes",
        data={"codes": "PASTE-1\nPASTE-2\n", "codes_file": csv_file, "csrf_token": logged_in},
        content_type="multipart/form-data",
    )
    assert response.status_code == 303
    with app.app_context():
        assert codes.stock(reward_id) == {**codes.stock(reward_id), "available": 4, "used": 0}
    page = client.get("/dashboard/rewards").get_data(as_text=True)
    assert "data-low-stock" in page  # 4 left: at most max(5, 10 %) is low

    empty = client.post(
        f"/dashboard/rewards/{reward_id}/codes",
        data={"codes": "  \n", "csrf_token": logged_in},
        headers={"HX-Request": "true"},
    )
    assert empty.status_code == 422
    assert f'id="codes-{reward_id}-error"' in empty.get_data(as_text=True)
    spaced = client.post(
        f"/api/referral/rewards/{reward_id}/codes",
        json={"codes": ["A B"]},
        headers={"X-CSRFToken": logged_in},
    )
    assert spaced.status_code == 400 and spaced.get_json()["error"] == "validation_failed"


def test_text_rewards_take_no_codes_and_other_customers_get_404(
    app,
    client,
    customer,
    logged_in,
    other_customer,  # noqa: F811
):
    text_id = _milestone(app, customer["id"])
    foreign_id = _milestone(app, other_customer["id"], kind="code")
    headers = {"X-CSRFToken": logged_in}
    refused = client.post(
        f"/api/referral/rewards/{text_id}/codes", json={"codes": ["X1"]}, headers=headers
    )
    assert refused.status_code == 400 and refused.get_json()["error"] == "not_a_code_reward"
    foreign = client.post(
        f"/api/referral/rewards/{foreign_id}/codes", json={"codes": ["X1"]}, headers=headers
    )
    assert foreign.status_code == 404


def test_a_low_code_bank_mails_the_customer_once(make_app, smtp_server, customer):  # noqa: F811
    app = make_app(**smtp_server.config)
    with app.app_context():
        db.session.get(Customer, customer["id"]).contact_email = "team@kunde.example"
        db.session.commit()
    reward_id = _milestone(app, customer["id"], kind="code")
    with app.app_context():
        milestone = db.session.get(RewardMilestone, reward_id)
        codes.add_codes(milestone, [f"C{n}" for n in range(3)])
        assert codes.warn_low_stock("http://localhost") == 1
        assert codes.warn_low_stock("http://localhost") == 0  # not again the next day
    [notice] = smtp_server.to("team@kunde.example")
    assert "/dashboard/rewards" in notice.get_payload(decode=True).decode()
    with app.app_context():  # topped up above the line: the next low spell warns again
        codes.add_codes(db.session.get(RewardMilestone, reward_id), [f"D{n}" for n in range(10)])
        assert db.session.get(RewardMilestone, reward_id).low_stock_notified_at is None


def test_the_download_is_served_only_behind_the_participants_own_link(
    app, client, customer, logged_in
):
    reward_id = _milestone(app, customer["id"], kind="download")
    page = client.get("/dashboard/rewards").get_data(as_text=True)
    assert f'data-reward-file="{reward_id}"' in page
    wrong = client.post(
        f"/dashboard/rewards/{reward_id}/file",
        data={"file": (io.BytesIO(b"<svg/>"), "x.svg"), "csrf_token": logged_in},
        content_type="multipart/form-data",
    )
    assert wrong.status_code == 422
    saved = client.post(
        f"/dashboard/rewards/{reward_id}/file",
        data={"file": (io.BytesIO(PDF), "Bonus Kapitel.pdf"), "csrf_token": logged_in},
        content_type="multipart/form-data",
    )
    assert saved.status_code == 303
    first, second = _earn(app, customer["id"], ["a@example.org", "b@example.org"])
    with app.app_context():
        grant = db.session.get(RewardGrant, first)
        assert grant.status == "delivered"  # no hold: at once, the file being there
        url = reward_view.download_url(grant, "")
        token = reward_view.download_token(grant)
    public = client.application.test_client()  # no login: the participant's browser
    response = public.get(url)
    assert response.status_code == 200 and response.data == PDF
    assert response.headers["Content-Disposition"] == 'attachment; filename="Bonus-Kapitel.pdf"'
    assert response.headers["Cache-Control"] == "no-store"
    assert "Set-Cookie" not in response.headers
    assert public.get(url[:-2] + "xx").status_code == 404
    assert public.get(f"/reward-file/{second}/{token}").status_code == 404  # not theirs
    with app.app_context():
        db.session.execute(update(RewardGrant).values(status="revoked"))
        db.session.commit()
    assert public.get(url).status_code == 404  # taken back: the link stops working


def test_the_approval_queue_page_approves_and_rejects_several_at_once(
    app, client, customer, logged_in
):
    _milestone(app, customer["id"], manual_approval="1", delivery="Ein Buch")
    a, b, c = _earn(app, customer["id"], ["a@example.org", "b@example.org", "c@example.org"])
    page = client.get("/dashboard/rewards/grants").get_data(as_text=True)
    assert re.findall(r'data-grant-id="(\d+)"', page) == [str(a), str(b), str(c)]
    assert "a@example.org" in page and "data-confirm" in page

    approved = client.post(
        "/dashboard/rewards/grants?status=pending",
        data={"ids": [a, b], "action": "approve", "csrf_token": logged_in},
    )
    assert approved.status_code == 303
    no_reason = client.post(
        "/dashboard/rewards/grants",
        data={"ids": [c], "action": "reject", "csrf_token": logged_in},
        headers={"HX-Request": "true"},
    )
    assert no_reason.status_code == 422 and 'id="grant-error"' in no_reason.get_data(as_text=True)
    rejected = client.post(
        "/dashboard/rewards/grants",
        data={"ids": [c], "action": "reject", "reason": "Storniert", "csrf_token": logged_in},
        headers={"HX-Request": "true"},
    )
    assert rejected.status_code == 200
    fragment = rejected.get_data(as_text=True)
    assert fragment.startswith('\n<div id="grant-list"') or 'id="grant-list"' in fragment[:200]
    with app.app_context():
        statuses = dict(db.session.execute(select(RewardGrant.id, RewardGrant.status)).all())
    assert statuses == {a: "delivered", b: "delivered", c: "revoked"}
    empty = client.get("/dashboard/rewards/grants").get_data(as_text=True)
    assert "data-grant-id" not in empty and 'class="card empty"' in empty
    revoked = client.get("/dashboard/rewards/grants?status=revoked").get_data(as_text=True)
    assert "Storniert" in revoked
    bad = client.get("/dashboard/rewards/grants?status=pending&cursor=@@")
    assert bad.status_code == 200 and "flash-error" in bad.get_data(as_text=True)


def test_a_cash_reward_takes_euros_in_the_form_and_cents_in_the_api(
    app, client, customer, logged_in
):
    headers = {"X-CSRFToken": logged_in}
    body = {"threshold": 4, "tier": "Gold", "title": "Prämie", "kind": "cash"}
    missing = client.post("/api/referral/rewards", json=body, headers=headers)
    assert missing.status_code == 400 and "amount_cents" in missing.get_json()["fields"]
    made = client.post("/api/referral/rewards", json=body | {"amount_cents": 2500}, headers=headers)
    assert made.status_code == 201
    form = {**body, "threshold": "6", "amount": "12,50", "hold_days": "30", "csrf_token": logged_in}
    assert client.post("/dashboard/rewards", data=form).status_code == 303
    items = client.get("/api/referral/rewards", headers=headers).get_json()["items"]
    assert [(i["amount_cents"], i["hold_days"]) for i in items] == [(2500, 14), (1250, 30)]
    page = client.get("/dashboard/rewards").get_data(as_text=True)
    assert "12,50 €" in page and "25,00 €" in page


def test_the_in_process_schedule_of_make_run_delivers_and_mails_due_rewards(
    make_app,
    smtp_server,
    customer,  # noqa: F811
):
    """`make run` (`flask serve`) runs the schedule in-process: the daily run it claims
    delivers the rewards whose hold ended and sends their mails, with no worker."""
    app = make_app(**smtp_server.config)
    setup_program(app, customer["id"], milestones=False)
    _milestone(app, customer["id"], hold_days=1, delivery="Gutschein SOMMER")
    with time_machine.travel("2026-03-02 09:00:00", tick=True) as traveller:
        [grant_id] = _earn(app, customer["id"], ["anna@example.org"])
        traveller.shift(2 * 86400)
        with app.app_context():
            assert "daily" in worker.tick()
            assert db.session.get(RewardGrant, grant_id).status == "delivered"
    [mail] = smtp_server.to("anna@example.org")
    assert "Gutschein SOMMER" in mail.get_body(("plain",)).get_content()
