"""Participants: double opt-in sign-up, confirmation, the hub, unsubscribing and erasure.

- Sign-up answers the same for known and new addresses (no enumeration). A known pending
  address gets its confirmation mail again, a confirmed one a "you're already in" mail, each
  at most once per SIGNUP_MAIL_INTERVAL_MINUTES (an atomic claim on the participant row).
- The consent proof is the stored wording (version), the time, the page and the hashed IP;
  the confirmation time completes it.
- Addresses are stored encrypted (Fernet, DATA_KEY) and found by a keyed hash; a second
  keyed hash of the canonical form (Gmail dots, +tags) spots near-duplicates.
- Erasure deletes the row (devices, grants and tokens go with it; events keep only their
  anonymous counts) and folds its lead counts into the stats archive, so `stats rebuild`
  still finds the aggregates exact.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import segno
from disposable_email_domains import blocklist as disposable_domains
from email_validator import EmailNotValidError, validate_email
from flask import current_app
from flask_babel import gettext as _
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..core import codes, crypto
from ..core.errors import DomainError, NotFound, ValidationFailed
from ..core.formats import iso
from ..core.sqlutil import begin_write
from ..extensions import db
from ..models import (
    CONFIRMED_STATUS,
    PENDING_STATUS,
    UNSUBSCRIBED_STATUS,
    AuditEntry,
    ConsentText,
    Conversion,
    Customer,
    FraudLogEntry,
    OutgoingMail,
    Participant,
    ParticipantDevice,
    RewardGrant,
    RewardMilestone,
    User,
    utcnow,
)
from ..tracking import stats
from ..tracking import visitor as visitor_service
from ..webhooks import events
from . import consent, links
from . import mail as mail_service

MAX_EMAIL_LENGTH = 254
MAX_NAME_LENGTH = 100
MAX_PAGE_LENGTH = 500
REF_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9_-]{20,100}$")
CONSENT_YES = {"true", "on", "1", "yes"}
GMAIL_DOMAINS = {"gmail.com", "googlemail.com"}


def _error(code: str, status: int = 400) -> DomainError:
    messages = {
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
    return DomainError(messages[code], code=code, status=status)


# --- referral codes and the program --------------------------------------------------------


def resolve_ref(ref: Any) -> tuple[Customer, Participant | None]:
    """The customer behind a program code or a participant's code (and that participant).
    Raises invalid_ref, unknown_ref or program_inactive."""
    if not isinstance(ref, str) or not REF_PATTERN.match(ref.strip()):
        raise _error("invalid_ref")
    ref = ref.strip()
    referrer = None
    customer = db.session.scalar(select(Customer).where(Customer.ref_code == ref))
    if customer is None:
        referrer = db.session.scalar(select(Participant).where(Participant.ref_code == ref))
        customer = db.session.get(Customer, referrer.customer_id) if referrer else None
    if customer is None:
        raise _error("unknown_ref", 404)
    if not customer.program_active:
        raise _error("program_inactive", 403)
    return customer, referrer


def program_info(ref: Any) -> dict[str, Any]:
    """What the sign-up form on the thank-you page shows (referral-tracking.js)."""
    customer, _referrer = resolve_ref(ref)
    wording = consent.current(customer)
    return {
        "active": True,
        "company_name": customer.company_name,
        "consent_text": wording.text,
        "consent_version": wording.version,
        "language": wording.language,
        "privacy_url": None,
    }


# --- addresses -----------------------------------------------------------------------------


def normalise_email(raw: Any) -> str:
    """The address as stored and hashed: validated (no DNS lookup), lower-cased."""
    if not isinstance(raw, str):
        raise _error("invalid_email")
    raw = raw.strip()
    if not raw or len(raw) > MAX_EMAIL_LENGTH:
        raise _error("invalid_email")
    try:
        address = validate_email(raw, check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise _error("invalid_email") from exc
    if len(address) > MAX_EMAIL_LENGTH:
        raise _error("invalid_email")
    return address


def canonical_email(address: str) -> str:
    """The form near-identical addresses share: no +tag; for Gmail no dots, one domain."""
    local, _at, domain = address.rpartition("@")
    local = local.split("+", 1)[0]
    if domain in GMAIL_DOMAINS:
        local, domain = local.replace(".", ""), "gmail.com"
    return f"{local}@{domain}"


def email_hash(address: str) -> str:
    return crypto.keyed_hash("email", address)


def alias_hash(address: str) -> str:
    return crypto.keyed_hash("alias", canonical_email(address))


def is_disposable(address: str) -> bool:
    """The domain or any parent domain is on the `disposable-email-domains` blocklist."""
    parts = address.rpartition("@")[2].split(".")
    return any(".".join(parts[i:]) in disposable_domains for i in range(len(parts) - 1))


# --- sign-up -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SignUp:
    ref: str
    email: str
    name: str | None
    page: str | None
    consent_version: str | None


def _optional_text(fields: Mapping[str, Any], name: str, limit: int) -> str | None:
    value = fields.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationFailed(
            _("%(field)s must be text.", field=name), fields={name: _("must be text")}
        )
    value = value.strip()
    if len(value) > limit:
        raise ValidationFailed(
            _("%(field)s is too long (at most %(limit)s characters).", field=name, limit=limit),
            fields={name: _("too long")},
        )
    return value or None


def parse_signup(fields: Mapping[str, Any]) -> SignUp:
    """Check a register-lead body; raises the API.md error for the first bad field."""
    ref = fields.get("ref")
    if not isinstance(ref, str) or not REF_PATTERN.match(ref.strip()):
        raise _error("invalid_ref")
    address = normalise_email(fields.get("email"))
    given = fields.get("consent")
    if not (given is True or (isinstance(given, str) and given.strip().lower() in CONSENT_YES)):
        raise _error("consent_required")
    name = _optional_text(fields, "name", MAX_NAME_LENGTH)
    page = _optional_text(fields, "page", 2000)
    version = _optional_text(fields, "consent_version", 64)
    if page:
        # The form's page without its query: the query may hold personal data.
        page = page.split("#", 1)[0].split("?", 1)[0][:MAX_PAGE_LENGTH]
    return SignUp(ref=ref.strip(), email=address, name=name, page=page, consent_version=version)


def register(fields: Mapping[str, Any], ip: str, user_agent: str) -> str:
    """Sign a visitor up (or mail a known one again). Returns what happened, for logs and
    tests only: the API answers the same in every case. Commits."""
    signup = parse_signup(fields)
    customer, referrer = resolve_ref(signup.ref)
    visitor = visitor_service.identify(ip, user_agent)
    if is_disposable(signup.email):
        begin_write(db.session())
        _fraud_log(
            customer.id,
            "disposable_email",
            signup.ref,
            visitor.ip_hash,
            domain=signup.email.rpartition("@")[2],
        )
        db.session.commit()
        raise _error("disposable_email")

    hashed, alias = email_hash(signup.email), alias_hash(signup.email)
    now = utcnow().replace(microsecond=0)
    begin_write(db.session())
    wording = consent.stored(customer, signup.consent_version)
    existing = _find(customer.id, hashed)
    participant = None
    if existing is None:
        participant = _create(customer, referrer, signup, hashed, alias, wording, visitor, now)
        if participant is None:  # the same address signed up a moment ago
            existing = _find(customer.id, hashed)
    if participant is not None:
        mail_id: int | None = mail_service.queue(
            customer.id, participant.id, mail_service.CONFIRMATION
        )
        outcome = "registered"
    else:
        assert existing is not None
        outcome, mail_id = _sign_up_again(existing, referrer, signup, wording, visitor, now)
        participant = existing
    visitor_service.remember_participant_device(participant.id, visitor)
    db.session.commit()

    if mail_id is not None:
        mail_service.dispatch(mail_id)
    if outcome == "registered":
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


def _find(customer_id: int, hashed: str) -> Participant | None:
    return db.session.scalar(
        select(Participant).where(
            Participant.customer_id == customer_id, Participant.email_hash == hashed
        )
    )


def _create(
    customer: Customer,
    referrer: Participant | None,
    signup: SignUp,
    hashed: str,
    alias: str,
    wording: ConsentText,
    visitor: visitor_service.Visitor,
    now: datetime,
) -> Participant | None:
    """Insert a new pending participant with a fresh code, count the lead, log what the
    fraud rules see. None if the address was inserted concurrently."""
    self_referral = referrer is not None and (
        referrer.alias_hash == alias or _is_own_device(referrer.id, visitor)
    )
    for _attempt in range(8):
        participant = Participant(
            customer_id=customer.id,
            ref_code=codes.participant_code(),
            email_encrypted=crypto.encrypt(signup.email),
            email_hash=hashed,
            alias_hash=alias,
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
            if _find(customer.id, hashed) is not None:
                return None
            continue  # a participant code taken meanwhile: draw another
        break
    else:
        raise RuntimeError("no free participant code after 8 tries")

    stats.record(db.session, customer.id, now.date(), leads=1)
    if self_referral:
        assert referrer is not None
        _fraud_log(
            customer.id,
            "self_referral",
            referrer.ref_code,
            visitor.ip_hash,
            participant_id=participant.id,
            event="signup",
            referrer_id=referrer.id,
        )
    twin = db.session.scalar(
        select(Participant.id)
        .where(
            Participant.customer_id == customer.id,
            Participant.alias_hash == alias,
            Participant.email_hash != hashed,
        )
        .limit(1)
    )
    if twin is not None:
        _fraud_log(
            customer.id,
            "alias_email",
            signup.ref,
            visitor.ip_hash,
            participant_id=participant.id,
            matches_participant_id=twin,
        )
    return participant


def _sign_up_again(
    participant: Participant,
    referrer: Participant | None,
    signup: SignUp,
    wording: ConsentText,
    visitor: visitor_service.Visitor,
    now: datetime,
) -> tuple[str, int | None]:
    """A known address: mail it again (at most once per interval). Pending and
    unsubscribed people get a confirmation mail (a new double opt-in), confirmed ones their
    link."""
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
    claimed = _claim_confirmation_mail(participant.id, now)
    if not claimed:
        return "rate_limited", None
    if participant.status == CONFIRMED_STATUS:
        mail_id = mail_service.queue(
            participant.customer_id, participant.id, mail_service.ALREADY_IN
        )
        return "already_in", mail_id
    participant.status = PENDING_STATUS
    participant.consent_text_id = wording.id
    participant.consent_given_at = now
    participant.consent_ip_hash = visitor.ip_hash
    participant.consent_page = signup.page
    if signup.name:
        participant.name_encrypted = crypto.encrypt(signup.name)
    if not links.confirm_token_valid_for_a_while(participant, now):
        links.issue_confirm_token(participant, now)
    mail_id = mail_service.queue(participant.customer_id, participant.id, mail_service.CONFIRMATION)
    return "resent", mail_id


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


# --- confirmation --------------------------------------------------------------------------


@dataclass(frozen=True)
class Confirmation:
    status: str  # "confirmed" | "already_confirmed"
    participant_id: int
    ref_code: str
    referral_link: str
    hub_path: str


def _by_confirm_token(token: Any, lock: bool = False) -> Participant:
    if not isinstance(token, str) or not TOKEN_PATTERN.match(token):
        raise _error("invalid_token")
    query = select(Participant).where(Participant.confirm_token_hash == crypto.token_hash(token))
    if lock:
        query = query.with_for_update()
    participant = db.session.scalar(query)
    if participant is None or participant.status == UNSUBSCRIBED_STATUS:
        raise _error("invalid_token")
    return participant


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
    _by_confirm_token(token)  # cheap refusal before taking the write lock
    visitor = visitor_service.identify(ip, user_agent)
    begin_write(db.session())
    participant = _by_confirm_token(token, lock=True)
    now = utcnow().replace(microsecond=0)
    if participant.confirm_token_expires_at <= now:
        db.session.rollback()
        raise _error("token_expired")
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
    claimed = _claim_confirmation_mail(participant.id, now)
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


# --- the hub -------------------------------------------------------------------------------


@dataclass
class Hub:
    participant: Participant
    customer: Customer
    token: str
    referral_link: str
    qr_svg: Markup
    share_links: list[tuple[str, str]]
    referrals: int
    milestones: list[dict[str, Any]] = field(default_factory=list)
    next_milestone: dict[str, Any] | None = None
    rewards: list[dict[str, Any]] = field(default_factory=list)


def participant_by_hub_token(token: Any) -> Participant:
    if not isinstance(token, str) or not TOKEN_PATTERN.match(token):
        raise NotFound(_("This link is not valid (any more)."))
    participant = db.session.scalar(
        select(Participant).where(Participant.hub_token_hash == crypto.token_hash(token))
    )
    if participant is None:
        raise NotFound(_("This link is not valid (any more)."))
    return participant


def hub(token: Any, ip: str, user_agent: str) -> Hub:
    """Everything the participant's own page shows. Notes their device (self-referral
    rule), so it commits."""
    participant = participant_by_hub_token(token)
    visitor = visitor_service.identify(ip, user_agent)
    begin_write(db.session())
    visitor_service.remember_participant_device(participant.id, visitor)
    db.session.commit()

    customer = db.session.get(Customer, participant.customer_id)
    link = links.referral_link(customer, participant)
    referrals = participant.referrals
    granted = {
        grant.reward_id: grant
        for grant in db.session.scalars(
            select(RewardGrant).where(
                RewardGrant.participant_id == participant.id, RewardGrant.revoked_at.is_(None)
            )
        )
    }
    milestones = []
    for milestone in db.session.scalars(
        select(RewardMilestone)
        .where(RewardMilestone.customer_id == customer.id)
        .order_by(RewardMilestone.threshold)
    ):
        milestones.append(
            {
                "milestone": milestone,
                "reached": referrals >= milestone.threshold,
                "grant": granted.get(milestone.id),
            }
        )
    upcoming = next((m for m in milestones if not m["reached"]), None)
    next_milestone = None
    if upcoming is not None:
        threshold = upcoming["milestone"].threshold
        next_milestone = {
            **upcoming,
            "missing": threshold - referrals,
            "progress": max(0, referrals),
            "threshold": threshold,
        }
    return Hub(
        participant=participant,
        customer=customer,
        token=token,
        referral_link=link,
        qr_svg=Markup(segno.make(link, error="m").svg_inline(scale=4)),  # noqa: S704 - segno's own SVG of our URL
        share_links=share_links(customer, link),
        referrals=referrals,
        milestones=milestones,
        next_milestone=next_milestone,
        rewards=[m for m in milestones if m["grant"] is not None],
    )


def share_links(customer: Customer, link: str) -> list[tuple[str, str]]:
    """Plain links to share one's own link (no third-party script on our page, and the
    tool never mails anyone's friends itself)."""
    text = _("Have a look at this from %(company)s:", company=customer.company_name)
    subject = _("A tip from me: %(company)s", company=customer.company_name)
    url, message = quote(link, safe=""), quote(f"{text} {link}", safe="")
    return [
        ("WhatsApp", f"https://wa.me/?text={message}"),
        (
            _("E-mail"),
            f"mailto:?subject={quote(subject, safe='')}&body={message}",
        ),
        ("LinkedIn", f"https://www.linkedin.com/sharing/share-offsite/?url={url}"),
        ("X", f"https://x.com/intent/post?text={quote(text, safe='')}&url={url}"),
        ("Facebook", f"https://www.facebook.com/sharer/sharer.php?u={url}"),
    ]


