"""E-mails to participants: queued as outbox rows, sent by jobs, never lost.

A mail is a row (`OutgoingMail`) written in the same transaction as its cause (a sign-up, a
confirmation, a reward). A job (`jobs.mail.send`) sends it; an SMTP failure leaves the row
pending with the next attempt time (`MAIL_RETRY_DELAYS`), and after the last attempt it is
`failed`, which the customer sees. The address is read from the participant only when
sending, so an erased participant is never mailed.

Every mail is in the customer's name and language, carries the customer's Impressum, an
unsubscribe link, and `List-Unsubscribe` + `List-Unsubscribe-Post` (RFC 8058) headers.
"""

from __future__ import annotations

import logging
import smtplib
from datetime import datetime, timedelta
from email.utils import formataddr, parseaddr
from typing import Any

from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_mail import Connection, Message
from sqlalchemy import or_, select

from ..accounts import branding
from ..accounts import freebie as freebies
from ..core import crypto
from ..core.queue import enqueue
from ..core.sqlutil import begin_write
from ..extensions import db
from ..models import (
    CONFIRMED_STATUS,
    PENDING_STATUS,
    Customer,
    OutgoingMail,
    Participant,
    RewardGrant,
    RewardMilestone,
    utcnow,
)
from ..models.delivery import FAILED, PENDING, SENT
from ..rewards import reward_view
from . import consent, links, throttle
from .names import greeting_name

log = logging.getLogger(__name__)

CONFIRMATION = "confirmation"
ALREADY_IN = "already_in"
WELCOME = "welcome"
REWARD = "reward"
KINDS = (CONFIRMATION, ALREADY_IN, WELCOME, REWARD)
# A mail that must not go out any more (the person unsubscribed or was erased meanwhile).
CANCELLED = "cancelled"
# A sign-up mail never sent: the mailbox had its day's sign-up mails (throttle.py). The row
# is written all the same, so a withheld sign-up costs what a mailed one does.
WITHHELD = "withheld"
SIGNUP_KINDS = (CONFIRMATION, ALREADY_IN)
# Who may still get which mail: a confirmation only while pending, the rest once confirmed.
_RECIPIENT_STATUS = {
    CONFIRMATION: PENDING_STATUS,
    ALREADY_IN: CONFIRMED_STATUS,
    WELCOME: CONFIRMED_STATUS,
    REWARD: CONFIRMED_STATUS,
}


def queue(
    customer_id: int,
    participant_id: int,
    kind: str,
    reward_grant_id: int | None = None,
    withheld: bool = False,
) -> int:
    """Add a mail to the outbox in the caller's transaction; the caller enqueues
    `jobs.mail.send` with the returned id after its commit. A `withheld` row is never sent
    (its job finds nothing to do)."""
    if kind not in KINDS:
        raise ValueError(f"unknown mail kind {kind!r}")
    row = OutgoingMail(
        customer_id=customer_id,
        participant_id=participant_id,
        kind=kind,
        reward_grant_id=reward_grant_id,
        status=WITHHELD if withheld else PENDING,
        attempts=0,
        created_at=utcnow(),
    )
    db.session.add(row)
    db.session.flush()
    return row.id


def dispatch(mail_id: int) -> None:
    """Hand a queued mail to a job (RQ, or in-process without Redis) after the commit."""
    enqueue("jobs.mail.send", mail_id)


def retry_delays() -> list[int]:
    return [int(n) for n in current_app.config.get("MAIL_RETRY_DELAYS") or [30]]


def deliver(mail_id: int) -> tuple[str, timedelta | None]:
    """Try to send one mail. Returns the outcome (`sent`, `retry`, `failed`, `cancelled`,
    `deferred` when the program's hourly sign-up mails are used up, or `skipped` when it is
    not due or another worker holds it) and, for `retry` and `deferred`, the delay.

    Two workers may get the same id: the attempt is claimed by one conditional UPDATE, and a
    claim holds the row for MAIL_LEASE_SECONDS, after which a crashed attempt is retried.
    """
    now = utcnow()
    lease = timedelta(seconds=int(current_app.config.get("MAIL_LEASE_SECONDS", 300)))
    table = OutgoingMail.__table__
    begin_write(db.session())
    claimed = db.session.execute(
        table.update()
        .where(
            table.c.id == mail_id,
            table.c.status == PENDING,
            or_(
                table.c.next_attempt_at.is_(None),
                # RQ may run a delayed job a moment early
                table.c.next_attempt_at <= now + timedelta(seconds=5),
            ),
        )
        .values(attempts=table.c.attempts + 1, next_attempt_at=now + lease)
    ).rowcount
    db.session.commit()
    if not claimed:
        return "skipped", None

    mail = db.session.get(OutgoingMail, mail_id)
    participant = db.session.get(Participant, mail.participant_id) if mail.participant_id else None
    customer = db.session.get(Customer, mail.customer_id) if mail.customer_id else None
    if _cancelled(mail, participant, customer):
        _finish(mail_id, status=CANCELLED)
        return "cancelled", None
    if mail.kind in SIGNUP_KINDS and not _program_allows(mail, now):
        return "deferred", throttle.defer_delay()
    if mail.kind == CONFIRMATION and not links.confirm_token_valid_for_a_while(participant, now):
        begin_write(db.session())  # retries outlived the link: a fresh one
        participant = db.session.get(Participant, participant.id)
        links.issue_confirm_token(participant, now)
        db.session.commit()

    try:
        message = compose(mail, participant, customer)
        db.session.commit()  # end the read: nothing is held while talking to the server
        send(message)
    except Exception as exc:  # noqa: BLE001 - every failure is recorded and retried
        db.session.rollback()
        return _record_failure(mail_id, exc)
    _finish(mail_id, status=SENT, sent_at=utcnow())
    return "sent", None


