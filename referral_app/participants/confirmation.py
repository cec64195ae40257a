"""The confirmation of a sign-up (the second step of the double opt-in): by a POST from the
page the mail links to, so mail scanners that prefetch links confirm nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from ..core import crypto
from ..core.errors import DomainError
from ..core.sqlutil import begin_write
from ..extensions import db
from ..models import (
    CONFIRMED_STATUS,
    UNSUBSCRIBED_STATUS,
    Customer,
    Participant,
    utcnow,
)
from ..tracking import stats
from ..tracking import visitor as visitor_service
from ..webhooks import events
from . import links
from . import mail as mail_service
from .program import TOKEN_PATTERN, visitor_error
from .signup import claim_confirmation_mail


@dataclass(frozen=True)
class Confirmation:
    status: str  # "confirmed" | "already_confirmed"
    participant_id: int
    ref_code: str
    referral_link: str
    hub_path: str


def _by_confirm_token(token: Any, lock: bool = False) -> Participant:
    if not isinstance(token, str) or not TOKEN_PATTERN.match(token):
        raise visitor_error("invalid_token")
    participant = links.by_token("confirm", token, lock=lock)
    if participant is None or participant.status == UNSUBSCRIBED_STATUS:
        raise visitor_error("invalid_token")
    return participant


def program_of_token(token: Any) -> int | None:
    """The program (customer id) a confirmation link belongs to; None for an unknown link.
    The page behind it shows that program's name, logo, Impressum and privacy notice."""
    try:
        return _by_confirm_token(token).customer_id
    except DomainError:
        return None


def confirmation_state(token: Any) -> tuple[str, str | None]:
    """For the page behind the mail link (a GET changes nothing): `pending`,
    `already_confirmed`, `token_expired` or `invalid_token`, and the language of the person's
    mails (None for an unknown link), so the page speaks as the mail did."""
    try:
        participant = _by_confirm_token(token)
    except DomainError as exc:
        return exc.code, None
    if participant.confirm_token_expires_at <= utcnow():
        return "token_expired", participant.language
    state = "already_confirmed" if participant.status == CONFIRMED_STATUS else "pending"
    return state, participant.language


def confirm(token: Any, ip: str, user_agent: str) -> Confirmation:
    """The POST behind the confirmation link. Single use: the second time it answers
    `already_confirmed` (while the link is valid). Commits."""
    known = _by_confirm_token(token)  # cheap refusal before taking the write lock
    visitor = visitor_service.identify(ip, user_agent, customer_id=known.customer_id)
    begin_write(db.session())
    participant = _by_confirm_token(token, lock=True)
    now = utcnow().replace(microsecond=0)
    if participant.confirm_token_expires_at <= now:
        db.session.rollback()
        raise visitor_error("token_expired")
    customer = db.session.get(Customer, participant.customer_id)
    if participant.status == CONFIRMED_STATUS:
        db.session.rollback()
        return _confirmation("already_confirmed", customer, participant)

    participant.status = CONFIRMED_STATUS
    participant.unsubscribed_at = None
    if participant.confirmed_at is None:  # a returning person was counted the first time
        participant.confirmed_at = now
        stats.record(db.session, customer.id, now.date(), confirmed_leads=1)
    participant.hub_token_hash = crypto.token_hash(links.hub_token(participant))
    visitor_service.remember_participant_device(participant.id, visitor)
    mail_id = mail_service.queue(customer.id, participant.id, mail_service.WELCOME)
    result = _confirmation("confirmed", customer, participant)
    referred_by = None
    if participant.referred_by_id:
        referred_by = db.session.scalar(
            select(Participant.ref_code).where(Participant.id == participant.referred_by_id)
        )
    db.session.commit()

    mail_service.dispatch(mail_id)
    events.emit(
        customer.id,
        "lead.confirmed",
        {"participant_id": participant.id, "referred_by": referred_by},
        participant.ref_code,
    )
    return result


def _confirmation(status: str, customer: Customer, participant: Participant) -> Confirmation:
    return Confirmation(
        status=status,
        participant_id=participant.id,
        ref_code=participant.ref_code,
        referral_link=links.referral_link(customer, participant),
        hub_path=links.HUB_PATH + links.hub_token(participant),
    )


def resend_confirmation(token: Any) -> str:
    """From the page of an expired link: a new confirmation mail (or, if confirmed
    meanwhile, the link mail), rate-limited like a sign-up. Commits."""
    participant = _by_confirm_token(token)
    begin_write(db.session())
    participant = _by_confirm_token(token, lock=True)
    now = utcnow().replace(microsecond=0)
    claimed = claim_confirmation_mail(participant.id, now)
    if not claimed:
        db.session.rollback()
        return "rate_limited"
    if participant.status == CONFIRMED_STATUS:
        kind = mail_service.ALREADY_IN
    else:
        links.issue_confirm_token(participant, now)
        kind = mail_service.CONFIRMATION
    mail_id = mail_service.queue(participant.customer_id, participant.id, kind)
    db.session.commit()
    mail_service.dispatch(mail_id)
    return "resent"