# --- unsubscribing and erasure -------------------------------------------------------------


def participant_for_unsubscribe(participant_id: int, token: Any) -> Participant:
    """The person behind an unsubscribe link (a signed link: id + derived token)."""
    participant = db.session.get(Participant, participant_id)
    if (
        participant is None
        or not isinstance(token, str)
        or not links.unsubscribe_token_matches(participant, token)
    ):
        raise NotFound(_("This link is not valid (any more)."))
    return participant


def unsubscribe(participant_id: int, token: Any) -> None:
    """No more mails (RFC 8058 one-click, or the button on the page). The hub stays
    reachable, so the person can still see and delete their data. Commits."""
    participant_for_unsubscribe(participant_id, token)
    begin_write(db.session())
    participant = db.session.get(Participant, participant_id, with_for_update=True)
    if participant is not None and participant.status != UNSUBSCRIBED_STATUS:
        participant.status = UNSUBSCRIBED_STATUS
        participant.unsubscribed_at = utcnow()
        participant.confirm_token_hash = None
        participant.confirm_token_expires_at = None
    db.session.commit()


def erase(participant: Participant, actor: str, audit: bool = True) -> None:
    """Delete a participant in the caller's transaction (DSGVO Art. 17).

    The row goes, and with it (by the foreign keys) their devices and reward grants; their
    clicks, conversions, fraud-log entries and mails stay as anonymous rows. The lead
    counts their row gave (`leads` on the sign-up day, `confirmed_leads` on the
    confirmation day) move to the stats archive, so totals and `stats rebuild` agree.
    """
    if participant.created_at is not None:
        stats.archive(db.session, participant.customer_id, participant.created_at.date(), leads=1)
    if participant.confirmed_at is not None:
        stats.archive(
            db.session,
            participant.customer_id,
            participant.confirmed_at.date(),
            confirmed_leads=1,
        )
    if audit:
        user_id = None
        if actor.startswith("user:") and actor[5:].isdigit():
            user_id = db.session.scalar(select(User.id).where(User.id == int(actor[5:])))
        db.session.add(
            AuditEntry(
                user_id=user_id,
                action="participant.erased",
                target_type="participant",
                target_id=participant.id,
                details=json.dumps({"actor": actor, "customer_id": participant.customer_id}),
                created_at=utcnow(),
            )
        )
    db.session.delete(participant)


