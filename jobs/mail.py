"""Mail jobs: send one outbox row; sweep the outbox for retries that are due."""

from __future__ import annotations

from typing import Any

from referral_app.accounts import password_mail
from referral_app.core.queue import enqueue
from referral_app.participants import mail as mail_service


def send(mail_id: int) -> str:
    """Send outbox row `mail_id` (idempotent: a sent, failed or held row is left alone).
    On an SMTP failure (or a sign-up mail waiting for its program's hourly limit) the row
    keeps its next attempt time; with RQ the retry is also scheduled right away, and the
    sweep catches it in any case."""
    outcome, delay = mail_service.deliver(mail_id)
    if outcome in ("retry", "deferred") and delay is not None:
        enqueue(send, mail_id, delay=delay)
    return outcome


def sweep() -> dict[str, Any]:
    """Every pending mail that is due gets a job again (the worker runs this every minute)."""
    due = mail_service.due_mail_ids()
    for mail_id in due:
        enqueue(send, mail_id)
    return {"mails_due": len(due)}


def send_password_reset(token_id: int, raw: str, attempt: int = 0) -> str:
    """Send a password reset mail while its token is still valid. On an SMTP failure the
    mail is tried again later through RQ (in-process there is no later: the user asks for
    a new link, which the page offers)."""
    outcome, delay = password_mail.deliver(token_id, raw, attempt)
    if outcome == "retry" and delay is not None:
        enqueue(send_password_reset, token_id, raw, attempt + 1, delay=delay)
    return outcome
