"""Double opt-in sign-up.

- Sign-up answers the same for known and new addresses (no enumeration). A known pending
  address gets its confirmation mail again, a confirmed one a "you're already in" mail, each
  at most once per SIGNUP_MAIL_INTERVAL_MINUTES (an atomic claim on the participant row).
- ... and the same time: register-lead only checks the request and writes one intake row
  of the same shape for every address (`take_in`, intake.py); the sign-up runs in a job
  after the answer (`process`), where both paths run the same statements (an insert that a
  known address turns into a no-op, the same lookups, one outbox row, one counted mailbox,
  one mail job). docs/participants.md "Sign-up rules".
- A mailbox gets sign-up mails for at most SIGNUP_MAILS_PER_MAILBOX_DAY sign-ups a day
  (throttle.py); further sign-ups are withheld, answered the same.
- The consent proof is the stored wording (version), the time, the page and the hashed IP;
  the confirmation time completes it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..core import codes, crypto
from ..core.errors import DomainError, ValidationFailed
from ..core.queue import enqueue, run_after_response
from ..core.sqlutil import begin_write
from ..extensions import db
from ..models import (
    CONFIRMED_STATUS,
    PENDING_STATUS,
    ConsentText,
    Customer,
    FraudLogEntry,
    Participant,
    ParticipantDevice,
    utcnow,
)
from ..tracking import stats
from ..tracking import visitor as visitor_service
from ..webhooks import events
from . import consent, intake, links, throttle
from . import mail as mail_service
from .addresses import (
    alias_hash,
    alias_hashes,
    email_hash,
    email_hashes,
    is_disposable,
    normalise_email,
)
from .names import clean_name
from .program import REF_PATTERN, resolve_ref, visitor_error

log = logging.getLogger(__name__)

MAX_PAGE_LENGTH = 500
CONSENT_YES = {"true", "on", "1", "yes"}


@dataclass(frozen=True)
class SignUp:
    ref: str
    email: str
    name: str | None
    page: str | None
    consent_version: str | None


def _field_words(name: str) -> str:
    """How a message names a sign-up field (never by its parameter)."""
    words = {
        "name": _l("Your name"),
        "page": _l("The page address"),
        "consent_version": _l("The consent version"),
    }
    return str(words.get(name, _l("This entry")))


def _optional_text(fields: Mapping[str, Any], name: str, limit: int) -> str | None:
    value = fields.get(name)
    if value is None:
        return None
    what = _field_words(name)
    if not isinstance(value, str):
        raise ValidationFailed(
            _("%(what)s must be text.", what=what), fields={name: _("must be text")}
        )
    value = value.strip()
    if len(value) > limit:
        raise ValidationFailed(
            _("%(what)s is too long (at most %(limit)s characters).", what=what, limit=limit),
            fields={name: _("too long")},
        )
    return value or None


def parse_signup(fields: Mapping[str, Any]) -> SignUp:
    """Check a register-lead body; raises the API.md error for the first bad field."""
    ref = fields.get("ref")
    if not isinstance(ref, str) or not REF_PATTERN.match(ref.strip()):
        raise visitor_error("invalid_ref")
    address = normalise_email(fields.get("email"))
    given = fields.get("consent")
    if not (given is True or (isinstance(given, str) and given.strip().lower() in CONSENT_YES)):
        raise visitor_error("consent_required")
    name = clean_name(_optional_text(fields, "name", 500))
    page = _optional_text(fields, "page", 2000)
    version = _optional_text(fields, "consent_version", 64)
    if page:
        # The form's page without its query: the query may hold personal data.
        page = page.split("#", 1)[0].split("?", 1)[0][:MAX_PAGE_LENGTH]
    return SignUp(ref=ref.strip(), email=address, name=name, page=page, consent_version=version)


def take_in(fields: Mapping[str, Any], ip: str, user_agent: str) -> int:
    """Check a sign-up (every error is the same for a known and a new address) and write
    its intake row, the same for every address (intake.py). Commits; the row's id."""
    signup = parse_signup(fields)
    customer, _referrer = resolve_ref(signup.ref)
    visitor = visitor_service.identify(ip, user_agent, customer_id=customer.id)
    begin_write(db.session())
    if is_disposable(signup.email):
        _fraud_log(
            customer.id,
            "disposable_email",
            signup.ref,
            visitor.ip_hash,
            domain=signup.email.rpartition("@")[2],
        )
        db.session.commit()
        raise visitor_error("disposable_email")
    intake_id = intake.store(customer.id, asdict(signup), visitor, utcnow().replace(microsecond=0))
    db.session.commit()
    return intake_id


def submit(fields: Mapping[str, Any], ip: str, user_agent: str) -> None:
    """register-lead: take the sign-up in, then process it in a job (after the answer, in
    this process, when there is no RQ; also when Redis cannot take the job now)."""
    intake_id = take_in(fields, ip, user_agent)
    if not enqueue(intake.JOB, intake_id):
        run_after_response(intake.JOB, intake_id)


