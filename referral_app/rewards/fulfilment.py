"""Delivering rewards: the hold, the customer's approval, and the release.

A grant is `pending` until its hold ends (`due_at`, the milestone's `hold_days` after it
was earned; 0 days: the next run). Then, if the referrals behind it still count, it is
`delivered`: a code reward takes its code from the bank in the same transaction, and the
reward mail is queued. With the milestone's manual approval on, a pending grant waits for
the customer's "approve" (→ `approved`, delivered once the hold is over) or "reject" (→
`revoked`, with the customer's reason). A referral flagged during the hold takes the
reward back before anything went out (`ledger.sync_ledger`: a clawback).

Every change is a conditional UPDATE on the grant's status, so two runs, or a run and a
click, deliver (and announce) a grant once.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, or_, select
from sqlalchemy.exc import OperationalError

from ..core.errors import Conflict, NotFound, ValidationFailed
from ..core.sqlutil import begin_write
from ..extensions import db
from ..models import CONFIRMED_STATUS, Participant, RewardGrant, RewardMilestone, utcnow
from ..models.reward import (
    CODE,
    DOWNLOAD,
    GRANT_APPROVED,
    GRANT_DELIVERED,
    GRANT_PENDING,
    GRANT_REVOKED,
    REJECTED,
)
from . import codes, grant_events, ledger, reward_view

log = logging.getLogger(__name__)

MAX_REASON = 500
MAX_BULK = 200
DELIVERED, SKIPPED, NO_CODE, NOT_EARNED = "delivered", "skipped", "no_code", "not_earned"
# MariaDB/MySQL: deadlock found / lock wait timeout; the attempt is simply made again.
_RETRY_ERRORS = (1213, 1205)


def due_grant_ids(now: datetime, customer_id: int | None = None) -> list[int]:
    """Grants whose hold is over and that need no (more) approval."""
    query = (
        select(RewardGrant.id)
        .join(RewardMilestone, RewardMilestone.id == RewardGrant.reward_id)
        .where(
            RewardGrant.due_at <= now,
            or_(
                RewardGrant.status == GRANT_APPROVED,
                and_(
                    RewardGrant.status == GRANT_PENDING,
                    RewardMilestone.manual_approval.is_(False),
                ),
            ),
        )
        .order_by(RewardGrant.id)
    )
    if customer_id is not None:
        query = query.where(RewardMilestone.customer_id == customer_id)
    return list(db.session.scalars(query))


def release_due(now: datetime | None = None) -> dict[str, int]:
    """Deliver every grant that is due (the daily job; `ledger.queue_reward_mails` sends
    the mails after it). Returns what happened."""
    now = now or utcnow()
    ids = due_grant_ids(now)
    db.session.commit()
    outcomes = {DELIVERED: 0, SKIPPED: 0, NO_CODE: 0, NOT_EARNED: 0}
    for grant_id in ids:
        outcomes[deliver(grant_id, now, mail=False)] += 1
    return {
        "delivered": outcomes[DELIVERED],
        "waiting": outcomes[NO_CODE],
    }


def deliver(grant_id: int, now: datetime | None = None, mail: bool = True) -> str:
    """Release one due grant: its status, its code, its event and (with `mail`; the daily
    job queues the mails of a whole run itself) its mail. Returns
    `delivered`, `skipped` (another run was first, or it is not due), `no_code` (the bank
    is empty, or a download's file is missing: it stays due and waits) or `not_earned`
    (its referrals no longer reach the milestone: the ledger takes it back)."""
    now = now or utcnow()
    for attempt in range(5):
        try:
            outcome, code = _deliver_once(grant_id, now)
            break
        except OperationalError as exc:
            db.session.rollback()
            if getattr(exc.orig, "args", [None])[0] not in _RETRY_ERRORS or attempt == 4:
                raise
    if outcome == DELIVERED:
        grant_events.emit_delivered([grant_id], {grant_id: code} if code else {})
        row = db.session.execute(
            select(Participant.id, Participant.customer_id, Participant.status)
            .join(RewardGrant, RewardGrant.participant_id == Participant.id)
            .where(RewardGrant.id == grant_id)
        ).first()
        db.session.commit()
        if mail and row is not None and row.status == CONFIRMED_STATUS:
            ledger.queue_reward_mail(grant_id, row.id, row.customer_id)
    return outcome


def _deliver_once(grant_id: int, now: datetime) -> tuple[str, str | None]:
    begin_write(db.session())
    row = db.session.execute(
        select(
            RewardGrant.status,
            RewardGrant.due_at,
            RewardMilestone.id,
            RewardMilestone.kind,
            RewardMilestone.threshold,
            RewardMilestone.manual_approval,
            RewardMilestone.customer_id,
            Participant.conversions - Participant.suspicious_conversions,
        )
        .join(RewardMilestone, RewardMilestone.id == RewardGrant.reward_id)
        .join(Participant, Participant.id == RewardGrant.participant_id)
        .where(RewardGrant.id == grant_id)
    ).first()
    allowed = (GRANT_APPROVED,) if row is not None and row.manual_approval else None
    allowed = allowed or (GRANT_PENDING, GRANT_APPROVED)
    if row is None or row.status not in allowed or row.due_at is None or row.due_at > now:
        db.session.commit()
        return SKIPPED, None
    if row[7] < row.threshold:
        db.session.commit()
        return NOT_EARNED, None
    if row.kind == DOWNLOAD and not reward_view.has_file(row.customer_id, row.id):
        db.session.commit()
        return NO_CODE, None  # waits for the customer's file, as a code reward for codes
    table = RewardGrant.__table__
    claimed = db.session.execute(
        table.update()
        .where(table.c.id == grant_id, table.c.status.in_(allowed))
        .values(status=GRANT_DELIVERED, delivered_at=now)
    ).rowcount
    if not claimed:
        db.session.commit()
        return SKIPPED, None
    code = None
    if row.kind == CODE:
        code = codes.take(db.session, row.id, grant_id, now)
        if code is None:
            db.session.rollback()
            return NO_CODE, None
    db.session.commit()
    return DELIVERED, code


def owned_grant(customer_id: int, grant_id: int) -> RewardGrant:
    """The customer's own grant; another customer's id is simply not found."""
    grant = db.session.scalar(
        select(RewardGrant)
        .join(RewardMilestone, RewardMilestone.id == RewardGrant.reward_id)
        .where(RewardGrant.id == grant_id, RewardMilestone.customer_id == customer_id)
    )
    if grant is None:
        raise NotFound(str(_l("No such reward grant.")))
    return grant


def _check_ids(customer_id: int, grant_ids: list[int]) -> list[int]:
    ids = list(dict.fromkeys(int(i) for i in grant_ids))
    if not ids:
        message = str(_l("Please choose at least one reward."))
        raise ValidationFailed(message, fields={"ids": message})
    if len(ids) > MAX_BULK:
        message = str(_l("At most %(n)d rewards at once.", n=MAX_BULK))
        raise ValidationFailed(message, fields={"ids": message})
    for grant_id in ids:
        owned_grant(customer_id, grant_id)
    return ids


def approve(customer_id: int, grant_ids: list[int], now: datetime | None = None) -> dict[int, str]:
    """Approve pending grants; one whose hold is over is delivered right away. Grants
    already approved or delivered stay as they are; a revoked one cannot be approved
    (409 `invalid_state` when it is the only one). Returns each grant's status after."""
    now = now or utcnow()
    ids = _check_ids(customer_id, grant_ids)
    table = RewardGrant.__table__
    begin_write(db.session())
    db.session.execute(
        table.update()
        .where(table.c.id.in_(ids), table.c.status == GRANT_PENDING)
        .values(status=GRANT_APPROVED, approved_at=now)
    )
    db.session.commit()
    for grant_id in ids:
        deliver(grant_id, now)
    statuses = _statuses(ids)
    if len(ids) == 1 and statuses[ids[0]] == GRANT_REVOKED:
        raise Conflict(
            str(_l("This reward was taken back; it cannot be approved.")), code="invalid_state"
        )
    return statuses


def reject(customer_id: int, grant_ids: list[int], reason: Any) -> dict[int, str]:
    """Reject pending or approved grants with a reason the participant sees. A delivered
    grant cannot be rejected any more (409 `invalid_state` when it is the only one)."""
    text = " ".join(reason.split()) if isinstance(reason, str) else ""
    if not text or len(text) > MAX_REASON:
        message = str(_l("Please give a reason (at most %(n)d characters).", n=MAX_REASON))
        raise ValidationFailed(message, fields={"reason": message})
    ids = _check_ids(customer_id, grant_ids)
    table = RewardGrant.__table__
    now = utcnow()
    begin_write(db.session())
    rejected = [
        grant_id
        for grant_id in ids
        if db.session.execute(
            table.update()
            .where(table.c.id == grant_id, table.c.status.in_((GRANT_PENDING, GRANT_APPROVED)))
            .values(status=GRANT_REVOKED, revoked_at=now, reason_code=REJECTED, reason=text)
        ).rowcount
    ]
    db.session.commit()
    grant_events.emit_revoked(rejected)
    statuses = _statuses(ids)
    if len(ids) == 1 and statuses[ids[0]] == GRANT_DELIVERED:
        raise Conflict(
            str(_l("This reward was already delivered; it cannot be rejected.")),
            code="invalid_state",
        )
    return statuses


def _statuses(ids: list[int]) -> dict[int, str]:
    rows = db.session.execute(
        select(RewardGrant.id, RewardGrant.status).where(RewardGrant.id.in_(ids))
    )
    found = {grant_id: status for grant_id, status in rows}
    db.session.commit()
    return found
