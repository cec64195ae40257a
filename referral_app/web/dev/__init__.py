"""Development only: a mailbox page, so a newcomer can read (and click) every mail the app
sends without an SMTP server (like letter_opener or Mailpit).

With MAIL_SUPPRESS_SEND (the development default) Flask-Mail sends nothing but still
signals each message; the last DEV_MAILBOX_SIZE are kept in this process's memory, never
written anywhere. The blueprint is registered only when APP_ENV is development."""

from __future__ import annotations

from collections import deque
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from flask import Blueprint, Flask, abort, current_app, render_template
from flask_mail import email_dispatched

bp = Blueprint("dev", __name__, url_prefix="/dev")


def init_app(app: Flask) -> None:
    app.extensions["dev_mailbox"] = deque(maxlen=int(app.config.get("DEV_MAILBOX_SIZE", 100)))
    email_dispatched.connect(_keep, sender=app, weak=False)
    app.register_blueprint(bp)


def _keep(app: Flask, message) -> None:
    app.extensions["dev_mailbox"].appendleft(message.as_bytes())


def _mailbox() -> list[EmailMessage]:
    return [
        message_from_bytes(raw, policy=policy.default)
        for raw in current_app.extensions["dev_mailbox"]
    ]


def _part(message: EmailMessage, kind: str) -> str | None:
    body = message.get_body(preferencelist=(kind,))
    return body.get_content() if body is not None else None


def _summary(index: int, message: EmailMessage) -> dict[str, Any]:
    return {
        "index": index,
        "subject": message["Subject"],
        "to": message["To"],
        "sender": message["From"],
        "date": message["Date"],
        "text": _part(message, "plain"),
        "has_html": _part(message, "html") is not None,
    }


@bp.get("/mail")
def mailbox():
    items = [_summary(i, m) for i, m in enumerate(_mailbox())]
    return render_template("dev/mailbox.html", items=items)


@bp.get("/mail/<int:index>")
def mail(index: int):
    messages = _mailbox()
    if index >= len(messages):
        abort(404)
    return render_template("dev/mail.html", mail=_summary(index, messages[index]))


@bp.get("/mail/<int:index>/html")
def mail_html(index: int):
    """The mail's HTML part as the mail client would show it (its inline styles allowed,
    nothing else), framed by the mail page."""
    messages = _mailbox()
    html = _part(messages[index], "html") if index < len(messages) else None
    if html is None:
        abort(404)
    return (
        html,
        200,
        {
            "Content-Type": "text/html; charset=utf-8",
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
            "img-src 'self' data:; frame-ancestors 'self'",
            "X-Frame-Options": "SAMEORIGIN",
        },
    )