def erase_participant(customer_id: int, participant_id: int, actor: str) -> None:
    """A customer's or admin's erasure of one participant. `actor` names who did it
    ("user:<id>", "participant", "system:<job>"). Raises NotFound for another customer's
    participant. Commits."""
    begin_write(db.session())
    participant = db.session.get(Participant, participant_id, with_for_update=True)
    if participant is None or participant.customer_id != customer_id:
        db.session.rollback()
        raise NotFound(_("No such participant."))
    erase(participant, actor)
    db.session.commit()


def erase_by_hub_token(token: Any) -> None:
    """'Delete my data' on the hub. Commits."""
    participant = participant_by_hub_token(token)
    erase_participant(participant.customer_id, participant.id, "participant")


def erase_by_unsubscribe_token(participant_id: int, token: Any) -> None:
    """'Delete my data' from the link in any mail. Commits."""
    participant = participant_for_unsubscribe(participant_id, token)
    erase_participant(participant.customer_id, participant.id, "participant")


def delete_unconfirmed(now: datetime | None = None, batch: int = 500) -> int:
    """Sign-ups never confirmed within UNCONFIRMED_RETENTION_DAYS are deleted (DESIGN.md
    "Privacy"); their lead counts move to the archive. Commits per batch."""
    days = int(current_app.config.get("UNCONFIRMED_RETENTION_DAYS", 7))
    cutoff = (now or utcnow()) - timedelta(days=days)
    deleted = 0
    while True:
        begin_write(db.session())
        rows = db.session.scalars(
            select(Participant)
            .where(
                Participant.confirmed_at.is_(None),
                Participant.status.in_((PENDING_STATUS, UNSUBSCRIBED_STATUS)),
                Participant.created_at < cutoff,
            )
            .order_by(Participant.id)
            .limit(batch)
            .with_for_update()
        ).all()
        for participant in rows:
            erase(participant, "system:unconfirmed_retention", audit=False)
        db.session.commit()
        deleted += len(rows)
        if len(rows) < batch:
            return deleted