def register(fields: Mapping[str, Any], ip: str, user_agent: str) -> str | None:
    """Take in and process a sign-up at once (tests, the CLI). Returns what happened."""
    return process(take_in(fields, ip, user_agent))


def process(intake_id: int) -> str | None:
    """Sign a visitor up (or mail a known one again) from intake row `intake_id`, and delete
    the row with it. Returns what happened, for logs and tests only (the API answered the
    same in every case): None if another job has (or had) the row, `dropped` if its program
    is gone or switched off. Commits."""
    claimed = intake.claim(intake_id, utcnow())
    if claimed is None:
        return None
    signup = SignUp(**claimed.fields)
    try:
        customer, referrer = resolve_ref(signup.ref)
    except DomainError:
        intake.discard(intake_id)
        return "dropped"
    visitor = claimed.visitor
    known = _Known(email_hashes(customer.id, signup.email), alias_hashes(customer.id, signup.email))
    now = claimed.requested_at
    begin_write(db.session())
    if not intake.finish(intake_id, claimed.claimed_at):  # the claim timed out: not ours
        db.session.rollback()
        return None
    wording = consent.stored(customer, signup.consent_version)
    own_device = referrer is not None and _is_own_device(referrer.id, visitor)
    # A known address may be stored under an older hash key, which the unique key cannot
    # see: look under every key first (new and known addresses run this same query).
    existing = _find(customer.id, known.emails)
    if existing is None:
        participant, created = _insert(
            customer, referrer, signup, known, (wording, visitor), own_device, now
        )
    else:
        participant, created = existing, False
    twin = _alias_twin(customer.id, known)
    mailbox_open = throttle.count_mailbox_signup(signup.email, now)
    if created:
        outcome, kind = "registered", mail_service.CONFIRMATION
        _registered(participant, referrer, signup, visitor, twin, now)
    else:
        outcome, kind = _sign_up_again(participant, referrer, signup, wording, visitor, now)
    withheld = outcome == "rate_limited" or not mailbox_open
    mail_id = mail_service.queue(customer.id, participant.id, kind, withheld=withheld)
    visitor_service.remember_participant_device(participant.id, visitor)
    db.session.commit()

    mail_service.dispatch(mail_id)  # a withheld row's job does nothing, in the same time
    if not mailbox_open and outcome != "rate_limited":
        log.info(
            "sign-up mail withheld: the mailbox had its sign-up mails for today "
            "(program %s, participant %s)",
            customer.id,
            participant.id,
        )
        outcome = "withheld"
    if created:
        events.emit(
            customer.id,
            "lead.registered",
            {
                "participant_id": participant.id,
                "referred_by": referrer.ref_code if participant.referred_by_id else None,
            },
            participant.ref_code,
        )
    return outcome


@dataclass(frozen=True)
class _Known:
    """The values a stored hash of the address may have (every hash key; `addresses`)."""

    emails: list[str]
    aliases: list[str]


def _find(customer_id: int, hashes: list[str]) -> Participant | None:
    return db.session.scalar(
        select(Participant)
        .where(Participant.customer_id == customer_id, Participant.email_hash.in_(hashes))
        .order_by(Participant.id)
        .limit(1)
    )


def _insert(
    customer: Customer,
    referrer: Participant | None,
    signup: SignUp,
    known: _Known,
    proof: tuple[ConsentText, visitor_service.Visitor],
    own_device: bool,
    now: datetime,
) -> tuple[Participant, bool]:
    """Insert the address as a new pending participant with a fresh code; a known address
    makes the insert fail on the unique (program, address hash) key. Either way the row is
    then read back: (the participant, whether it is new)."""
    wording, visitor = proof
    self_referral = referrer is not None and (referrer.alias_hash in known.aliases or own_device)
    for _attempt in range(8):
        participant = Participant(
            customer_id=customer.id,
            ref_code=codes.participant_code(),
            email_encrypted=crypto.encrypt(signup.email),
            email_hash=email_hash(customer.id, signup.email),
            alias_hash=alias_hash(customer.id, signup.email),
            name_encrypted=crypto.encrypt(signup.name) if signup.name else None,
            status=PENDING_STATUS,
            language=consent.mail_language(customer),
            referred_by_id=referrer.id if referrer is not None and not self_referral else None,
            consent_text_id=wording.id,
            consent_given_at=now,
            consent_ip_hash=visitor.ip_hash,
            consent_page=signup.page,
            confirmation_sent_at=now,
            clicks=0,
            unique_clicks=0,
            conversions=0,
            suspicious_conversions=0,
            created_at=now,
            updated_at=now,
        )
        try:
            with db.session.begin_nested():
                db.session.add(participant)
                db.session.flush()
                links.issue_confirm_token(participant, now)  # derived from the new id
                db.session.flush()
        except IntegrityError:
            existing = _find(customer.id, known.emails)
            if existing is not None:
                return existing, False
            continue  # a participant code taken meanwhile: draw another
        return _find(customer.id, known.emails) or participant, True
    raise RuntimeError("no free participant code after 8 tries")


