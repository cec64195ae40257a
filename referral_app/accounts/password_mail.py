"""The password reset mail to a customer's or admin's login address.

Sent by a job (`jobs.mail.send_password_reset`) through the same SMTP path as the
participant mails (`participants.mail.send`: Flask-Mail with a socket timeout). The job
gets the token row id and the raw token (only its hash is in the database); it sends only
while the token is still the valid one, so a job run twice or late sends nothing stale.
The address is never logged."""

from __future__ import annotations

import logging
import smtplib
from datetime import timedelta

from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_mail import Message

from ..participants import mail as mail_service
from . import passwords

log = logging.getLogger(__name__)

RESET_PATH = "/password/reset/"


def reset_url(raw: str) -> str:
    return current_app.config["PUBLIC_BASE_URL"].rstrip("/") + RESET_PATH + raw


def compose(user, raw: str) -> Message:
    language = user.locale if user.locale in current_app.config["LANGUAGES"] else None
    with force_locale(language or current_app.config.get("BABEL_DEFAULT_LOCALE", "de")):
        subject = _("Set a new password for the referral program")
        context = {
            "subject": subject,
            "reset_url": reset_url(raw),
            "minutes": passwords.token_minutes(),
            "login_url": current_app.config["PUBLIC_BASE_URL"].rstrip("/") + "/login",
        }
        html = render_template("emails/password_reset.html", **context)
        text = render_template("emails/password_reset.txt", **context)
    return Message(
        subject=subject,
        recipients=[user.email],
        body=text,
        html=html,
        sender=current_app.config.get("MAIL_DEFAULT_SENDER") or "noreply@localhost",
        extra_headers={"Auto-Submitted": "auto-generated"},
    )


def deliver(token_id: int, raw: str, attempt: int = 0) -> tuple[str, timedelta | None]:
    """Send the reset mail for token row `token_id`. Returns `sent`, `skipped` (the token
    is no longer valid), `retry` with the delay before the next attempt, or `failed`."""
    found = passwords.pending_reset(token_id, raw)
    if found is None:
        return "skipped", None
    user, _row = found
    message = compose(user, raw)
    try:
        mail_service.send(message)
    except (smtplib.SMTPException, OSError) as exc:
        delays = mail_service.retry_delays()
        log.warning(
            "password reset mail for user %s attempt %s: %s",
            user.id,
            attempt + 1,
            type(exc).__name__,
        )
        if attempt < len(delays):
            return "retry", timedelta(seconds=delays[attempt])
        return "failed", None
    return "sent", None