# --- what customers and admins see (API.md participants, export) ---------------------------


def _rewards(participant_id: int) -> list[dict[str, Any]]:
    rows = db.session.execute(
        select(RewardGrant, RewardMilestone)
        .join(RewardMilestone, RewardMilestone.id == RewardGrant.reward_id)
        .where(RewardGrant.participant_id == participant_id)
        .order_by(RewardMilestone.threshold)
    ).all()
    return [
        {
            "reward_id": milestone.id,
            "tier": milestone.tier,
            "title": milestone.title,
            "threshold": milestone.threshold,
            "earned_at": iso(grant.earned_at),
            "mail_sent_at": iso(grant.mail_sent_at),
            "revoked_at": iso(grant.revoked_at),
        }
        for grant, milestone in rows
    ]


def participant_summary(p: Participant) -> dict[str, Any]:
    """One item of API.md `GET /api/referral/participants`."""
    return {
        "id": p.id,
        "email": crypto.decrypt(p.email_encrypted),
        "name": crypto.decrypt(p.name_encrypted),
        "ref_code": p.ref_code,
        "status": p.status,
        "referrals": p.referrals,
        "rewards": [
            {key: r[key] for key in ("tier", "title", "threshold", "earned_at")}
            for r in _rewards(p.id)
            if r["revoked_at"] is None
        ],
        "created_at": iso(p.created_at),
        "confirmed_at": iso(p.confirmed_at),
    }