def _program_allows(mail: OutgoingMail, now: datetime) -> bool:
    """Count this sign-up mail against the program's hourly limit; over it, give the
    attempt back and let the mail wait (it is sent when the limit allows, in order)."""
    mail_id, customer_id = mail.id, mail.customer_id
    begin_write(db.session())
    if throttle.take_program_mail(customer_id, now):
        db.session.commit()
        return True
    table = OutgoingMail.__table__
    db.session.execute(
        table.update()
        .where(table.c.id == mail_id)
        .values(
            attempts=table.c.attempts - 1,
            next_attempt_at=now + throttle.defer_delay(),
            last_error=throttle.HOURLY_LIMIT_MARK,
        )
    )
    db.session.commit()
    log.warning("program %s: sign-up mail %s waits for the hourly limit", customer_id, mail_id)
    return False


def _finish(mail_id: int, **values: Any) -> None:
    """The final state of an attempt, in its own write transaction (a reward mail marks its
    grant as mailed in the same one)."""
    table = OutgoingMail.__table__
    begin_write(db.session())
    db.session.execute(
        table.update()
        .where(table.c.id == mail_id)
        .values(next_attempt_at=None, last_error=None, **values)
    )
    grant_id = db.session.scalar(select(OutgoingMail.reward_grant_id).where(table.c.id == mail_id))
    if values.get("status") == SENT and grant_id:
        grants = RewardGrant.__table__
        db.session.execute(
            grants.update().where(grants.c.id == grant_id).values(mail_sent_at=values["sent_at"])
        )
    db.session.commit()


def _cancelled(
    mail: OutgoingMail, participant: Participant | None, customer: Customer | None
) -> bool:
    """The mail must not go out any more: the person was erased, unsubscribed or is in the
    wrong state for it, or the reward was revoked (a revoked grant gets no mail)."""
    if participant is None or customer is None:
        return True
    if participant.status != _RECIPIENT_STATUS.get(mail.kind):
        return True
    if mail.kind == REWARD:
        grant = db.session.get(RewardGrant, mail.reward_grant_id) if mail.reward_grant_id else None
        return grant is None or grant.revoked_at is not None or grant.status != "delivered"
    return False


def _record_failure(mail_id: int, exc: Exception) -> tuple[str, timedelta | None]:
    if not isinstance(exc, smtplib.SMTPException | OSError):
        log.exception("mail %s could not be built or sent", mail_id)
    begin_write(db.session())
    mail = db.session.get(OutgoingMail, mail_id)
    delays = retry_delays()
    mail.last_error = _describe(exc)
    if mail.attempts > len(delays):
        mail.status = FAILED
        mail.next_attempt_at = None
        outcome: tuple[str, timedelta | None] = ("failed", None)
    else:
        delay = timedelta(seconds=delays[mail.attempts - 1])
        mail.next_attempt_at = utcnow() + delay
        outcome = ("retry", delay)
    db.session.commit()
    log.warning("mail %s attempt %s: %s", mail_id, mail.attempts, mail.last_error)
    return outcome


def _describe(exc: Exception) -> str:
    """What went wrong, without the server's free text (it may quote the address)."""
    name = type(exc).__name__
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{name}: SMTP {exc.smtp_code}"
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = sorted({code for code, _message in exc.recipients.values()})
        return f"{name}: SMTP {', '.join(str(c) for c in codes)}"
    if isinstance(exc, OSError) and exc.strerror:
        return f"{name}: {exc.strerror}"[:500]
    return name


def due_mail_ids(limit: int = 500) -> list[int]:
    """Pending mails whose next attempt is due, or that never got their first attempt (a job
    lost before it ran): what the periodic sweep hands to `jobs.mail.send` again."""
    now = utcnow()
    return list(
        db.session.scalars(
            select(OutgoingMail.id)
            .where(
                OutgoingMail.status == PENDING,
                or_(
                    OutgoingMail.next_attempt_at <= now,
                    (OutgoingMail.next_attempt_at.is_(None))
                    & (OutgoingMail.created_at <= now - timedelta(minutes=1)),
                ),
            )
            .order_by(OutgoingMail.id)
            .limit(limit)
        )
    )


