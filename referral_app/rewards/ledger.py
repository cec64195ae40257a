"""Reward milestones and the earned-reward ledger.

A referral is a counted, non-suspicious conversion on a participant's code; a participant
earns every milestone of their customer whose threshold their referrals reach. The ledger
(`RewardGrant`) is derived data: `sync_ledger` recomputes it, so a referral later found
fraudulent takes its reward back (the grant is revoked as a clawback, never silently
deleted). Delivery after the hold is `fulfilment`'s job; the mail follows delivery.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from ..core.sqlutil import begin_write, insert_ignore, insert_returning_id
from ..extensions import db
from ..models import (
    CONFIRMED_STATUS,
    OutgoingMail,
    Participant,
    RewardGrant,
    RewardMilestone,
    utcnow,
)
from ..models.delivery import PENDING
from ..models.reward import (
    CLAWBACK,
    CODE,
    DOWNLOAD,
    GRANT_DELIVERED,
    GRANT_PENDING,
    GRANT_REVOKED,
    REJECTED,
)
from ..participants import mail as mail_service
from ..webhooks import events
from . import codes, grant_events, reward_view


def wanted_grants(
    referrals: dict[int, int] | None = None, customer_id: int | None = None
) -> set[tuple[int, int]]:
    """(participant_id, reward_id) pairs the referral counts earn. `referrals` overrides the
    participants' stored counters (the recount passes its own numbers); `customer_id` limits
    the work to one program."""
    milestones: dict[int, list[tuple[int, int]]] = {}
    reward_query = select(RewardMilestone)
    participant_query = select(
        Participant.id,
        Participant.customer_id,
        Participant.conversions,
        Participant.suspicious_conversions,
    )
    if customer_id is not None:
        reward_query = reward_query.where(RewardMilestone.customer_id == customer_id)
        participant_query = participant_query.where(Participant.customer_id == customer_id)
    for reward in db.session.scalars(reward_query):
        milestones.setdefault(reward.customer_id, []).append((reward.threshold, reward.id))
    wanted: set[tuple[int, int]] = set()
    rows = db.session.execute(participant_query)
    for pid, customer_id, conversions, suspicious in rows:
        count = referrals.get(pid, 0) if referrals is not None else conversions - suspicious
        for threshold, reward_id in milestones.get(customer_id, []):
            if count >= threshold:
                wanted.add((pid, reward_id))
    return wanted


_SETTINGS = (
    RewardMilestone.id,
    RewardMilestone.customer_id,
    RewardMilestone.hold_days,
    RewardMilestone.manual_approval,
    RewardMilestone.kind,
)


def _settings(customer_id: int | None) -> dict[int, Any]:
    query = select(*_SETTINGS)
    if customer_id is not None:
        query = query.where(RewardMilestone.customer_id == customer_id)
    return {row.id: row for row in db.session.execute(query)}


def sync_ledger(
    check: bool = False,
    referrals: dict[int, int] | None = None,
    customer_id: int | None = None,
) -> dict[str, Any]:
    """Make the ledger match the referrals: grant what is missing (pending for the
    milestone's hold), take back what is no longer earned (a clawback, at any stage). A
    grant the customer rejected stays rejected. With `check`, only count the differences.
    Commits unless `check`.

    Safe to run in two workers at once: new grants are inserted with insert-ignore under the
    unique (participant, reward) key and changes are conditional updates, so each grant is
    made (and announced) once."""
    wanted = wanted_grants(referrals, customer_id)
    grant_query = select(RewardGrant)
    if customer_id is not None:
        grant_query = grant_query.join(
            Participant, Participant.id == RewardGrant.participant_id
        ).where(Participant.customer_id == customer_id)
    grants = {(g.participant_id, g.reward_id): g for g in db.session.scalars(grant_query)}
    missing = [
        key
        for key in wanted
        if key not in grants
        or (grants[key].status == GRANT_REVOKED and grants[key].reason_code != REJECTED)
    ]
    extra = [g.id for key, g in grants.items() if key not in wanted and g.status != GRANT_REVOKED]
    if check:
        return {
            "differences": len(missing) + len(extra),
            "granted": len(missing),
            "revoked": len(extra),
        }
    now = utcnow()
    settings = _settings(customer_id)
    table = RewardGrant.__table__
    begin_write(db.session())
    earned, restored = [], []
    for key in missing:
        grant = grants.get(key)
        due = now + timedelta(days=settings[key[1]].hold_days or 0)
        if grant is None:
            if insert_grant(db.session, key[0], settings[key[1]], now):
                earned.append(key)
        elif db.session.execute(
            table.update()
            .where(table.c.id == grant.id, table.c.status == GRANT_REVOKED)
            .values(
                status=GRANT_PENDING,
                revoked_at=None,
                reason_code=None,
                reason=None,
                due_at=due,
                approved_at=None,
            )
        ).rowcount:
            restored.append(grant.id)
    revoked_ids = []
    for grant_id in extra:
        if db.session.execute(
            table.update()
            .where(table.c.id == grant_id, table.c.status != GRANT_REVOKED)
            .values(status=GRANT_REVOKED, revoked_at=now, reason_code=CLAWBACK, reason=None)
        ).rowcount:
            revoked_ids.append(grant_id)
    db.session.commit()
    announce(earned)
    grant_events.emit_pending(restored)
    grant_events.emit_revoked(revoked_ids)
    return {
        "differences": len(missing) + len(extra),
        "granted": len(earned) + len(restored),
        "revoked": len(revoked_ids),
    }


def insert_grant(session: Session, participant_id: int, milestone: Any, now: datetime) -> bool:
    """A new grant, in the caller's write transaction (insert-ignore: False when it exists).
    Pending for the milestone's hold; with no hold and no approval it is delivered at once,
    as rewards always were (a code reward takes its code now; with the bank empty, or a
    download's file missing, it stays pending, due, and the daily run tries again)."""
    at_once = not milestone.hold_days and not milestone.manual_approval
    if at_once and milestone.kind == DOWNLOAD:
        at_once = reward_view.has_file(milestone.customer_id, milestone.id)
    values = {
        "participant_id": participant_id,
        "reward_id": milestone.id,
        "status": GRANT_DELIVERED if at_once else GRANT_PENDING,
        "earned_at": now,
        "due_at": now + timedelta(days=milestone.hold_days or 0),
        "delivered_at": now if at_once else None,
    }
    table = RewardGrant.__table__
    if not insert_ignore(session, table, values):
        return False
    if at_once and milestone.kind == CODE:
        grant_id = session.scalar(
            select(table.c.id).where(
                table.c.participant_id == participant_id, table.c.reward_id == milestone.id
            )
        )
        if codes.take(session, milestone.id, grant_id, now) is None:
            session.execute(
                table.update()
                .where(table.c.id == grant_id)
                .values(status=GRANT_PENDING, delivered_at=None)
            )
    return True


def grant_on_referral(session: Session, participant_id: int) -> list[tuple[int, int]]:
    """Right after a counted conversion, in its transaction: grant every milestone the
    participant's referrals now reach (pending for the milestone's hold), so the hub shows
    it at once and the ledger never lags behind the counters (`stats rebuild --check`
    stays clean). Cheap when nothing is reached. Returns the new (participant, reward)
    pairs; pass them to `announce` after the commit. The daily job delivers and mails the
    rewards; `sync_ledger` stays the safety net."""
    row = session.execute(
        select(
            Participant.customer_id,
            Participant.conversions - Participant.suspicious_conversions,
        ).where(Participant.id == participant_id)
    ).one_or_none()
    if row is None:
        return []
    customer_id, referrals = row
    reached = session.execute(
        select(*_SETTINGS).where(
            RewardMilestone.customer_id == customer_id,
            RewardMilestone.threshold <= referrals,
            ~exists().where(
                RewardGrant.participant_id == participant_id,
                RewardGrant.reward_id == RewardMilestone.id,
            ),
        )
    ).all()
    earned = []
    now = utcnow()
    for milestone in reached:
        if insert_grant(session, participant_id, milestone, now):
            earned.append((participant_id, milestone.id))
    return earned


def announce(earned: list[tuple[int, int]]) -> None:
    """`reward.earned` for each new grant, after the commit."""
    if not earned:
        return
    people = {
        row.id: row
        for row in db.session.execute(
            select(Participant.id, Participant.customer_id, Participant.ref_code).where(
                Participant.id.in_({pid for pid, _reward in earned})
            )
        )
    }
    milestones = {
        m.id: m
        for m in db.session.scalars(
            select(RewardMilestone).where(RewardMilestone.id.in_({r for _pid, r in earned}))
        )
    }
    for pid, reward_id in earned:
        person, milestone = people.get(pid), milestones.get(reward_id)
        if person is None or milestone is None:
            continue
        events.emit(
            person.customer_id,
            "reward.earned",
            {
                "participant_id": pid,
                "reward_id": reward_id,
                "tier": milestone.tier,
                "title": milestone.title,
                "threshold": milestone.threshold,
            },
            person.ref_code,
        )
    pending, delivered = [], []
    for pid, reward_id in earned:
        for grant_id, status in db.session.execute(
            select(RewardGrant.id, RewardGrant.status).where(
                RewardGrant.participant_id == pid, RewardGrant.reward_id == reward_id
            )
        ):
            (delivered if status == GRANT_DELIVERED else pending).append(grant_id)
    grant_events.emit_pending(pending)
    grant_events.emit_delivered(delivered, codes.code_of_grants(delivered))


def queue_reward_mails() -> int:
    """One reward mail per delivered grant, exactly once: the outbox's unique
    `reward_grant_id` lets only one of any number of concurrent runs insert it, and a
    revoked grant or one already mailed is skipped. Grants of people who are not
    confirmed (pending, unsubscribed) wait. Returns the number of mails queued."""

    due = db.session.execute(
        select(RewardGrant.id, Participant.id, Participant.customer_id)
        .join(Participant, Participant.id == RewardGrant.participant_id)
        .where(
            RewardGrant.status == GRANT_DELIVERED,
            RewardGrant.mail_sent_at.is_(None),
            Participant.status == CONFIRMED_STATUS,
            ~exists().where(OutgoingMail.reward_grant_id == RewardGrant.id),
        )
        .order_by(RewardGrant.id)
    ).all()
    return sum(queue_reward_mail(*row) for row in due)


def queue_reward_mail(grant_id: int, participant_id: int, customer_id: int) -> int:
    """The reward mail of one delivered grant (at most one, by the outbox's unique key);
    1 when this call queued it."""
    begin_write(db.session())
    mail_id = insert_returning_id(
        db.session,
        OutgoingMail.__table__,
        {
            "customer_id": customer_id,
            "participant_id": participant_id,
            "kind": mail_service.REWARD,
            "reward_grant_id": grant_id,
            "status": PENDING,
            "attempts": 0,
            "created_at": utcnow(),
        },
        ignore_conflict=True,
    )
    db.session.commit()
    if mail_id is None:
        return 0
    mail_service.dispatch(mail_id)
    return 1
