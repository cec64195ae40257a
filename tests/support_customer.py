"""Test data for the customer dashboard: raw events written the way the tracking engine
writes them (the row and its counters in one transaction), so the aggregates agree with
`stats rebuild --check`, and a second customer to prove no IDOR."""

from __future__ import annotations

import re
import secrets
from datetime import datetime

import pytest

from referral_app.accounts import users as accounts
from referral_app.core import codes, crypto
from referral_app.extensions import db
from referral_app.models import (
    STATUS_BLOCKED,
    STATUS_TRACKED,
    Click,
    Conversion,
    OutgoingMail,
    Participant,
    RewardGrant,
    RewardMilestone,
    utcnow,
)
from referral_app.tracking import stats


@pytest.fixture
def other_customer(app):
    """A second customer, whose ids the first one must never reach."""
    with app.app_context():
        customer, user = accounts.create_customer(
            "andere@example.com", "anderes-passwort", "Andere Firma AG"
        )
        return {
            "id": customer.id,
            "user_id": user.id,
            "ref_code": customer.ref_code,
            "email": "andere@example.com",
            "password": "anderes-passwort",
        }


def add_click(
    app,
    customer_id: int,
    ref_code: str,
    status: str = STATUS_TRACKED,
    reason: str | None = None,
    at: datetime | None = None,
    participant_id: int | None = None,
) -> int:
    with app.app_context():
        at = at or utcnow()
        click = Click(
            customer_id=customer_id,
            participant_id=participant_id,
            ref_code=ref_code,
            salt_id=1,
            fingerprint=secrets.token_hex(32),
            ip_hash=secrets.token_hex(32),
            status=status,
            reason=reason,
            first_in_period=True if status == STATUS_TRACKED else None,
            created_at=at,
        )
        db.session.add(click)
        stats.record(
            db.session,
            customer_id,
            at.date(),
            clicks=int(status != STATUS_BLOCKED),
            unique_clicks=int(status == STATUS_TRACKED),
            blocked_clicks=int(status == STATUS_BLOCKED),
        )
        db.session.commit()
        return click.id


def add_conversion(
    app,
    customer_id: int,
    ref_code: str,
    status: str = STATUS_TRACKED,
    suspicious: bool = False,
    reasons: list[str] | None = None,
    at: datetime | None = None,
    participant_id: int | None = None,
) -> int:
    with app.app_context():
        at = at or utcnow()
        conversion = Conversion(
            customer_id=customer_id,
            participant_id=participant_id,
            ref_code=ref_code,
            salt_id=1,
            fingerprint=secrets.token_hex(32),
            ip_hash=secrets.token_hex(32),
            status=status,
            suspicious=suspicious,
            reasons=reasons or [],
            first_in_period=True if status == STATUS_TRACKED else None,
            created_at=at,
        )
        db.session.add(conversion)
        counted = status == STATUS_TRACKED
        stats.record(
            db.session,
            customer_id,
            at.date(),
            conversions=int(counted),
            suspicious_conversions=int(counted and suspicious),
            blocked_conversions=int(status == STATUS_BLOCKED),
        )
        if participant_id and counted:
            stats.record_participant(
                db.session,
                participant_id,
                conversions=1,
                suspicious_conversions=int(suspicious),
            )
        db.session.commit()
        return conversion.id


def add_participant(
    app,
    customer_id: int,
    email: str,
    status: str = "confirmed",
    name: str | None = None,
    at: datetime | None = None,
) -> dict:
    with app.app_context():
        at = at or utcnow()
        participant = Participant(
            customer_id=customer_id,
            ref_code=codes.participant_code(),
            email_encrypted=crypto.encrypt(email),
            email_hash=crypto.keyed_hash("email", email.strip().lower()),
            alias_hash=crypto.keyed_hash("alias", email.strip().lower()),
            name_encrypted=crypto.encrypt(name) if name else None,
            status=status,
            consent_given_at=at,
            confirmed_at=at if status == "confirmed" else None,
            created_at=at,
        )
        db.session.add(participant)
        stats.record(
            db.session,
            customer_id,
            at.date(),
            leads=1,
            confirmed_leads=int(status == "confirmed"),
        )
        db.session.commit()
        return {"id": participant.id, "ref_code": participant.ref_code, "email": email}


def add_milestone(app, customer_id: int, threshold: int, tier: str, title: str) -> int:
    with app.app_context():
        milestone = RewardMilestone(
            customer_id=customer_id, threshold=threshold, tier=tier, title=title
        )
        db.session.add(milestone)
        db.session.commit()
        return milestone.id


def grant(app, participant_id: int, reward_id: int) -> None:
    with app.app_context():
        db.session.add(RewardGrant(participant_id=participant_id, reward_id=reward_id))
        db.session.commit()


def add_failed_mail(app, customer_id: int) -> None:
    with app.app_context():
        db.session.add(
            OutgoingMail(customer_id=customer_id, kind="confirmation", status="failed", attempts=5)
        )
        db.session.commit()


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def shown_numbers(html: str) -> dict[str, str]:
    """The `data-stat` values the stats panel shows (the raw numbers behind the formatting)."""
    return dict(re.findall(r'data-stat="([^"]+)" data-value="([^"]+)"', html))


def login_customer(client, auth, customer: dict) -> str:
    """Log in and return a CSRF token of the session, for headers or forms."""
    response = auth.login(customer["email"], customer["password"])
    assert response.status_code == 302
    return csrf_from(client.get("/dashboard/").get_data(as_text=True))