class _Connection(Connection):
    """Flask-Mail's connection with a socket timeout: a hanging SMTP server must fail the
    attempt (and be retried), not block a worker forever."""

    def configure_host(self):
        timeout = float(current_app.config.get("MAIL_TIMEOUT", 30))
        if self.mail.use_ssl:
            host = smtplib.SMTP_SSL(self.mail.server, self.mail.port, timeout=timeout)
        else:
            host = smtplib.SMTP(self.mail.server, self.mail.port, timeout=timeout)
        host.set_debuglevel(int(self.mail.debug))
        if self.mail.use_tls:
            host.starttls()
        if self.mail.username and self.mail.password:
            host.login(self.mail.username, self.mail.password)
        return host


def send(message: Message) -> None:
    with _Connection(current_app.extensions["mail"]) as connection:
        connection.send(message)


def _header_text(value: str | None) -> str:
    """Customer text for a header: one line, no room for header injection."""
    return " ".join((value or "").split())[:150]


# What must not be in a display name: it could pass for an address ("PayPal
# <service@paypal.example>") or end the name early.
_NOT_IN_DISPLAY_NAMES = str.maketrans("", "", '<>"@\\,;:')


def display_name(value: str | None) -> str:
    """A customer's text as the display name of an address header: one line, nothing that
    reads as an address. The one place every From/Reply-To name is made safe."""
    return _header_text((value or "").translate(_NOT_IN_DISPLAY_NAMES))


def sender_for(customer: Customer) -> str:
    """`"<sender name or company>" <MAIL_DEFAULT_SENDER>`: the mail is in the customer's
    name, from our own address (so SPF/DKIM hold); replies go to the customer. Built by the
    standard library (formataddr), never by string formatting."""
    default = current_app.config.get("MAIL_DEFAULT_SENDER") or "noreply@localhost"
    address = default[1] if isinstance(default, tuple | list) else parseaddr(default)[1]
    name = display_name(customer.sender_name) or display_name(customer.company_name)
    return formataddr((name, address)) if name else address


def compose(mail: OutgoingMail, participant: Participant, customer: Customer) -> Message:
    """Render the mail (HTML + text) in the customer's language."""
    address = crypto.decrypt(participant.email_encrypted)
    if not address:
        raise ValueError("participant address cannot be decrypted")
    context = _context(mail, participant, customer)
    with force_locale(consent.mail_language(customer)):
        subject = _subject(mail.kind, customer, context)
        html = render_template(f"emails/{mail.kind}.html", subject=subject, **context)
        text = render_template(f"emails/{mail.kind}.txt", subject=subject, **context)
    unsubscribe = links.unsubscribe_url(participant)
    return Message(
        subject=_header_text(subject),
        recipients=[address],
        body=text,
        html=html,
        sender=sender_for(customer),
        reply_to=customer.contact_email or None,
        extra_headers={
            "List-Unsubscribe": f"<{unsubscribe}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "Auto-Submitted": "auto-generated",
        },
    )


def _subject(kind: str, customer: Customer, context: dict[str, Any]) -> str:
    company = customer.company_name
    if kind == CONFIRMATION:
        return _(
            "Please confirm your sign-up for the referral program of %(company)s", company=company
        )
    if kind == ALREADY_IN:
        return _(
            "You are already taking part: your referral link from %(company)s", company=company
        )
    if kind == WELCOME:
        return _("Your referral link from %(company)s", company=company)
    return _("You earned a reward: %(title)s", title=context["milestone"].title)


def _context(mail: OutgoingMail, participant: Participant, customer: Customer) -> dict[str, Any]:
    context: dict[str, Any] = {
        "kind": mail.kind,
        "customer": customer,
        "brand": branding.brand(customer, links.base_url()),
        "name": greeting_name(crypto.decrypt(participant.name_encrypted)),
        "unsubscribe_url": links.unsubscribe_url(participant),
        "confirm_hours": int(current_app.config.get("CONFIRMATION_TOKEN_HOURS", 48)),
    }
    if mail.kind == CONFIRMATION:
        context["confirm_url"] = links.confirm_url(participant)
    else:
        context["hub_url"] = links.hub_url(participant)
        context["referral_link"] = links.referral_link(customer, participant)
        context["referrals"] = participant.referrals
    if mail.kind == WELCOME:  # never in the confirmation mail: no advertising there
        context["freebie"] = freebies.freebie_dict(customer, links.base_url())
    if mail.kind == WELCOME:  # never in the confirmation mail: no advertising there
        context["freebie"] = freebies.freebie_dict(customer, links.base_url())
    if mail.kind == REWARD:
        grant = db.session.get(RewardGrant, mail.reward_grant_id)
        context["milestone"] = db.session.get(RewardMilestone, grant.reward_id) if grant else None
        if context["milestone"] is None:
            raise ValueError("the reward of this mail no longer exists")
        context["reward"] = reward_view.delivered_reward(
            grant, context["milestone"], links.base_url()
        )
    return context
