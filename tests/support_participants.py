"""Helpers for the participant and job tests: a program with an Impressum and milestones,
sign-ups and confirmations through HTTP, referred visitors through the tracking API."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from referral_app.extensions import db
from referral_app.models import Customer, OutgoingMail, Participant, RewardMilestone

from .support_mail import SmtpServer, text_of

IMPRINT = (
    "Müller & Söhne GmbH\nHauptstraße 5\n80331 München\nGeschäftsführer: Max Müller\n"
    "HRB 4711, AG München"
)
PRIVACY_URL = "https://mueller-soehne.example/datenschutz"
BROWSER = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36"
)
OWN_BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


def setup_program(app, customer_id: int, language: str = "de", milestones: bool = True) -> None:
    """Give the fixture customer an Impressum, a sender, a reply-to and three milestones."""
    with app.app_context():
        customer = db.session.get(Customer, customer_id)
        customer.imprint = IMPRINT
        customer.privacy_url = PRIVACY_URL
        customer.sender_name = "Max von Müller & Söhne"
        customer.contact_email = "hallo@mueller-soehne.example"
        customer.language = language
        if milestones:
            for position, (threshold, tier, title, delivery) in enumerate(
                [
                    (3, "Bronze", "Checkliste", "Gutscheincode BRONZE-2024"),
                    (5, "Silber", "Workbook", "https://mueller-soehne.example/workbook"),
                    (10, "Gold", "Coaching", "Termin per Antwort-Mail"),
                ]
            ):
                db.session.add(
                    RewardMilestone(
                        customer_id=customer_id,
                        threshold=threshold,
                        tier=tier,
                        title=title,
                        delivery=delivery,
                        position=position,
                    )
                )
        db.session.commit()


def signup(client, ref: str, email: str, ip: str = "127.0.0.1", **extra: Any):
    body = {"ref": ref, "email": email, "consent": True, **extra}
    return client.post(
        "/api/referral/register-lead",
        json=body,
        headers={"User-Agent": OWN_BROWSER},
        environ_base={"REMOTE_ADDR": ip},
    )


def token_from(message, kind: str = "confirm") -> str:
    text = text_of(message)
    pattern = {
        "confirm": r"/api/referral/confirm-lead\?token=([A-Za-z0-9_-]+)",
        "hub": r"/hub/([A-Za-z0-9_-]+)",
        "unsubscribe": r"/unsubscribe/(\d+/[A-Za-z0-9_-]+)",
    }[kind]
    match = re.search(pattern, text)
    assert match, f"no {kind} link in:\n{text}"
    return match.group(1)


def confirm_by_form(client, token: str):
    return client.post(
        "/api/referral/confirm-lead",
        data={"token": token},
        headers={"User-Agent": OWN_BROWSER},
    )


def refer(client, ref: str, visitors: int, traveller, first_ip: int = 10) -> list[dict]:
    """`visitors` people, each from their own address and browser, click the link and
    convert 10 s later (not "too fast"). Returns the conversion answers."""
    answers = []
    for n in range(visitors):
        ip, ua = f"203.0.113.{first_ip + n}", f"{BROWSER} Visitor/{n}"
        clicked = client.post(
            "/api/referral/track-click",
            json={"ref": ref, "page": "https://mueller-soehne.example/freebie"},
            headers={"User-Agent": ua},
            environ_base={"REMOTE_ADDR": ip},
        )
        assert clicked.status_code == 200, clicked.get_data(as_text=True)
        traveller.shift(10)
        converted = client.post(
            "/api/referral/track-conversion",
            json={"ref": ref, "click_id": clicked.get_json().get("click_id")},
            headers={"User-Agent": ua},
            environ_base={"REMOTE_ADDR": ip},
        )
        assert converted.status_code == 200, converted.get_data(as_text=True)
        answers.append(converted.get_json())
    return answers


def participant_row(app, email_hash_of: str | None = None, participant_id: int | None = None):
    from referral_app.participants import addresses

    with app.app_context():
        if participant_id is not None:
            row = db.session.get(Participant, participant_id)
        else:
            # The hash is keyed per program: the row of any program with this address.
            row = next(
                (
                    p
                    for p in db.session.scalars(select(Participant).order_by(Participant.id))
                    if p.email_hash == addresses.email_hash(p.customer_id, email_hash_of)
                ),
                None,
            )
        if row is not None:
            db.session.expunge(row)
        return row


def count(app, model, *where) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model).where(*where))


def mails(app, **filters: Any) -> list[tuple[str, str, int]]:
    """(kind, status, attempts) of every outbox row, oldest first."""
    with app.app_context():
        query = select(OutgoingMail).order_by(OutgoingMail.id)
        for name, value in filters.items():
            query = query.where(getattr(OutgoingMail, name) == value)
        return [(m.kind, m.status, m.attempts) for m in db.session.scalars(query)]


def rebuild_check(app) -> dict:
    from referral_app.tracking import recount

    with app.app_context():
        return recount.rebuild(check=True)


@pytest.fixture
def mail_app(make_app, smtp_server: SmtpServer, customer) -> Iterator:
    """An app that sends real mail to the test SMTP server (jobs in-process), with the
    fixture customer's program set up."""
    app = make_app(**smtp_server.config)
    setup_program(app, customer["id"])
    yield app