def _alias_twin(customer_id: int, known: _Known) -> int | None:
    """Another participant of the program with a near-identical address (looked up for
    every sign-up, new address or not: the same work either way)."""
    return db.session.scalar(
        select(Participant.id)
        .where(
            Participant.customer_id == customer_id,
            Participant.alias_hash.in_(known.aliases),
            Participant.email_hash.not_in(known.emails),
        )
        .limit(1)
    )


def _registered(
    participant: Participant,
    referrer: Participant | None,
    signup: SignUp,
    visitor: visitor_service.Visitor,
    twin: int | None,
    now: datetime,
) -> None:
    """A new participant: the lead counted, what the fraud rules saw."""
    stats.record(db.session, participant.customer_id, now.date(), leads=1)
    if referrer is not None and participant.referred_by_id is None:
        _fraud_log(
            participant.customer_id,
            "self_referral",
            referrer.ref_code,
            visitor.ip_hash,
            participant_id=participant.id,
            event="signup",
            referrer_id=referrer.id,
        )
    if twin is not None:
        _fraud_log(
            participant.customer_id,
            "alias_email",
            signup.ref,
            visitor.ip_hash,
            participant_id=participant.id,
            matches_participant_id=twin,
        )


def _sign_up_again(
    participant: Participant,
    referrer: Participant | None,
    signup: SignUp,
    wording: ConsentText,
    visitor: visitor_service.Visitor,
    now: datetime,
) -> tuple[str, str]:
    """A known address: mail it again (at most once per interval). Pending and
    unsubscribed people get a confirmation mail (a new double opt-in), confirmed ones their
    link. Returns the outcome and the kind of mail (`rate_limited`: a withheld one)."""
    if referrer is not None and referrer.id == participant.id:
        _fraud_log(
            participant.customer_id,
            "self_referral",
            referrer.ref_code,
            visitor.ip_hash,
            participant_id=participant.id,
            event="signup",
            referrer_id=referrer.id,
        )
    claimed = claim_confirmation_mail(participant.id, now)
    confirmed = participant.status == CONFIRMED_STATUS
    kind = mail_service.ALREADY_IN if confirmed else mail_service.CONFIRMATION
    if not claimed:
        return "rate_limited", kind
    if confirmed:
        return "already_in", kind
    participant.status = PENDING_STATUS
    participant.consent_text_id = wording.id
    participant.consent_given_at = now
    participant.consent_ip_hash = visitor.ip_hash
    participant.consent_page = signup.page
    if signup.name:
        participant.name_encrypted = crypto.encrypt(signup.name)
    if not links.confirm_token_valid_for_a_while(participant, now):
        links.issue_confirm_token(participant, now)
    return "resent", kind


def _is_own_device(participant_id: int, visitor: visitor_service.Visitor) -> bool:
    for salt_id, fingerprint in visitor.fingerprints():
        found = db.session.scalar(
            select(ParticipantDevice.participant_id).where(
                ParticipantDevice.participant_id == participant_id,
                ParticipantDevice.salt_id == salt_id,
                ParticipantDevice.fingerprint == fingerprint,
            )
        )
        if found is not None:
            return True
    return False


def _fraud_log(
    customer_id: int,
    rule: str,
    ref_code: str | None,
    ip_hash: str | None,
    participant_id: int | None = None,
    event: str = "signup",
    **details: Any,
) -> None:
    """One fired rule, in the caller's transaction; `details` never holds an address."""
    db.session.add(
        FraudLogEntry(
            customer_id=customer_id,
            participant_id=participant_id,
            ref_code=ref_code,
            type=rule,
            event=event,
            ip_hash=ip_hash,
            details=details or None,
            created_at=utcnow(),
        )
    )


def claim_confirmation_mail(participant_id: int, now: datetime) -> bool:
    """Take the right to send this person a sign-up mail now: at most one per
    SIGNUP_MAIL_INTERVAL_MINUTES, decided by one conditional UPDATE (no race between two
    requests). In the caller's transaction."""
    minutes = int(current_app.config.get("SIGNUP_MAIL_INTERVAL_MINUTES", 10))
    table = Participant.__table__
    return bool(
        db.session.execute(
            table.update()
            .where(
                table.c.id == participant_id,
                (table.c.confirmation_sent_at.is_(None))
                | (table.c.confirmation_sent_at <= now - timedelta(minutes=minutes)),
            )
            .values(confirmation_sent_at=now)
        ).rowcount
    )