def export_participant(customer_id: int, participant_id: int) -> dict[str, Any]:
    """Everything stored about one participant (DSGVO Art. 15), the consent proof included
    (API.md export shape, without the "ok"). Raises NotFound for another customer's id."""
    p = db.session.get(Participant, participant_id)
    if p is None or p.customer_id != customer_id:
        raise NotFound(_("No such participant."))
    wording = db.session.get(ConsentText, p.consent_text_id) if p.consent_text_id else None
    referred_by = None
    if p.referred_by_id:
        referred_by = db.session.scalar(
            select(Participant.ref_code).where(Participant.id == p.referred_by_id)
        )
    conversions = db.session.scalars(
        select(Conversion).where(Conversion.participant_id == p.id).order_by(Conversion.id)
    )
    devices = db.session.scalars(
        select(ParticipantDevice).where(ParticipantDevice.participant_id == p.id)
    )
    mails = db.session.scalars(
        select(OutgoingMail).where(OutgoingMail.participant_id == p.id).order_by(OutgoingMail.id)
    )
    return {
        "participant": {
            **participant_summary(p),
            "language": p.language,
            "referred_by": referred_by,
            "unsubscribed_at": iso(p.unsubscribed_at),
            "clicks": p.clicks,
            "unique_clicks": p.unique_clicks,
            "conversions": p.conversions,
            "suspicious_conversions": p.suspicious_conversions,
            "confirmation_sent_at": iso(p.confirmation_sent_at),
            "updated_at": iso(p.updated_at),
        },
        "consent": {
            "text": wording.text if wording else None,
            "version": wording.version if wording else None,
            "language": wording.language if wording else None,
            "given_at": iso(p.consent_given_at),
            "page": p.consent_page,
            "ip_hash": p.consent_ip_hash,
            "confirmed_at": iso(p.confirmed_at),
        },
        "referrals": [
            {
                "id": c.id,
                "created_at": iso(c.created_at),
                "status": c.status,
                "suspicious": bool(c.suspicious),
                "reasons": c.reasons or [],
            }
            for c in conversions
        ],
        "rewards": _rewards(p.id),
        "devices": [
            {"salt_id": d.salt_id, "fingerprint": d.fingerprint, "created_at": iso(d.created_at)}
            for d in devices
        ],
        "mails": [
            {
                "kind": m.kind,
                "status": m.status,
                "created_at": iso(m.created_at),
                "sent_at": iso(m.sent_at),
            }
            for m in mails
        ],
    }


def _claim_confirmation_mail(participant_id: int, now: datetime) -> bool:
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
