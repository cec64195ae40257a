"""Limits on sign-up mails, so nobody can use a program to flood a mailbox or our sender.

- Per mailbox: at most SIGNUP_MAILS_PER_MAILBOX_DAY sign-ups within 24 hours may cause a
  mail, across all programs. The mailbox is the canonical address (no +tag; Gmail without
  dots), counted under a keyed hash of it, never the address. Further sign-ups are answered
  as usual (no enumeration) but withheld: the person stays pending.
- Per program: at most SIGNUP_MAILS_PER_PROGRAM_HOUR sign-up mails (confirmation, "already
  in") go out within an hour. Over it the mail is deferred, not dropped: it waits in the
  outbox (SIGNUP_MAIL_DEFER_MINUTES at a time) and the customer's dashboard says so.

The counters are the fraud rules' windows (`tracking.rate_counters`): Redis when configured,
the database otherwise, shared by every server.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app

from ..extensions import db
from ..tracking import rate_counters
from .addresses import mailbox_hash

DAY_SECONDS = 24 * 3600
HOUR_SECONDS = 3600
# `last_error` of a mail waiting for the program's hourly limit (the dashboard counts these).
HOURLY_LIMIT_MARK = "deferred: hourly limit"


def mailbox_limit() -> int:
    return int(current_app.config.get("SIGNUP_MAILS_PER_MAILBOX_DAY", 3))


def program_limit() -> int:
    return int(current_app.config.get("SIGNUP_MAILS_PER_PROGRAM_HOUR", 200))


def defer_delay() -> timedelta:
    return timedelta(minutes=int(current_app.config.get("SIGNUP_MAIL_DEFER_MINUTES", 10)))


def count_mailbox_signup(address: str, now: datetime) -> bool:
    """Count one sign-up of this mailbox; True while it may still cause a mail. Called for
    every sign-up, known address or not, so both do the same work (docs/participants.md)."""
    key = f"mailbox:{mailbox_hash(address)}"
    return rate_counters.hit(db.session, key, DAY_SECONDS, now) <= mailbox_limit()


def take_program_mail(customer_id: int, now: datetime) -> bool:
    """Count one sign-up mail of the program about to go out; False when the hour's limit is
    used up (the mail waits). In the caller's transaction when counted in the database."""
    key = f"signupmail:{customer_id}"
    return rate_counters.hit(db.session, key, HOUR_SECONDS, now) <= program_limit()
