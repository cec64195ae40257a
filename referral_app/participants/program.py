"""Which program a referral code belongs to, and the errors a visitor may see."""

from __future__ import annotations

import re
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select

from ..accounts import branding
from ..core.errors import DomainError
from ..extensions import db
from ..models import (
    Customer,
    Participant,
)
from . import consent, links

REF_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9_-]{20,100}$")


def visitor_error(code: str, status: int = 400, reason: str | None = None) -> DomainError:
    """The error a visitor sees for `code` (API.md); `reason` picks a more precise message
    under the same code."""
    messages = {
        "email_not_ascii": _(
            "Our e-mails cannot reach addresses with umlauts or other special characters "
            "before the @ yet. Please use another address."
        ),
        "invalid_ref": _("The referral code is missing or malformed."),
        "unknown_ref": _("This referral code does not exist."),
        "program_inactive": _("This referral program is not active."),
        "invalid_email": _("Please enter a valid e-mail address (at most 254 characters)."),
        "consent_required": _("Please agree to take part in the referral program."),
        "disposable_email": _(
            "Addresses from disposable e-mail services cannot take part. Please use your "
            "own address."
        ),
        "invalid_token": _("This link is not valid (any more)."),
        "token_expired": _("This confirmation link has expired."),
    }
    return DomainError(messages[reason or code], code=code, status=status)


def resolve_ref(ref: Any) -> tuple[Customer, Participant | None]:
    """The customer behind a program code or a participant's code (and that participant).
    Raises invalid_ref, unknown_ref or program_inactive."""
    if not isinstance(ref, str) or not REF_PATTERN.match(ref.strip()):
        raise visitor_error("invalid_ref")
    ref = ref.strip()
    referrer = None
    customer = db.session.scalar(select(Customer).where(Customer.ref_code == ref))
    if customer is None:
        referrer = db.session.scalar(select(Participant).where(Participant.ref_code == ref))
        customer = db.session.get(Customer, referrer.customer_id) if referrer else None
    if customer is None:
        raise visitor_error("unknown_ref", 404)
    if not customer.program_active:
        raise visitor_error("program_inactive", 403)
    return customer, referrer


def program_info(ref: Any) -> dict[str, Any]:
    """What the sign-up form on the thank-you page shows (referral-tracking.js): the consent
    wording, and the program's Impressum, privacy notice and look (absolute URLs)."""
    customer, _referrer = resolve_ref(ref)
    wording = consent.current(customer)
    urls = branding.public_urls(customer, links.base_url())
    return {
        "active": True,
        "company_name": customer.company_name,
        "consent_text": wording.text,
        "consent_version": wording.version,
        "language": wording.language,
        "privacy_url": urls["privacy_url"],
        "imprint_url": urls["imprint_url"],
        "accent_color": branding.accent_of(customer),
        "logo_url": urls["logo_url"],
    }
