"""`flask seed-demo`: a first look with data in every chart. Idempotent: a second run finds
the demo customer and changes nothing."""

from __future__ import annotations

import random
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import select

from .accounts import users as accounts
from .core import codes, crypto
from .extensions import db
from .models import (
    CONFIRMED_STATUS,
    PENDING_STATUS,
    STATUS_BLOCKED,
    STATUS_DUPLICATE,
    STATUS_TRACKED,
    Click,
    ConsentText,
    Conversion,
    Participant,
    RewardMilestone,
    User,
    utcnow,
)
from .participants import addresses
from .tracking import recount

DEMO_CUSTOMER = {
    "email": "demo@example.com",
    "password": "demo-passwort",
    "company": "Demo Coaching GmbH",
}
DEMO_ADMIN = {"email": "admin@example.com", "password": "admin-passwort"}
DEMO_IMPRINT = (
    "Demo Coaching GmbH\nMusterstraße 1\n10115 Berlin\n"
    "Geschäftsführerin: Erika Mustermann\nHandelsregister: HRB 12345, AG Berlin\n"
    "USt-IdNr.: DE123456789\nE-Mail: kontakt@example.com"
)
DEMO_CONSENT = (
    "Ja, ich möchte am Empfehlungsprogramm teilnehmen und per E-Mail meinen persönlichen "
    "Empfehlungslink sowie Nachrichten zu meinen Belohnungen erhalten. Die Einwilligung kann "
    "ich jederzeit über den Abmeldelink in jeder E-Mail widerrufen."
)
MILESTONES = [
    (3, "Bronze", "Checkliste „Erste Schritte“", "Link zur Checkliste im Mitgliederbereich"),
    (5, "Silber", "Workbook als PDF", "Download-Link im Mitgliederbereich"),
    (10, "Gold", "30 Minuten Einzel-Coaching", "Gutscheincode GOLD-COACHING"),
]


def seed() -> dict[str, Any]:
    logins = [
        {
            "role": "customer",
            "email": DEMO_CUSTOMER["email"],
            "password": DEMO_CUSTOMER["password"],
        },
        {"role": "admin", "email": DEMO_ADMIN["email"], "password": DEMO_ADMIN["password"]},
    ]
    user = db.session.scalar(select(User).where(User.email == DEMO_CUSTOMER["email"]))
    if user is not None:
        return {
            "ok": True,
            "created": False,
            "customer_id": user.customer_id,
            "ref_code": user.customer.ref_code,
            "logins": logins,
        }

    customer, user = accounts.create_customer(
        DEMO_CUSTOMER["email"], DEMO_CUSTOMER["password"], DEMO_CUSTOMER["company"]
    )
    if db.session.scalar(select(User).where(User.email == DEMO_ADMIN["email"])) is None:
        accounts.create_admin(DEMO_ADMIN["email"], DEMO_ADMIN["password"])
    customer.referral_enabled = True
    customer.imprint = DEMO_IMPRINT
    customer.sender_name = "Erika von Demo Coaching"
    customer.website = "https://coaching.example.com"
    for position, (threshold, tier, title, delivery) in enumerate(MILESTONES):
        db.session.add(
            RewardMilestone(
                customer_id=customer.id,
                threshold=threshold,
                tier=tier,
                title=title,
                delivery=delivery,
                position=position,
            )
        )
    consent = db.session.scalar(select(ConsentText).where(ConsentText.version == "demo-1"))
    if consent is None:
        consent = ConsentText(version="demo-1", language="de", text=DEMO_CONSENT)
        db.session.add(consent)
    db.session.flush()

    rng = random.Random(45)  # the same demo on every machine
    now = utcnow()
    participants = _participants(customer.id, consent.id, now, rng)
    events = _events(customer.id, customer.ref_code, participants, now, rng)
    db.session.commit()
    summary = recount.rebuild()
    return {
        "ok": True,
        "created": True,
        "customer_id": customer.id,
        "ref_code": customer.ref_code,
        "participants": len(participants),
        "clicks": events["clicks"],
        "conversions": events["conversions"],
        "reward_grants": summary["reward_grants"]["granted"],
        "logins": logins,
    }


