"""Unsubscribing and erasure (Art. 17 DSGVO), and the deletion of unconfirmed sign-ups.

Erasure deletes the row (devices, grants and tokens go with it; events keep only their
anonymous counts) and folds its lead counts into the stats archive, so `stats rebuild`
still finds the aggregates exact.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select

from ..core.errors import NotFound
from ..core.sqlutil import begin_write
from ..extensions import db
from ..models import (
    PENDING_STATUS,
    UNSUBSCRIBED_STATUS,
    AuditEntry,
    Participant,
    User,
    utcnow,
)
from ..tracking import stats
from . import links
from .hub import participant_by_hub_token


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
        links.forget_confirm_tokens(participant)
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
