"""The consent wording a visitor agrees to at sign-up, kept per version.

Double opt-in proof (BGH I ZR 164/09) needs the exact text the person saw. The text names the
customer and is written in the customer's language, so its version is a digest of the final
wording: any change (a new company name, a new translation) is a new version, and a version
once stored never changes its text.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import select

from ..core.sqlutil import insert_ignore
from ..extensions import db
from ..models import ConsentText, Customer, utcnow


@dataclass(frozen=True)
class Wording:
    version: str
    language: str
    text: str


def mail_language(customer: Customer) -> str:
    """German by default; English when the customer chose it (mails, consent text)."""
    return "en" if (customer.language or "").lower().startswith("en") else "de"


def current(customer: Customer) -> Wording:
    """The wording shown to this customer's visitors now (nothing is written)."""
    language = mail_language(customer)
    with force_locale(language):
        text = _(
            "Yes, I want to join the referral program of %(company)s. For this, my e-mail "
            "address (and my name, if given) is stored, and I get my personal referral link "
            "and news about my rewards by e-mail. I can withdraw my consent at any time with "
            "the unsubscribe link in every e-mail.",
            company=customer.company_name,
        )
    digest = hashlib.sha256(f"{language}\n{text}".encode()).hexdigest()[:16]
    return Wording(version=f"{language}-{digest}", language=language, text=text)


def stored(customer: Customer, seen_version: str | None = None) -> ConsentText:
    """The stored row of the wording the visitor agreed to, made on first use (in the
    caller's transaction). `seen_version` is what the form showed (it may be a moment older
    than a rename); one that is unknown or names another company falls back to the current
    wording, which is what the form fetched."""
    if seen_version:
        row = db.session.scalar(select(ConsentText).where(ConsentText.version == seen_version))
        if row is not None and customer.company_name in row.text:
            return row
    wording = current(customer)
    insert_ignore(
        db.session,
        ConsentText.__table__,
        {
            "version": wording.version,
            "language": wording.language,
            "text": wording.text,
            "created_at": utcnow(),
        },
    )
    return db.session.scalars(
        select(ConsentText).where(ConsentText.version == wording.version)
    ).one()