def _participants(
    customer_id: int, consent_id: int, now: datetime, rng: random.Random
) -> list[Participant]:
    names = ["Anna", "Ben", "Clara", "David", "Emma", "Felix", "Greta", "Hannes"]
    people = []
    for index, name in enumerate(names):
        email = f"{name.lower()}@example.org"
        signed_up = now - timedelta(days=rng.randint(3, 28), hours=rng.randint(0, 23))
        confirmed = index < 6
        people.append(
            Participant(
                customer_id=customer_id,
                ref_code=codes.participant_code(),
                email_encrypted=crypto.encrypt(email),
                email_hash=addresses.email_hash(customer_id, email),
                alias_hash=addresses.alias_hash(customer_id, email),
                name_encrypted=crypto.encrypt(name),
                status=CONFIRMED_STATUS if confirmed else PENDING_STATUS,
                consent_text_id=consent_id,
                consent_given_at=signed_up,
                consent_page="https://coaching.example.com/danke",
                confirmed_at=signed_up + timedelta(minutes=rng.randint(2, 90))
                if confirmed
                else None,
                created_at=signed_up,
            )
        )
    db.session.add_all(people)
    db.session.flush()
    return people


def _events(
    customer_id: int,
    program_code: str,
    participants: list[Participant],
    now: datetime,
    rng: random.Random,
) -> dict[str, int]:
    """A month of clicks and conversions on the program and the participants' codes."""
    confirmed = [p for p in participants if p.status == CONFIRMED_STATUS]
    clicks = conversions = 0
    for days_ago in range(30, -1, -1):
        day = (now - timedelta(days=days_ago)).date()
        for n in range(rng.randint(8, 30)):
            owner = rng.choice([None, None, *confirmed])
            code = owner.ref_code if owner else program_code
            at = datetime.combine(day, time(rng.randint(7, 21), rng.randint(0, 59)))
            if at > now:
                at = now - timedelta(minutes=rng.randint(1, 300))
            fingerprint = crypto.customer_hash(customer_id, "demo-visitor", day.isoformat(), str(n))
            status = rng.choices(
                [STATUS_TRACKED, STATUS_DUPLICATE, STATUS_BLOCKED], weights=[85, 10, 5]
            )[0]
            click = Click(
                customer_id=customer_id,
                participant_id=owner.id if owner else None,
                ref_code=code,
                salt_id=0,
                fingerprint=fingerprint,
                ip_hash=crypto.customer_hash(customer_id, "demo-ip", day.isoformat(), str(n % 7)),
                status=status,
                reason="bot_user_agent" if status == STATUS_BLOCKED else None,
                first_in_period=True if status == STATUS_TRACKED else None,
                page="https://coaching.example.com/freebie",
                created_at=at,
            )
            db.session.add(click)
            clicks += 1
            if status == STATUS_TRACKED and rng.random() < 0.3:
                db.session.flush()
                seconds = rng.choice([2.5, *[rng.uniform(40, 900) for _ in range(12)]])
                fast = seconds < 5
                db.session.add(
                    Conversion(
                        customer_id=customer_id,
                        participant_id=click.participant_id,
                        click_id=click.id,
                        ref_code=code,
                        salt_id=0,
                        fingerprint=fingerprint,
                        ip_hash=click.ip_hash,
                        status=STATUS_TRACKED,
                        suspicious=fast,
                        reasons=["fast_conversion"] if fast else [],
                        seconds_since_click=round(seconds, 1),
                        first_in_period=True,
                        page="https://coaching.example.com/danke",
                        created_at=min(at + timedelta(seconds=seconds), now),
                    )
                )
                conversions += 1
    return {"clicks": clicks, "conversions": conversions}
