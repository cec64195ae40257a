"""Rewards to the end: the code bank hands each code out once (8 daily runs at once), a
reward is held and then delivered, a referral flagged during the hold takes it back, and
the customer's approval queue (API). On SQLite and on MariaDB + Redis."""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import func, select, update

from referral_app.extensions import db
from referral_app.models import (
    Conversion,
    OutgoingMail,
    Participant,
    RewardCode,
    RewardGrant,
    RewardMilestone,
    utcnow,
)
from referral_app.rewards import codes, fulfilment, milestones
from referral_app.rewards import ledger as rewards
from referral_app.tracking import recount

from .conftest import api_key_for
from .support_customer import add_participant, other_customer  # noqa: F401
from .support_http import http_receiver  # noqa: F401
from .support_mail import smtp_server, text_of  # noqa: F401
from .support_participants import (
    confirm_by_form,
    participant_row,
    refer,
    setup_program,
    signup,
    token_from,
)

pytestmark = pytest.mark.both_backends  # concurrent code takes: locks, unique keys

START = "2026-03-02 09:00:00"
RUNS = 8


def bearer(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


def _daily(app) -> dict:
    with app.app_context():
        from jobs import scheduled

        summary = scheduled.daily()
        db.session.remove()
        return summary


def _grants(app) -> list[RewardGrant]:
    with app.app_context():
        found = db.session.scalars(select(RewardGrant).order_by(RewardGrant.id)).all()
        db.session.expunge_all()
        return found


def _code_reward(app, customer_id: int, threshold: int = 1, hold_days: int = 1) -> int:
    with app.app_context():
        milestone = milestones.create_milestone(
            customer_id,
            {
                "threshold": threshold,
                "tier": "Bronze",
                "title": "Gutschein",
                "kind": "code",
                "hold_days": hold_days,
            },
        )
        return milestone.id


def test_the_code_bank_hands_out_each_code_once_under_8_concurrent_runs(app, customer):
    reward_id = _code_reward(app, customer["id"])
    people = [add_participant(app, customer["id"], f"p{n}@example.org") for n in range(24)]
    with app.app_context():
        db.session.execute(update(Participant).values(conversions=1))
        db.session.commit()
        assert rewards.sync_ledger()["granted"] == 24  # pending: held for a day
        milestone = db.session.get(RewardMilestone, reward_id)
        added = codes.add_codes(milestone, [f"CODE-{n:03d}" for n in range(16)])
        assert added == {"added": 16, "available": 16}
    later = utcnow() + timedelta(days=2)
    barrier = threading.Barrier(RUNS)
    results: list[dict] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with app.app_context():
                barrier.wait()
                results.append(fulfilment.release_due(later))
                db.session.remove()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(RUNS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sum(r["delivered"] for r in results) == 16  # each grant counted by one run only
    with app.app_context():
        taken = db.session.execute(
            select(RewardCode.grant_id, RewardCode.code).where(RewardCode.grant_id.is_not(None))
        ).all()
        delivered = set(
            db.session.scalars(select(RewardGrant.id).where(RewardGrant.status == "delivered"))
        )
        assert len(taken) == 16 and len({g for g, _c in taken}) == 16
        assert {g for g, _c in taken} == delivered  # every delivered grant holds one code
        assert codes.stock(reward_id)["available"] == 0
        waiting = db.session.scalar(
            select(func.count()).select_from(RewardGrant).where(RewardGrant.status == "pending")
        )
        assert waiting == 8  # the bank ran dry: they wait, nothing was handed out twice

        milestone = db.session.get(RewardMilestone, reward_id)
        codes.add_codes(milestone, [f"CODE-{n:03d}" for n in range(10, 30)])  # 6 repeats
        assert codes.stock(reward_id)["available"] == 14
        assert fulfilment.release_due(later)["delivered"] == 8
        all_codes = db.session.scalars(
            select(RewardCode.code).where(RewardCode.grant_id.is_not(None))
        ).all()
        assert len(all_codes) == len(set(all_codes)) == len(people)


def _program(app, customer) -> str:
    setup_program(app, customer["id"], milestones=False)
    return api_key_for(app, customer["user_id"])


def _join(app, client, smtp, ref: str, email: str):
    signup(client, ref, email)
    hub = confirm_by_form(client, token_from(smtp.to(email)[-1])).headers["Location"]
    return participant_row(app, email), hub


def _events(receiver, name: str) -> list[dict]:
    bodies = [json.loads(r.body) for r in receiver.requests]
    return [b["data"] for b in bodies if b["event"] == name]


@pytest.fixture
def reward_app(make_app, smtp_server, customer):  # noqa: F811
    return make_app(**smtp_server.config, WEBHOOK_ALLOW_PRIVATE=True)


def _subscribe(app, key: str, url: str) -> None:
    response = app.test_client().post(
        "/api/referral/webhooks",
        json={"url": url, "events": ["reward.pending", "reward.delivered", "reward.revoked"]},
        headers=bearer(key),
    )
    assert response.status_code == 201, response.get_json()


def test_a_held_reward_is_delivered_with_its_code_when_the_hold_ends(
    reward_app, smtp_server, customer, http_receiver
):
    key = _program(reward_app, customer)
    _subscribe(reward_app, key, http_receiver.url)
    client = reward_app.test_client()
    created = client.post(
        "/api/referral/rewards",
        json={"threshold": 2, "tier": "Bronze", "title": "Gutschein", "kind": "code"},
        headers=bearer(key),
    )
    assert created.status_code == 201
    reward_id = created.get_json()["id"]
    added = client.post(
        f"/api/referral/rewards/{reward_id}/codes",
        json={"codes": ["SPRING-1", "SPRING-2", "SPRING-1"]},
        headers=bearer(key),
    )
    assert added.get_json() == {"ok": True, "added": 2, "available": 2}
    with time_machine.travel(START, tick=True) as traveller:
        anna, hub = _join(reward_app, client, smtp_server, customer["ref_code"], "anna@example.org")
        refer(client, anna.ref_code, 2, traveller)
        [grant] = _grants(reward_app)
        assert grant.status == "pending" and grant.due_at - grant.earned_at == timedelta(days=14)
        page = client.get(hub).get_data(as_text=True)
        assert 'data-grant-status="pending"' in page and "SPRING-" not in page

        traveller.shift(86400)  # a day later: still held
        summary = _daily(reward_app)
        assert summary["rewards_released"]["delivered"] == 0
        assert summary["reward_mails_queued"] == 0

        traveller.shift(14 * 86400)  # the hold is over and the referrals still count
        summary = _daily(reward_app)
        assert summary["rewards_released"] == {"delivered": 1, "waiting": 0}
        assert summary["reward_mails_queued"] == 1
        assert _daily(reward_app)["reward_mails_queued"] == 0  # once
    [grant] = _grants(reward_app)
    assert grant.status == "delivered"
    [mail] = [m for m in smtp_server.to("anna@example.org") if "Gutschein" in m["Subject"]]
    assert "SPRING-1" in text_of(mail)
    page = client.get(hub).get_data(as_text=True)
    assert 'data-grant-status="delivered"' in page and "SPRING-1" in page
    listed = client.get("/api/referral/reward-grants?status=delivered", headers=bearer(key))
    [item] = listed.get_json()["items"]
    assert item["code"] == "SPRING-1" and item["status"] == "delivered"
    assert [e["grant_id"] for e in _events(http_receiver, "reward.pending")] == [grant.id]
    [delivered] = _events(http_receiver, "reward.delivered")
    assert delivered["code"] == "SPRING-1"


def test_a_referral_flagged_during_the_hold_takes_the_reward_back(
    reward_app, smtp_server, customer, http_receiver
):
    key = _program(reward_app, customer)
    _subscribe(reward_app, key, http_receiver.url)
    client = reward_app.test_client()
    reward_id = _code_reward(reward_app, customer["id"], threshold=2, hold_days=14)
    with reward_app.app_context():
        codes.add_codes(db.session.get(RewardMilestone, reward_id), ["ONLY-ONE"])
    with time_machine.travel(START, tick=True) as traveller:
        anna, hub = _join(reward_app, client, smtp_server, customer["ref_code"], "anna@example.org")
        refer(client, anna.ref_code, 2, traveller)
        traveller.shift(3 * 86400)
        with reward_app.app_context():  # found fraudulent on day 3, inside the hold
            db.session.execute(
                update(Conversion)
                .where(Conversion.id == db.session.scalar(select(Conversion.id).limit(1)))
                .values(suspicious=True, reasons=["manual_review"])
            )
            db.session.commit()
            recount.rebuild()
        [grant] = _grants(reward_app)
        assert grant.status == "revoked" and grant.reason_code == "clawback"
        traveller.shift(20 * 86400)
        summary = _daily(reward_app)
    assert summary["rewards_released"]["delivered"] == 0
    assert summary["reward_mails_queued"] == 0
    assert [
        m["Subject"] for m in smtp_server.to("anna@example.org") if "Gutschein" in m["Subject"]
    ] == []
    with reward_app.app_context():
        assert codes.stock(reward_id)["available"] == 1  # the code was never handed out
    page = client.get(hub).get_data(as_text=True)
    assert 'data-grant-status="revoked"' in page and "ONLY-ONE" not in page
    assert 'class="reward-reason"' in page  # the participant sees why
    listed = client.get("/api/referral/reward-grants?status=revoked", headers=bearer(key))
    [item] = listed.get_json()["items"]
    assert item["reason"] and item["status"] == "revoked"
    [revoked] = _events(http_receiver, "reward.revoked")
    assert revoked["reason_code"] == "clawback"
    assert _events(http_receiver, "reward.delivered") == []


def test_the_approval_queue_approves_and_rejects_with_a_reason(
    reward_app,
    smtp_server,
    customer,
    other_customer,  # noqa: F811
):
    key = _program(reward_app, customer)
    client = reward_app.test_client()
    created = client.post(
        "/api/referral/rewards",
        json={
            "threshold": 1,
            "tier": "Gold",
            "title": "Workshop",
            "delivery": "Termin per Antwort-Mail",
            "hold_days": 0,
            "manual_approval": True,
        },
        headers=bearer(key),
    )
    assert created.status_code == 201
    with time_machine.travel(START, tick=True) as traveller:
        anna, anna_hub = _join(reward_app, client, smtp_server, customer["ref_code"], "anna@ex.org")
        ben, ben_hub = _join(reward_app, client, smtp_server, customer["ref_code"], "ben@ex.org")
        refer(client, anna.ref_code, 1, traveller, first_ip=10)
        refer(client, ben.ref_code, 1, traveller, first_ip=40)
        traveller.shift(86400)
        assert _daily(reward_app)["rewards_released"]["delivered"] == 0  # waits for approval
    page = client.get("/api/referral/reward-grants?status=pending", headers=bearer(key))
    items = page.get_json()["items"]
    assert [i["participant_id"] for i in items] == [anna.id, ben.id]
    anna_grant, ben_grant = (i["id"] for i in items)

    approved = client.post(f"/api/referral/reward-grants/{anna_grant}/approve", headers=bearer(key))
    assert approved.get_json() == {"ok": True, "status": "delivered"}  # the hold was over
    [mail] = [m for m in smtp_server.to("anna@ex.org") if "Workshop" in m["Subject"]]
    assert "Termin per Antwort-Mail" in text_of(mail)

    no_reason = client.post(
        f"/api/referral/reward-grants/{ben_grant}/reject", json={}, headers=bearer(key)
    )
    assert no_reason.status_code == 400 and no_reason.get_json()["error"] == "validation_failed"
    rejected = client.post(
        f"/api/referral/reward-grants/{ben_grant}/reject",
        json={"reason": "Eigene Bestellung, keine Empfehlung"},
        headers=bearer(key),
    )
    assert rejected.get_json() == {"ok": True, "status": "revoked"}
    again = client.post(f"/api/referral/reward-grants/{ben_grant}/approve", headers=bearer(key))
    assert again.status_code == 409 and again.get_json()["error"] == "invalid_state"
    late = client.post(
        f"/api/referral/reward-grants/{anna_grant}/reject",
        json={"reason": "x"},
        headers=bearer(key),
    )
    assert late.status_code == 409

    other_key = api_key_for(reward_app, other_customer["user_id"])
    foreign = client.post(
        f"/api/referral/reward-grants/{anna_grant}/approve", headers=bearer(other_key)
    )
    assert foreign.status_code == 404
    bad = client.get("/api/referral/reward-grants?status=lost", headers=bearer(key))
    assert bad.status_code == 400 and bad.get_json()["ok"] is False

    _daily(reward_app)  # the ledger keeps the customer's "no"
    assert {g.id: g.status for g in _grants(reward_app)} == {
        anna_grant: "delivered",
        ben_grant: "revoked",
    }
    page = client.get(ben_hub).get_data(as_text=True)
    assert "Eigene Bestellung, keine Empfehlung" in page
    assert [m for m in smtp_server.to("ben@ex.org") if "Workshop" in m["Subject"]] == []
    with reward_app.app_context():
        assert rewards.sync_ledger(check=True)["differences"] == 0
